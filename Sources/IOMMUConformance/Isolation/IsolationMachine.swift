import IOMMUReference
import IOMMUSpec
import PropertyCheck

/// Watches an implementation from inside its operations: at every checkpoint it DMAs from
/// the devices the operation may change (every device of a small topology; of a large one,
/// those of the group operated on), untagged and with each probed PASID, and checks the safety
/// rules that must hold at every instant, not only between operations:
/// - a group no user owns reaches no user domain;
/// - a group a user owns reaches neither the kernel's domain nor another context's domain;
/// - nothing bypasses translation unless the policy says detached means bypass.
final class IsolationMonitor {
    let topology: Topology
    /// Untagged, then each probed PASID (Topology.probedPASIDs), computed once per case.
    let pasids: [UInt32?]
    /// The groups checkpoints probe: nil is every group.
    var focus: [Int]? {
        didSet { batched?.checkpointFocus = focus }
    }
    /// Held strongly: the system's checkpoint closure holds this monitor unowned, so there is
    /// no cycle, and a weak reference would slow every retain of the system (a side table).
    var system: (any IsolationSystem)? {
        didSet { batched = system as? BatchedIsolationProbes }
    }
    /// The system's batched form, where it has one (a plug-in in a worker process).
    private(set) var batched: (any BatchedIsolationProbes)?
    private(set) var violation: String?
    var checkpoints = 0

    init(topology: Topology) {
        self.topology = topology
        pasids = [nil] + topology.probedPASIDs.map { Optional($0) }
    }

    func reset() {
        violation = nil
        checkpoints = 0
    }

    func checkpoint() {
        checkpoints += 1
        guard violation == nil, let system else { return }
        violation = Self.safetyViolation(IsolationView(system, batched, topology, pasids, groups: focus), topology, pasids, groups: focus)
    }

    /// The groups an operation may change, where probing every group at every checkpoint of a
    /// large topology would cost more than the case (the step's end still probes all).
    static func focus(of operation: IsolationOperation, _ topology: Topology) -> [Int]? {
        guard topology.deviceCount > 8 else { return nil }
        return group(of: operation, topology).map { [$0] } ?? []
    }

    /// The group an operation names, directly or through its device (nil: none that exists).
    static func group(of operation: IsolationOperation, _ topology: Topology) -> Int? {
        let group: Int
        switch operation {
        case .claim(_, let g), .release(_, let g), .attach(_, let g, _), .detach(_, let g): group = g
        case .bind(let device, _), .attachPASID(_, let device, _, _), .detachPASID(_, let device, _), .dma(let device, _, _, _),
             .claimDevice(_, let device), .releaseDevice(_, let device), .attachDevice(_, let device, _), .detachDevice(_, let device):
            guard device >= 0 && device < topology.deviceCount else { return nil }
            group = topology.groupOfDevice[device]
        }
        return topology.groups.indices.contains(group) ? group : nil
    }

    static func safetyViolation(_ view: IsolationView, _ topology: Topology, _ pasids: [UInt32?], groups: [Int]? = nil) -> String? {
        let policy = topology.policy, owners = topology.domainOwners
        for group in groups ?? Array(topology.groups.indices) {
            let owner = view.owner(of: group)
            for device in topology.groups[group] {
                for (pasidIndex, pasid) in pasids.enumerated() {
                    var tag: String { pasid.map { " with pasid \($0)" } ?? "" }
                    switch view.dma(device: device, pasidIndex: pasidIndex, access: .read) {
                    case .reached(let domain, _):
                        guard owners.indices.contains(domain) else {
                            return "DMA from d\(device)\(tag) reaches D\(domain), which does not exist"
                        }
                        guard let owner else {
                            return "g\(group) is not user-owned, yet DMA from d\(device)\(tag) reaches D\(domain) of context c\(owners[domain])"
                        }
                        if owners[domain] != owner {
                            return "g\(group) belongs to c\(owner), yet DMA from d\(device)\(tag) reaches D\(domain) of c\(owners[domain])"
                        }
                    case .kernelDomain:
                        if let owner { return "g\(group) belongs to c\(owner), yet DMA from d\(device)\(tag) still reaches the kernel's default domain" }
                    case .bypass:
                        guard let owner else { return "g\(group) is not user-owned, yet DMA from d\(device)\(tag) bypasses translation" }
                        if policy.detached != .bypass {
                            return "g\(group) belongs to c\(owner), yet DMA from d\(device)\(tag) bypasses translation; under \(policy) a detached group is blocked"
                        }
                    case .blocked, .noDomain, .faulted:
                        break
                    }
                }
            }
        }
        return nil
    }
}

/// The address every DMA probe of a device targets.
enum IsolationProbe {
    static let iova: UInt64 = 0x10000
    /// Read, then write: the order of a batch's answers.
    static let accesses: [Access] = [.read, .write]
}

/// Implemented by systems for which one call per probe is costly (a plug-in in a worker: one
/// round trip each); the checker then asks for all probes and owners at once.
protocol BatchedIsolationProbes: AnyObject {
    /// The groups the monitor probes at the checkpoints of the next operation (nil: every group).
    var checkpointFocus: [Int]? { get set }
    /// DMA from each of `devices`, for each of `pasids` (untagged first), reading and writing,
    /// in that order.
    func dma(devices: [Int], pasids: [UInt32?]) -> [DMAOutcome]
    func owners(groups: Int) -> [Int?]
}

/// Owners and DMA outcomes of the devices of some groups (untagged and with each probed PASID,
/// read and write), asked once: directly of an in-process system, in one batch of a batched one.
struct IsolationView {
    private let system: any IsolationSystem
    private let owners: [Int?]?
    /// The batch's outcomes by device, then PASID (untagged first), then access.
    private let outcomes: [DMAOutcome]
    /// Where each device's outcomes start in `outcomes` (-1: not asked); nil when every device
    /// was asked, in order.
    private let offsets: [Int]?
    private let pasids: [UInt32?]

    /// With `eager`, an in-process system is asked every probe once, up front, as a batched
    /// one is (the state comparison reads each probe twice); otherwise it is asked as read.
    init(_ system: any IsolationSystem, _ batched: (any BatchedIsolationProbes)?, _ topology: Topology, _ pasids: [UInt32?], groups: [Int]? = nil, eager: Bool = false) {
        self.system = system
        self.pasids = pasids
        guard batched != nil || eager else {
            (owners, outcomes, offsets) = (nil, [], nil)
            return
        }
        let devices = Self.devices(of: groups, topology)
        let perDevice = pasids.count * IsolationProbe.accesses.count
        let answers: [DMAOutcome]
        if let batched {
            owners = batched.owners(groups: topology.groups.count)
            answers = batched.dma(devices: devices, pasids: pasids)
        } else {
            owners = topology.groups.indices.map { system.owner(of: $0) }
            var asked: [DMAOutcome] = []
            asked.reserveCapacity(devices.count * perDevice)
            for device in devices {
                for pasid in pasids {
                    for access in IsolationProbe.accesses { asked.append(system.dma(device: device, pasid: pasid, iova: IsolationProbe.iova, access: access)) }
                }
            }
            answers = asked
        }
        outcomes = answers.count == devices.count * perDevice ? answers : Array(repeating: .noDomain, count: devices.count * perDevice)
        guard groups != nil else {
            offsets = nil
            return
        }
        var offsets = Array(repeating: -1, count: topology.deviceCount)
        for (index, device) in devices.enumerated() where offsets.indices.contains(device) { offsets[device] = index * perDevice }
        self.offsets = offsets
    }

    /// The devices of `groups`, ascending (nil: every device). Ascending, not in each group's
    /// order, so a worker that rebuilt the topology lists them alike.
    static func devices(of groups: [Int]?, _ topology: Topology) -> [Int] {
        groups.map { $0.flatMap { topology.groups[$0] }.sorted() } ?? Array(0..<topology.deviceCount)
    }

    func owner(of group: Int) -> Int? {
        guard let owners else { return system.owner(of: group) }
        return group < owners.count ? owners[group] : nil
    }

    /// DMA from `device` tagged with `pasids[pasidIndex]`.
    func dma(device: Int, pasidIndex: Int, access: Access) -> DMAOutcome {
        guard owners != nil else { return system.dma(device: device, pasid: pasids[pasidIndex], iova: IsolationProbe.iova, access: access) }
        let within = pasidIndex * IsolationProbe.accesses.count + (access == .read ? 0 : 1)
        guard let offsets else {
            let index = device * pasids.count * IsolationProbe.accesses.count + within
            return outcomes.indices.contains(index) ? outcomes[index] : .noDomain
        }
        guard offsets.indices.contains(device), offsets[device] >= 0 else { return .noDomain }
        return outcomes[offsets[device] + within]
    }
}

/// The differential runner for Isolation: every operation judged against the model, the safety
/// rules checked at every checkpoint inside the implementation, and after every step the owner
/// of every group and the DMA outcome of every device (untagged and per PASID) compared.
struct IsolationMachine: DifferentialMachine {
    typealias Command = IsolationOperation
    static let commandKinds = IsolationOperation.kindNames
    /// claim and attach, of groups or devices: without them no group is ever owned or attached.
    static let foundationalKinds = [1, 3, 8, 10]

    let model: IsolationModel
    /// The model's, kept here so that a step reads it in place (a class's property is copied,
    /// arrays and all, each time it is passed on).
    let topology: Topology
    /// The model's answer to every state probe, kept between steps.
    let expected: ExpectedProbes
    let implementation: any IsolationSystem
    /// The user's own invariant of the implementation (`IsolationCheck.invariant`).
    var invariant: ((any IsolationSystem) -> String?)?
    /// A plug-in's contract violations, asked after every step.
    let foreign: ForeignFailures
    let monitor: IsolationMonitor
    let generator: IsolationGenerator
    /// Called with every operation and the outcome the implementation gave (run --emit-trace).
    var record: ((IsolationOperation, IsolationOutcome) -> Void)?

    mutating func record(into recorder: TraceRecorder<IsolationTrace>) {
        record = { operation, outcome in recorder.trace?.steps.append(.init(line: 0, operation: operation, outcome: outcome)) }
    }

    init(topology: Topology, monitor: IsolationMonitor, implementation: any IsolationSystem) {
        model = IsolationModel(topology: topology)
        self.topology = topology
        expected = ExpectedProbes(model, pasids: monitor.pasids)
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
        monitor.focus = IsolationMonitor.focus(of: operation, topology)
        let actual = operation.apply(to: implementation)
        if let failure = foreign.take() { return .disagreed(message: "\(operation): \(failure)") }
        record?(operation, actual)
        if let violation = monitor.violation {
            return .disagreed(message: "\(operation), at checkpoint \(monitor.checkpoints): \(violation)")
        }
        let (expected, problem) = IsolationJudge(model: model).judge(operation, actual: actual)
        if let problem { return .disagreed(message: "\(operation): \(problem)") }
        if let group = IsolationMonitor.group(of: operation, topology) { self.expected.refresh(model, group: group) }
        if let problem = compareState() { return .disagreed(message: "after \(operation) -> \(expected): \(foreign.take() ?? problem)") }
        return .agreed(outcome: expected.label, accepted: expected.isSuccess)
    }

    /// Owners of every group, and DMA from every device untagged and with each probed PASID.
    private func compareState() -> String? {
        let view = IsolationView(implementation, monitor.batched, topology, monitor.pasids, eager: true)
        // DMA first: a difference it shows goes into an emitted trace; an owner alone cannot.
        var index = 0
        for device in 0..<topology.deviceCount {
            for (pasidIndex, pasid) in monitor.pasids.enumerated() {
                for access in IsolationProbe.accesses {
                    let expected = self.expected.outcomes[index]
                    index += 1
                    let actual = view.dma(device: device, pasidIndex: pasidIndex, access: access)
                    if expected != actual {
                        if foreign.pending { return "the answer to a probe was not the plug-in's" }
                        // The probe that exposed it goes into an emitted trace, so 'verify' sees it.
                        record?(.dma(device: device, pasid: pasid, iova: IsolationProbe.iova, access: access), .dma(actual))
                        return "dma(d\(device)\(pasid.map { ", pasid \($0)" } ?? ""), 0x10000, \(access)): model \(expected), implementation \(actual)"
                    }
                }
            }
        }
        for group in topology.groups.indices where model.owner(of: group) != view.owner(of: group) {
            return "owner of g\(group): model \(describe(model.owner(of: group))), implementation \(describe(view.owner(of: group)))"
        }
        // Every probe and owner equals the model's, so the implementation is exactly as safe as
        // the model, which keeps the safety rules by construction; debug builds (the test
        // suite) check the rules here all the same.
        #if DEBUG
        return IsolationMonitor.safetyViolation(view, topology, monitor.pasids)
        #else
        return nil
        #endif
    }

    /// The plug-in's `destroy`, at the end of the case: a crash there fails the case.
    func finish() -> String? { foreign.close() }

    private func describe(_ owner: Int?) -> String { owner.map { "c\($0)" } ?? "kernel" }

    func checkInvariants() -> String? { invariant?(implementation) }

    func describe(_ command: IsolationOperation) -> String { command.description }
}

/// The model's answer to every state probe (DMA from each device, untagged and with each probed
/// PASID, read and write, in `IsolationView`'s order), kept between steps. In the model a
/// device's DMA outcome depends only on its group's state, and an operation changes only the
/// group it names (`IsolationModel`: every change is to `groups[g]` or to `claimedBy` of a
/// device of g, or to a driver, which DMA does not read), so after a step only that group's
/// rows are asked again.
final class ExpectedProbes {
    // Unchecked exclusivity: one case, one thread; the runtime check cost more than the reads.
    @exclusivity(unchecked) private(set) var outcomes: [DMAOutcome]
    private let pasids: [UInt32?]

    init(_ model: IsolationModel, pasids: [UInt32?]) {
        self.pasids = pasids
        outcomes = Array(repeating: .noDomain, count: model.topology.deviceCount * pasids.count * IsolationProbe.accesses.count)
        for device in 0..<model.topology.deviceCount { ask(model, device) }
    }

    func refresh(_ model: IsolationModel, group: Int) {
        for device in model.topology.groups[group] { ask(model, device) }
        // Debug builds (the test suite) hold the claim this rests on: asked afresh, every row agrees.
        assert(outcomes == ExpectedProbes(model, pasids: pasids).outcomes, "an operation on g\(group) changed another group's DMA in the model")
    }

    private func ask(_ model: IsolationModel, _ device: Int) {
        var index = device * pasids.count * IsolationProbe.accesses.count
        for pasid in pasids {
            for access in IsolationProbe.accesses {
                outcomes[index] = model.dma(device: device, pasid: pasid, iova: IsolationProbe.iova, access: access)
                index += 1
            }
        }
    }
}
