import IOMMUReference
import IOMMUSpec
import PropertyCheck

/// The differential runner for Shadow: one guest, two layers each over its own host (the
/// reference model's and the implementation's). Every resync of the implementation is watched
/// call by call by `ShadowMonitor`; after every step both hosts must translate alike.
struct ShadowMachine: StateMachine {
    typealias Command = ShadowOperation
    static let commandKinds = ShadowOperation.kindNames
    /// guest writes and invalidations: without them nothing is ever shadowed.
    static let foundationalKinds = [0, 4]

    let configuration: ShadowConfiguration
    let guest: GuestIOMMU
    let referenceHost: ShadowHost
    let reference: ShadowModel
    let host: ShadowHost
    let implementation: any ShadowSystem
    /// A plug-in's contract violations, asked after every step.
    let foreign: ForeignFailures
    let monitor: ShadowMonitor
    let generator: ShadowGenerator
    /// Called with every operation and, for an invalidation, the host calls the implementation
    /// made (run --emit-trace).
    var record: ((ShadowOperation, [ShadowHost.Call]?) -> Void)?

    init(configuration: ShadowConfiguration, guest: GuestIOMMU, host: ShadowHost, implementation: any ShadowSystem) {
        self.configuration = configuration
        self.guest = guest
        referenceHost = ShadowHost(configuration: configuration) { AddressSpaceModel(configuration: $0) }
        reference = ShadowModel(guest: guest, host: referenceHost)
        self.host = host
        self.implementation = implementation
        foreign = ForeignFailures(implementation)
        monitor = ShadowMonitor(configuration: configuration, host: host)
        generator = ShadowGenerator(configuration: configuration)
    }

    func drawCommand(_ stream: ChoiceStream, enabled: KindSet) -> ShadowOperation {
        generator.draw(stream, enabled: enabled, guest: guest)
    }

    func kind(of command: ShadowOperation) -> Int { command.kind }

    func step(_ operation: ShadowOperation) -> StepResult {
        switch operation {
        case .invalidate(let invalidation, let dma):
            var calls: [ShadowHost.Call] = []
            let problem = Self.resync(invalidation, dma: dma, implementation: implementation, host: host, monitor: monitor, guest: guest,
                                      recordCall: record == nil ? nil : { calls.append($0) })
            record?(operation, calls)
            if let problem = problem ?? foreign.take() {
                return .disagreed(message: "\(operation): \(problem)")
            }
            reference.invalidate(invalidation)
            for domain in 0..<configuration.domains {
                let expected = Self.everything(referenceHost, domain), actual = Self.everything(host, domain)
                if expected != actual {
                    return .disagreed(message: "after \(operation): D\(domain) maps \(actual), the reference layer's host maps \(expected)")
                }
            }
            return .agreed(outcome: "ok", accepted: true)
        case .dma(let domain, let iova, let access):
            record?(operation, nil)
            let expected = referenceHost.translate(domain: domain, iova: iova, access: access)
            let actual = host.translate(domain: domain, iova: iova, access: access)
            if !ShadowMonitor.same(expected, actual) {
                return .disagreed(message: "\(operation): the reference layer's host gives \(ShadowMonitor.text(expected)), the implementation's \(ShadowMonitor.text(actual))")
            }
            if case .success = expected { return .agreed(outcome: "ok", accepted: true) }
            if case .failure(let fault) = expected { return .agreed(outcome: fault.rawValue, accepted: false) }
            return .agreed(outcome: "ok", accepted: true)
        default:
            record?(operation, nil)
            operation.applyToGuest(guest)
            return .agreed(outcome: "ok", accepted: true)
        }
    }

    /// Runs one invalidation on `implementation` under the monitor; returns the first problem.
    static func resync(_ invalidation: Invalidation, dma: [ShadowOperation.ScheduledDMA], implementation: any ShadowSystem,
                       host: ShadowHost, monitor: ShadowMonitor, guest: GuestIOMMU, recordCall: ((ShadowHost.Call) -> Void)? = nil) -> String? {
        monitor.begin(invalidation, guest: guest, dma: dma)
        host.onCall = { [unowned monitor] call, done in
            if done { recordCall?(call) }
            monitor.observe(call, done: done)
        }
        implementation.invalidate(invalidation)
        host.onCall = nil
        return monitor.finish()
    }

    static func everything(_ host: ShadowHost, _ domain: Int) -> [Extent] {
        ShadowModel.normalized(host.domains[domain].mappings(in: 0...UInt64.max))
    }

    func describe(_ command: ShadowOperation) -> String { command.description }
}
