import IOMMUReference
import IOMMUSpec
import PropertyCheck

/// The runner for Shadow: one guest, the implementation over the checker's host. Every resync
/// is watched call by call by `ShadowMonitor`, which knows what the host may map at every
/// step and at the end; a `dma` step is a probe of what a device sees.
struct ShadowMachine: DifferentialMachine {
    typealias Command = ShadowOperation
    static let commandKinds = ShadowOperation.kindNames
    /// guest writes and invalidations: without them nothing is ever shadowed.
    static let foundationalKinds = [0, 4]

    let configuration: ShadowConfiguration
    let guest: GuestIOMMU
    let host: ShadowHost
    let implementation: any ShadowSystem
    /// The user's own invariant of the implementation (`ShadowCheck.invariant`).
    var invariant: ((any ShadowSystem) -> String?)?
    /// A plug-in's contract violations, asked after every step.
    let foreign: ForeignFailures
    let monitor: ShadowMonitor
    let generator: ShadowGenerator
    /// Called with every operation and, for an invalidation, the host calls the implementation
    /// made and what it answered (run --emit-trace).
    var record: ((ShadowOperation, [ShadowHost.Call]?, ShadowResult?) -> Void)?

    mutating func record(into recorder: TraceRecorder<ShadowTrace>) {
        record = { operation, calls, result in recorder.trace?.steps.append(.init(line: 0, operation: operation, calls: calls, result: result, host: nil)) }
    }

    init(configuration: ShadowConfiguration, guest: GuestIOMMU, host: ShadowHost, implementation: any ShadowSystem) {
        self.configuration = configuration
        self.guest = guest
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
            let (problem, result) = Self.resync(invalidation, dma: dma, implementation: implementation, host: host, monitor: monitor, guest: guest,
                                                recordCall: record == nil ? nil : { calls.append($0) })
            if let failure = foreign.take() { return .disagreed(message: "\(operation): \(failure)") }
            record?(operation, calls, result)
            if let problem {
                return .disagreed(message: "\(operation): \(problem)")
            }
            return .agreed(outcome: result == .done ? "ok" : result.rawValue, accepted: result == .done)
        case .dma(let domain, let iova, let access):
            record?(operation, nil, nil)
            switch host.translate(domain: domain, iova: iova, access: access) {
            case .success: return .agreed(outcome: "ok", accepted: true)
            case .failure(let fault): return .agreed(outcome: fault.rawValue, accepted: false)
            }
        default:
            record?(operation, nil, nil)
            operation.applyToGuest(guest)
            return .agreed(outcome: "ok", accepted: true)
        }
    }

    /// Runs one invalidation on `implementation` under the monitor; returns the first problem
    /// and what the implementation answered.
    static func resync(_ invalidation: Invalidation, dma: [ShadowOperation.ScheduledDMA], implementation: any ShadowSystem,
                       host: ShadowHost, monitor: ShadowMonitor, guest: GuestIOMMU, recordCall: ((ShadowHost.Call) -> Void)? = nil) -> (String?, ShadowResult) {
        monitor.begin(invalidation, guest: guest, dma: dma)
        host.onCall = { [unowned monitor] call, done, error in
            if done { recordCall?(call) }
            monitor.observe(call, done: done, error: error)
        }
        let result = implementation.invalidate(invalidation)
        host.onCall = nil
        return (monitor.finish(result), result)
    }

    static func everything(_ host: ShadowHost, _ domain: Int) -> [Extent] {
        ShadowModel.normalized(host.domains[domain].mappings(in: 0...UInt64.max))
    }

    func checkInvariants() -> String? { invariant?(implementation) }

    func describe(_ command: ShadowOperation) -> String { command.description }

    /// The plug-in's `destroy`, at the end of the case: a crash there fails the case.
    func finish() -> String? { foreign.close() }
}
