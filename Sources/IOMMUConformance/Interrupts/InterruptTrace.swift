import IOMMUReference
import IOMMUSpec

/// An Interrupts trace: a device and host configuration, then guest writes (each with the
/// device raises scheduled between its host calls) and device raises, each with what the guest
/// received during the step and the pending bits after it. Format: docs/TRACES.md.
public struct InterruptTrace: Sendable {
    public struct Outcome: Hashable, Sendable {
        /// Interrupts delivered during the step, in any order.
        public var delivered: [Delivery]
        /// The pending bits the guest reads after the step.
        public var pending: UInt64

        public init(delivered: [Delivery], pending: UInt64) {
            self.delivered = delivered
            self.pending = pending
        }
    }

    public struct Step: Sendable {
        public var line: Int
        public var operation: InterruptOperation
        public var outcome: Outcome?
    }

    public var configuration: InterruptConfiguration
    public var description: String?
    public var steps: [Step]

    public static func parse(_ text: String) throws(TraceError) -> InterruptTrace { try parsed(text) }

    func step(_ line: JSONLine) throws(TraceError) -> Step {
        let operation = try Self.operation(line, vectors: configuration.vectors)
        return Step(line: line.number, operation: operation, outcome: line.has("delivered") || line.has("pending") ? try Self.outcome(line) : nil)
    }

    private static func vector(_ line: JSONLine, _ field: String, vectors: Int) throws(TraceError) -> Int {
        let vector = try line.integer(field)
        guard vector < vectors else { throw TraceError(line: line.number, field: field, "vector \(vector) is beyond the \(vectors)-entry table") }
        return vector
    }

    private static func operation(_ line: JSONLine, vectors: Int) throws(TraceError) -> InterruptOperation {
        var raises: [InterruptHost.Injection] = []
        if line.has("raises") {
            for (index, value) in try line.array("raises").enumerated() {
                guard case .object(let object) = value else { throw TraceError(line: line.number, field: "raises[\(index)]", "expected an object {after, vector, pasid}") }
                let raise = JSONLine(number: line.number, object: object)
                raises.append(InterruptHost.Injection(
                    afterCall: max(1, try raise.integer("after")), vector: try vector(raise, "vector", vectors: vectors),
                    pasid: UInt32(truncatingIfNeeded: try raise.integer("pasid"))))
            }
        }
        switch try line.choice("op", InterruptOperation.kindNames.enumerated().map { ($0.element, $0.offset) }) {
        case 0: return .setEnabled(try line.boolean("on"), raises: raises)
        case 1: return .setFunctionMask(try line.boolean("on"), raises: raises)
        case 2:
            let data = try line.address("data")
            guard data <= UInt64(UInt32.max) else { throw TraceError(line: line.number, field: "data", "message data is 32 bits") }
            return .writeEntry(vector: try vector(line, "vector", vectors: vectors), address: try line.address("address"), data: UInt32(data), raises: raises)
        case 3: return .setVectorMask(vector: try vector(line, "vector", vectors: vectors), masked: try line.boolean("masked"), raises: raises)
        case 4:
            let pasid: UInt32? = line.has("pasid") ? UInt32(truncatingIfNeeded: try line.integer("pasid")) : nil
            return .setPASID(vector: try vector(line, "vector", vectors: vectors), pasid: pasid, raises: raises)
        default: return .raise(vector: try vector(line, "vector", vectors: vectors), pasid: UInt32(truncatingIfNeeded: try line.integer("pasid")))
        }
    }

    /// `"delivered": [[vector, "address", "data"], ...], "pending": "0x..."`.
    private static func outcome(_ line: JSONLine) throws(TraceError) -> Outcome {
        var delivered: [Delivery] = []
        for (index, value) in try line.array("delivered").enumerated() {
            guard case .array(let triple) = value, triple.count == 3 else {
                throw TraceError(line: line.number, field: "delivered[\(index)]", "expected [vector, address, data]")
            }
            let item = JSONLine(number: line.number, object: ["vector": triple[0], "address": triple[1], "data": triple[2]])
            delivered.append(Delivery(vector: try item.integer("vector"), address: try item.address("address"), data: UInt32(truncatingIfNeeded: try item.address("data"))))
        }
        return Outcome(delivered: delivered, pending: try line.address("pending"))
    }

    /// Judges a recorded trace against the model: the first step whose deliveries or pending
    /// bits do not conform to the model's is reported.
    public func verify() -> TraceVerdict { judged() }

    /// Checks a scenario: the model must match every stated outcome, and the implementation,
    /// run over the checker's host, must conform at every step.
    public func checkScenario(implementation make: (InterruptConfiguration, InterruptHost) throws -> any InterruptSystem) -> [String] {
        var problems: [String] = []
        let verdict = verify()
        if let problem = verdict.problem { problems.append("line \(problem.line): the model disagrees with the scenario: \(problem.message)") }
        let model = InterruptModel(configuration: configuration)
        let host = InterruptHost(configuration: configuration)
        let implementation: any InterruptSystem
        do {
            implementation = try make(configuration, host)
        } catch {
            return problems + ["the implementation could not be created: \(error)"]
        }
        host.system = implementation
        let mirrored = implementation as? MirroredInterrupts
        for step in steps {
            let modelBefore = model.deliveries.count, hostBefore = host.deliveries.count
            InterruptMachine.perform(step.operation, on: implementation, mirrored, host: host, model: model)
            if let problem = InterruptModel.judge(expected: Array(model.deliveries[modelBefore...]), actual: Array(host.deliveries[hostBefore...])) {
                problems.append("line \(step.line): \(step.operation): \(problem)")
            }
            if model.pending != implementation.pendingBits() {
                problems.append("line \(step.line): after \(step.operation): pending bits: model \(hex(model.pending)), implementation \(hex(implementation.pendingBits()))")
            }
        }
        return problems
    }
}

extension InterruptTrace.Step: TraceStep {}

extension InterruptTrace: LineTrace {
    static var surface: Surface { .interrupts }

    init(header: TraceHeader, line number: Int) throws(TraceError) {
        let c = header.configuration
        // Version 1 knew one policy: raises while MSI-X is disabled pend (an emulated device).
        var policy = InterruptPolicy.emulated
        if header.version >= 2 || c.has("policy") { policy = try c.policy(InterruptPolicy.self) }
        let configuration = InterruptConfiguration(
            vectors: try c.integer("vectors"),
            dynamicAllocation: try c.boolean("dynamicAllocation"),
            defaultPASID: c.has("defaultPASID") ? UInt32(truncatingIfNeeded: try c.integer("defaultPASID")) : 0,
            policy: policy
        )
        self.init(configuration: try header.validated(configuration, line: number), description: header.description, steps: [])
    }

    func unrecordedField(_ step: Step) -> String? { step.outcome == nil ? "delivered" : nil }

    func lanes() -> [(lane: Lane, prefix: String)] { [(Lane(model: InterruptModel(configuration: configuration)), "")] }

    struct Lane: TraceLane {
        let model: InterruptModel

        func judge(_ step: Step) -> String? {
            guard let outcome = step.outcome else { return "no outcome recorded for \(step.operation)" }
            model.apply(step.operation)
            // Taken, so a long trace's deliveries are not all kept.
            if let problem = InterruptModel.judge(expected: model.takeDeliveries(), actual: outcome.delivered) {
                return "\(step.operation): \(problem)"
            }
            if model.pending != outcome.pending {
                return "after \(step.operation): pending bits: model \(hex(model.pending)), the trace records \(hex(outcome.pending))"
            }
            return nil
        }
    }
}
