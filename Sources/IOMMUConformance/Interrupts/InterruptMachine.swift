import IOMMUReference
import IOMMUSpec
import PropertyCheck

/// The differential runner for Interrupts: the implementation programs the checker's host and
/// delivers through it; the model is the ideal VMM. After every step the interrupts delivered
/// during it (vector and message) and the guest-visible pending bits must be equal: every raise
/// delivered exactly once, immediately or on unmask, none invented, none lost in a reallocation.
struct InterruptMachine: DifferentialMachine {
    typealias Command = InterruptOperation
    static let commandKinds = InterruptOperation.kindNames
    /// enable, vector mask and raise: without them no interrupt is ever delivered.
    static let foundationalKinds = [0, 3, 5]

    let model: InterruptModel
    let host: InterruptHost
    let implementation: any InterruptSystem
    /// The user's own invariant of the implementation (`InterruptCheck.invariant`).
    var invariant: ((any InterruptSystem) -> String?)?
    /// A plug-in's contract violations, asked after every step.
    let foreign: ForeignFailures
    /// Cast once per case: a plug-in in a worker takes each step whole.
    let mirrored: (any MirroredInterrupts)?
    let generator: InterruptGenerator
    /// Called with every operation and what the implementation delivered and left pending
    /// (run --emit-trace).
    var record: ((InterruptOperation, InterruptTrace.Outcome) -> Void)?

    mutating func record(into recorder: TraceRecorder<InterruptTrace>) {
        record = { operation, outcome in recorder.trace?.steps.append(.init(line: 0, operation: operation, outcome: outcome)) }
    }

    init(configuration: InterruptConfiguration, host: InterruptHost, implementation: any InterruptSystem) {
        model = InterruptModel(configuration: configuration)
        self.host = host
        self.implementation = implementation
        foreign = ForeignFailures(implementation)
        mirrored = implementation as? MirroredInterrupts
        generator = InterruptGenerator(configuration: configuration)
    }

    func drawCommand(_ stream: ChoiceStream, enabled: KindSet) -> InterruptOperation {
        generator.draw(stream, enabled: enabled, model: model)
    }

    func kind(of command: InterruptOperation) -> Int { command.kind }

    func step(_ operation: InterruptOperation) -> StepResult {
        let implementationBefore = host.deliveries.count, modelBefore = model.deliveries.count
        let outcome = Self.perform(operation, on: implementation, mirrored, host: host, model: model)
        if let failure = foreign.take() { return .disagreed(message: "\(operation): \(failure)") }
        let expected = Array(model.deliveries[modelBefore...])
        let actual = Array(host.deliveries[implementationBefore...])
        let expectedPending = model.pending, actualPending = implementation.pendingBits()
        if let failure = foreign.take() { return .disagreed(message: "after \(operation): \(failure)") }
        record?(operation, InterruptTrace.Outcome(delivered: actual, pending: actualPending))
        if let problem = InterruptModel.judge(expected: expected, actual: actual) {
            return .disagreed(message: "\(operation): \(problem)")
        }
        if expectedPending != actualPending {
            return .disagreed(message: "after \(operation): pending bits: model \(hex(expectedPending)), implementation \(hex(actualPending))")
        }
        return .agreed(outcome: outcome, accepted: outcome != "rejected" && outcome != "prohibited")
    }

    /// Applies a guest write to an implementation, with its scheduled raises, through the host,
    /// and to the model: the write first, then the raises the device may make in the state after
    /// it (none, for a passed-through device with MSI-X disabled). Returns the raise's fate for
    /// a raise, else "ok". A mirrored implementation runs the whole step in its worker, where
    /// the host's copy makes the raises, and replays them here.
    @discardableResult
    static func perform(_ operation: InterruptOperation, on system: any InterruptSystem, _ mirrored: (any MirroredInterrupts)?, host: InterruptHost, model: InterruptModel) -> String {
        model.applyWrite(operation)
        let raises = model.mayRaise ? operation.injections : []
        var outcome = "ok"
        if case .raise(let vector, let pasid) = operation { outcome = model.raise(vector: vector, pasid: pasid).rawValue }
        if let mirrored {
            mirrored.perform(operation, raiseNow: outcome != "prohibited", raises: raises)
        } else {
            host.during(raises) { write(operation, to: system, host: host, raiseNow: outcome != "prohibited") }
        }
        for injection in raises.sorted(by: { $0.afterCall < $1.afterCall }) { model.raise(vector: injection.vector, pasid: injection.pasid) }
        return outcome
    }

    /// The guest write itself, or the device's raise when `raiseNow`: what runs between the
    /// scheduled raises, here and in a worker's copy of the host.
    static func write(_ operation: InterruptOperation, to system: any InterruptSystem, host: InterruptHost, raiseNow: Bool) {
        switch operation {
        case .setEnabled(let on, _): system.setEnabled(on)
        case .setFunctionMask(let on, _): system.setFunctionMask(on)
        case .writeEntry(let vector, let address, let data, _): system.writeEntry(vector: vector, address: address, data: data)
        case .setVectorMask(let vector, let masked, _): system.setVectorMask(vector: vector, masked: masked)
        case .setPASID(let vector, let pasid, _): system.setPASID(vector: vector, pasid: pasid)
        case .raise(let vector, let pasid): if raiseNow { host.raise(vector: vector, pasid: pasid) }
        }
    }

    func checkInvariants() -> String? { invariant?(implementation) }

    func describe(_ command: InterruptOperation) -> String { command.description }

    /// The plug-in's `destroy`, at the end of the case: a crash there fails the case.
    func finish() -> String? { foreign.close() }
}

/// An interrupt system that takes a whole step at once: the guest write, the device raise when
/// `raiseNow` (a raise the model did not prohibit), and the raises scheduled during it, its
/// host calls made against a copy of the host and replayed on the checker's.
protocol MirroredInterrupts: AnyObject {
    func perform(_ operation: InterruptOperation?, raiseNow: Bool, raises: [InterruptHost.Injection])
}
