import IOMMUSpec

/// A protected-DMA trace: the guest's configuration, then each operation with what the layer
/// answered (the DMA addresses of maps, coherent buffers, what reads returned). Format:
/// docs/TRACES.md. A trace is judged from those answers alone: placements, failures and every
/// byte read against the model; the memory calls of the layer are judged only in a live run.
public struct ProtectedDMATrace: Sendable {
    public typealias Outcome = ProtectedDMAOutcome

    public struct Step: Sendable {
        public var line: Int
        public var operation: ProtectedDMAOperation
        public var outcome: Outcome?
    }

    public var configuration: ProtectedDMAConfiguration
    public var description: String?
    public var steps: [Step]

    public init(configuration: ProtectedDMAConfiguration, description: String? = nil, steps: [Step] = []) {
        self.configuration = configuration
        self.description = description
        self.steps = steps
    }

    public static func parse(_ text: String) throws(TraceError) -> ProtectedDMATrace { try parsed(text) }

    /// Judges a recorded trace against the model.
    public func verify() -> TraceVerdict { judged() }

    /// Checks a scenario: the model must agree with every stated answer, and the layer, run over
    /// the checker's memory, must conform at every step.
    public func checkScenario(implementation make: (ProtectedDMAConfiguration, GuestMemory) throws -> any ProtectedDMASystem) -> [String] {
        var problems: [String] = []
        if let problem = verify().problem { problems.append("line \(problem.line): the model disagrees with the scenario: \(problem.message)") }
        let memory = GuestMemory(configuration: configuration)
        let layer: any ProtectedDMASystem
        do {
            layer = try make(configuration, memory)
        } catch {
            return problems + ["the implementation could not be created: \(error)"]
        }
        let judge = ProtectedDMAJudge(configuration: configuration)
        for step in steps {
            if let problem = judge.referenceProblem(step.operation) { return problems + ["line \(step.line): \(problem)"] }
            let (outcome, fault) = ProtectedDMAMachine.perform(step.operation, on: layer, mirrored: layer as? MirroredProtectedDMA, memory: memory, judge: judge)
            if let problem = ProtectedDMAMachine.judged(step.operation, outcome, fault: fault, memory: memory, judge: judge) {
                problems.append("line \(step.line): \(problem)")
                break
            }
        }
        return problems
    }

    // MARK: reading

    func step(_ line: JSONLine) throws(TraceError) -> Step {
        let operation = try Self.operation(line, configuration)
        return Step(line: line.number, operation: operation, outcome: try Self.outcome(line, operation))
    }

    private static func bytes(_ line: JSONLine, _ field: String) throws(TraceError) -> [UInt8] {
        let text = try line.string(field)
        guard text.count % 2 == 0, text.count <= 1 << 21 else { throw TraceError(line: line.number, field: field, "expected an even number of hex digits") }
        var result: [UInt8] = []
        result.reserveCapacity(text.count / 2)
        var digits = text.utf8.makeIterator()
        while let high = digits.next(), let low = digits.next() {
            guard let h = hexDigit(high), let l = hexDigit(low) else { throw TraceError(line: line.number, field: field, "'\(text.prefix(16))...' is not hex bytes") }
            result.append(h << 4 | l)
        }
        return result
    }

    private static func hexDigit(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func positive(_ line: JSONLine, _ field: String, atMost limit: Int) throws(TraceError) -> Int {
        let value = try line.integer(field)
        guard value > 0, value <= limit else { throw TraceError(line: line.number, field: field, "\(value): expected 1 to \(limit)") }
        return value
    }

    private static func target(_ line: JSONLine) throws(TraceError) -> ProtectedDMAOperation.Target {
        switch try line.choice("target", [("buffers", 0), ("mapping", 1), ("coherent", 2)]) {
        case 0: return .buffers
        case 1: return .mapping(try line.integer("of"))
        default: return .coherent(try line.integer("of"))
        }
    }

    private static func direction(_ line: JSONLine) throws(TraceError) -> DMADirection {
        try line.choice("direction", DMADirection.allCases.map { ($0.rawValue, $0) })
    }

    /// A span of the driver's memory: inside it, not empty.
    private static func bufferSpan(_ line: JSONLine, _ c: ProtectedDMAConfiguration, _ sizeField: String) throws(TraceError) -> (Int, Int) {
        let total = Int(c.bufferBytes)
        let offset = try line.integer("offset")
        let size = try positive(line, sizeField, atMost: total)
        guard offset <= total - size else { throw TraceError(line: line.number, field: "offset", "\(offset)+\(size) runs past the \(total) bytes of the driver's buffers") }
        return (offset, size)
    }

    private static func operation(_ line: JSONLine, _ c: ProtectedDMAConfiguration) throws(TraceError) -> ProtectedDMAOperation {
        var during: [ProtectedDMAOperation.Injection] = []
        if line.has("during") {
            for (index, value) in try line.array("during").enumerated() {
                guard case .object(let object) = value else { throw TraceError(line: line.number, field: "during[\(index)]", "expected an object {after, event, ...}") }
                let item = JSONLine(number: line.number, object: object)
                let after = try item.integer("after")
                switch try item.choice("event", [("device-write", 0), ("map", 1)]) {
                case 0:
                    let target = try target(item)
                    guard target != .buffers else { throw TraceError(line: line.number, field: "during[\(index)].target", "the device reaches a mapping or coherent memory") }
                    during.append(.init(after: after, event: .deviceWrite(target, offset: try item.integer("offset"), data: try bytes(item, "data"))))
                default:
                    let (offset, size) = try bufferSpan(item, c, "size")
                    during.append(.init(after: after, event: .map(id: try item.integer("id"), offset: offset, size: size, direction: try direction(item))))
                }
            }
        }
        switch try line.choice("op", ProtectedDMAOperation.kindNames.enumerated().map { ($0.element, $0.offset) }) {
        case 0:
            let (offset, size) = try bufferSpan(line, c, "size")
            return .map(id: try line.integer("id"), offset: offset, size: size, direction: try direction(line), during: during)
        case 1: return .unmap(id: try line.integer("id"), during: during)
        case 2: return .syncForDevice(id: try line.integer("id"), offset: try line.integer("offset"), length: try positive(line, "length", atMost: 1 << 24), during: during)
        case 3: return .syncForCPU(id: try line.integer("id"), offset: try line.integer("offset"), length: try positive(line, "length", atMost: 1 << 24), during: during)
        case 4: return .allocCoherent(id: try line.integer("id"), size: try positive(line, "size", atMost: 1 << 24), during: during)
        case 5: return .freeCoherent(id: try line.integer("id"), during: during)
        case 6: return .setupVirtqueue(id: try line.integer("id"), size: try positive(line, "size", atMost: 1 << 24))
        case 7, 8:
            let target = try target(line)
            guard case .mapping = target else {
                if try line.string("op") == "cpu-write" { return .cpuWrite(target, offset: try line.integer("offset"), data: try bytes(line, "data")) }
                return .cpuRead(target, offset: try line.integer("offset"), length: try positive(line, "length", atMost: 1 << 24))
            }
            throw TraceError(line: line.number, field: "target", "the CPU reaches its buffers and coherent memory; a mapping is the device's view")
        default:
            let target = try target(line)
            guard target != .buffers else { throw TraceError(line: line.number, field: "target", "the device reaches a mapping or coherent memory, not the driver's private buffers") }
            if try line.string("op") == "device-write" { return .deviceWrite(target, offset: try line.integer("offset"), data: try bytes(line, "data")) }
            return .deviceRead(target, offset: try line.integer("offset"), length: try positive(line, "length", atMost: 1 << 24))
        }
    }

    /// The answers a line records, if it records them: `mapped` for maps (the driver's and
    /// injected), `coherent` for coherent buffers and vrings, `data` for reads.
    private static func outcome(_ line: JSONLine, _ operation: ProtectedDMAOperation) throws(TraceError) -> Outcome? {
        let isRead = operation.kind == 8 || operation.kind == 9
        guard line.has("mapped") || line.has("coherent") || isRead && (line.has("data") || line.has("faulted")) else { return nil }
        var outcome = Outcome()
        if line.has("mapped") {
            for (index, value) in try line.array("mapped").enumerated() {
                guard case .array(let pair) = value, pair.count == 2 else { throw TraceError(line: line.number, field: "mapped[\(index)]", "expected [id, \"0x...\" or null]") }
                let item = JSONLine(number: line.number, object: ["id": pair[0], "dma": pair[1]])
                let dma: UInt64? = if case .null = pair[1] { nil } else { try item.address("dma", field: "mapped[\(index)][1]") }
                outcome.mapped.append(.init(id: try item.integer("id", field: "mapped[\(index)][0]"), dma: dma))
            }
        }
        if line.has("coherent") {
            let value = try line.array("coherent", field: "coherent")
            if value.count == 2 {
                let item = JSONLine(number: line.number, object: ["cpu": value[0], "dma": value[1]])
                outcome.coherent = CoherentBuffer(cpu: try item.address("cpu", field: "coherent[0]"), dma: try item.address("dma", field: "coherent[1]"))
            } else if !value.isEmpty {
                throw TraceError(line: line.number, field: "coherent", "expected [\"cpu\", \"dma\"], or [] for none")
            }
        }
        if isRead {
            if line.has("faulted"), try line.boolean("faulted") {
                outcome.data = nil
            } else {
                outcome.data = try bytes(line, "data")
            }
        }
        return outcome
    }
}

extension ProtectedDMATrace.Step: TraceStep {}

extension ProtectedDMATrace: LineTrace {
    static var surface: Surface { .protectedDMA }

    init(header: TraceHeader, line number: Int) throws(TraceError) {
        let c = header.configuration
        let virtio: VirtioDevice = c.has("virtio") ? try c.choice("virtio", VirtioDevice.allCases.map { ($0.rawValue, $0) }) : .none
        let configuration = ProtectedDMAConfiguration(
            bufferPages: try c.integer("bufferPages"), coherentPages: try c.integer("coherentPages"), poolSlots: try c.integer("poolSlots"),
            segmentSlots: c.has("segmentSlots") ? try c.integer("segmentSlots") : 128, minAlignMask: c.has("minAlignMask") ? try c.address("minAlignMask") : 0,
            virtio: virtio)
        self.init(configuration: try header.validated(configuration, line: number), description: header.description)
    }

    func unrecordedField(_ step: Step) -> String? { Self.unrecorded(step) }

    /// The answer field a step must state and lacks, if any.
    static func unrecorded(_ step: Step) -> String? {
        switch step.operation {
        case .map: step.outcome?.mapped.isEmpty == false ? nil : "mapped"
        case .allocCoherent, .setupVirtqueue: step.outcome == nil ? "coherent" : nil
        case .cpuRead, .deviceRead: step.outcome == nil ? "data" : nil
        default: step.operation.injections.contains { if case .map = $0.event { true } else { false } } && step.outcome == nil ? "mapped" : nil
        }
    }

    func lanes() -> [(lane: Lane, prefix: String)] { [(Lane(judge: ProtectedDMAJudge(configuration: configuration)), "")] }

    struct Lane: TraceLane {
        let judge: ProtectedDMAJudge

        func malformed(_ step: Step) -> String? { judge.referenceProblem(step.operation) }

        func judge(_ step: Step) -> String? {
            if let problem = judge.referenceProblem(step.operation) { return problem }
            guard let outcome = step.outcome ?? (ProtectedDMATrace.unrecorded(step) == nil ? ProtectedDMAOutcome() : nil) else {
                return "no answer recorded for \(step.operation)"
            }
            return judge.judge(step.operation, outcome).map { "\(step.operation): \($0)" }
        }
    }
}
