import IOMMUReference
import IOMMUSpec
import PropertyCheck

/// Watches an implementation from inside its operations: at every checkpoint it DMAs from
/// every device (untagged and with each probed PASID) and checks the safety rules that must
/// hold at every instant, not only between operations:
/// - a group no user owns reaches no user domain;
/// - a group a user owns reaches neither the kernel's domain nor another context's domain.
final class IsolationMonitor {
    let topology: Topology
    weak var system: (any IsolationSystem)? {
        didSet { batched = system as? BatchedIsolationProbes }
    }
    /// The system's batched form, where it has one (a plug-in in a worker process).
    private(set) weak var batched: (any BatchedIsolationProbes)?
    private(set) var violation: String?
    var checkpoints = 0

    init(topology: Topology) { self.topology = topology }

    func reset() {
        violation = nil
        checkpoints = 0
    }

    func checkpoint() {
        checkpoints += 1
        guard violation == nil, let system else { return }
        violation = Self.safetyViolation(IsolationView(system, batched, topology), topology)
    }

    static func safetyViolation(_ view: IsolationView, _ topology: Topology) -> String? {
        for (group, devices) in topology.groups.enumerated() {
            let owner = view.owner(of: group)
            for device in devices {
                for pasid in [nil] + IsolationGenerator.probedPASIDs {
                    let tag = pasid.map { " with pasid \($0)" } ?? ""
                    switch view.dma(device: device, pasid: pasid, access: .read) {
                    case .reached(let domain, _):
                        guard topology.domainOwners.indices.contains(domain) else {
                            return "DMA from d\(device)\(tag) reaches D\(domain), which does not exist"
                        }
                        guard let owner else {
                            return "g\(group) is not user-owned, yet DMA from d\(device)\(tag) reaches D\(domain) of context c\(topology.domainOwners[domain])"
                        }
                        if topology.domainOwners[domain] != owner {
                            return "g\(group) belongs to c\(owner), yet DMA from d\(device)\(tag) reaches D\(domain) of c\(topology.domainOwners[domain])"
                        }
                    case .kernelDomain:
                        if let owner { return "g\(group) belongs to c\(owner), yet DMA from d\(device)\(tag) still reaches the kernel's default domain" }
                    case .blocked, .noDomain, .faulted:
                        break
                    }
                }
            }
        }
        return nil
    }
}

/// One DMA the checker makes to see where a device's traffic goes.
struct IsolationProbe {
    let device: Int
    let pasid: UInt32?
    let access: Access
    static let iova: UInt64 = 0x10000
}

/// Implemented by systems for which one call per probe is costly (a plug-in in a worker: one
/// pipe round trip each); the checker then asks for all probes and owners at once.
protocol BatchedIsolationProbes: AnyObject {
    func dma(_ probes: [IsolationProbe]) -> [DMAOutcome]
    func owners(groups: Int) -> [Int?]
}

/// Owners and DMA outcomes of every device (untagged and with each probed PASID, read and
/// write), asked once: directly of an in-process system, in two round trips of a batched one.
struct IsolationView {
    private let system: any IsolationSystem
    private let owners: [Int?]?
    private let outcomes: [DMAOutcome]?
    private static let pasids: [UInt32?] = [nil] + IsolationGenerator.probedPASIDs

    init(_ system: any IsolationSystem, _ batched: (any BatchedIsolationProbes)?, _ topology: Topology) {
        self.system = system
        if let batched {
            owners = batched.owners(groups: topology.groups.count)
            outcomes = batched.dma(Self.probes(devices: topology.deviceCount))
        } else {
            owners = nil
            outcomes = nil
        }
    }

    static func probes(devices: Int) -> [IsolationProbe] {
        (0..<devices).flatMap { device in pasids.flatMap { pasid in Access.allCases.map { IsolationProbe(device: device, pasid: pasid, access: $0) } } }
    }

    func owner(of group: Int) -> Int? {
        guard let owners else { return system.owner(of: group) }
        return group < owners.count ? owners[group] : nil
    }

    func dma(device: Int, pasid: UInt32?, access: Access) -> DMAOutcome {
        guard let outcomes else { return system.dma(device: device, pasid: pasid, iova: IsolationProbe.iova, access: access) }
        let pasidIndex = Self.pasids.firstIndex(of: pasid) ?? 0, accessIndex = Access.allCases.firstIndex(of: access) ?? 0
        let index = (device * Self.pasids.count + pasidIndex) * Access.allCases.count + accessIndex
        return index < outcomes.count ? outcomes[index] : .noDomain
    }
}

/// The differential runner for Isolation: every operation judged against the model, the safety
/// rules checked at every checkpoint inside the implementation, and after every step the owner
/// of every group and the DMA outcome of every device (untagged and per PASID) compared.
struct IsolationMachine: StateMachine {
    typealias Command = IsolationOperation
    static let commandKinds = IsolationOperation.kindNames
    /// claim and attach: without them no group is ever owned or attached.
    static let foundationalKinds = [1, 3]

    let model: IsolationModel
    let implementation: any IsolationSystem
    /// A plug-in's contract violations, asked after every step.
    let foreign: ForeignFailures
    let monitor: IsolationMonitor
    let generator: IsolationGenerator
    /// Called with every operation and the outcome the implementation gave (run --emit-trace).
    var record: ((IsolationOperation, IsolationOutcome) -> Void)?

    init(topology: Topology, monitor: IsolationMonitor, implementation: any IsolationSystem) {
        model = IsolationModel(topology: topology)
        self.implementation = implementation
        foreign = ForeignFailures(implementation)
        self.monitor = monitor
        generator = IsolationGenerator(topology: topology)
    }

    func drawCommand(_ stream: ChoiceStream, enabled: KindSet) -> IsolationOperation {
        generator.draw(stream, enabled: enabled, model: model)
    }

    func kind(of command: IsolationOperation) -> Int { command.kind }

    func step(_ operation: IsolationOperation) -> StepResult {
        monitor.reset()
        let actual = operation.apply(to: implementation)
        if let failure = foreign.take() { return .disagreed(message: "\(operation): \(failure)") }
        record?(operation, actual)
        if let violation = monitor.violation {
            return .disagreed(message: "\(operation), at checkpoint \(monitor.checkpoints): \(violation)")
        }
        let (expected, problem) = IsolationJudge(model: model).judge(operation, actual: actual)
        if let problem { return .disagreed(message: "\(operation): \(problem)") }
        if let problem = compareState() ?? foreign.take() { return .disagreed(message: "after \(operation) -> \(expected): \(problem)") }
        return .agreed(outcome: expected.label, accepted: expected.isSuccess)
    }

    /// Owners of every group, and DMA from every device untagged and with each probed PASID.
    private func compareState() -> String? {
        let topology = model.topology
        let view = IsolationView(implementation, monitor.batched, topology)
        for group in topology.groups.indices where model.owner(of: group) != view.owner(of: group) {
            return "owner of g\(group): model \(describe(model.owner(of: group))), implementation \(describe(view.owner(of: group)))"
        }
        for device in 0..<topology.deviceCount {
            for pasid in [nil] + IsolationGenerator.probedPASIDs {
                for access in Access.allCases {
                    let expected = model.dma(device: device, pasid: pasid, iova: 0x10000, access: access)
                    let actual = view.dma(device: device, pasid: pasid, access: access)
                    if expected != actual {
                        // The probe that exposed it goes into an emitted trace, so 'verify' sees it.
                        record?(.dma(device: device, pasid: pasid, iova: 0x10000, access: access), .dma(actual))
                        return "dma(d\(device)\(pasid.map { ", pasid \($0)" } ?? ""), 0x10000, \(access)): model \(expected), implementation \(actual)"
                    }
                }
            }
        }
        return IsolationMonitor.safetyViolation(view, topology)
    }

    private func describe(_ owner: Int?) -> String { owner.map { "c\($0)" } ?? "kernel" }

    func describe(_ command: IsolationOperation) -> String { command.description }
}
