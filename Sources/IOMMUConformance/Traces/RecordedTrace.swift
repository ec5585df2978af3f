import IOMMUSpec

/// A trace file of any surface, judged offline (`iommu-check verify`): the header line says
/// which surface it is, and that surface's trace type reads and judges the rest.
public enum RecordedTrace {
    /// Judges whole trace bytes; see `RecordedTraceReader`.
    public static func verify(_ bytes: [UInt8]) throws(TraceError) -> (surface: Surface, verdict: TraceVerdict) {
        let reader = RecordedTraceReader()
        var failure: TraceError?
        bytes.withUnsafeBufferPointer { bytes in
            do throws(TraceError) { try reader.read(bytes) } catch { failure = error }
        }
        if let failure { throw failure }
        return try reader.finish()
    }

    public static func verify(_ text: String) throws(TraceError) -> (surface: Surface, verdict: TraceVerdict) {
        try verify(Array(text.utf8))
    }
}

/// Judges a trace as its bytes arrive, a chunk at a time, so memory follows the model's state and
/// not the file. Each line is judged as it is read, but the verdict is given only at the end:
/// anything unreadable (a malformed line, invalid UTF-8, an operation without its recorded
/// outcome) anywhere in the file is a `TraceError` naming the first such line and field, and then
/// no verdict is given at all.
public final class RecordedTraceReader {
    private var lines = TraceLines()
    private var judging: TraceJudging?
    private var failure: TraceError?

    public init() {}

    /// Reads the next bytes of the trace; throws at the first line that cannot be read.
    public func read(_ bytes: UnsafeBufferPointer<UInt8>) throws(TraceError) {
        if let failure { throw failure }
        do {
            try lines.feed(bytes) { (number, bytes) throws(TraceError) in try self.line(number, bytes) }
        } catch {
            failure = error
            throw error
        }
    }

    /// The verdict, once every byte has been read.
    public func finish() throws(TraceError) -> (surface: Surface, verdict: TraceVerdict) {
        if let failure { throw failure }
        do {
            try lines.finish { (number, bytes) throws(TraceError) in try self.line(number, bytes) }
        } catch {
            failure = error
            throw error
        }
        guard let judging else { throw TraceError(line: 1, "empty trace: expected a header line") }
        return (judging.surface, judging.verdict())
    }

    private func line(_ number: Int, _ bytes: UnsafeBufferPointer<UInt8>) throws(TraceError) {
        let line = try JSONLine(number: number, bytes: bytes)
        if let judging { return try judging.judge(line) }
        let header = try TraceHeader(line)
        judging = try SurfaceDefinitions.of(header.surface).judging(header, line: number)
    }
}

/// One surface's trace being read: the configuration from the header, and the judge; the
/// steps are judged as they come and not kept. (Closures made in a generic initializer called
/// with a concrete trace type are specialized code; a generic class behind a protocol was not.)
struct TraceJudging {
    let surface: Surface
    let judge: (JSONLine) throws(TraceError) -> Void
    let verdict: () -> TraceVerdict

    init<Trace: LineTrace>(_: Trace.Type, _ header: TraceHeader, line: Int) throws(TraceError) {
        let trace = try Trace(checked: header, line: line)
        var judge = TraceJudge(trace.lanes())
        var deciding = true
        surface = Trace.surface
        self.judge = { (line) throws(TraceError) in
            let step = try trace.step(line)
            if let field = trace.unrecordedField(step) {
                throw TraceError(line: line.number, field: field, "missing; a recorded trace states what the implementation did for every operation (only a scenario may leave it out)")
            }
            if deciding, let problem = judge.malformed(step) { throw TraceError(line: line.number, problem) }
            if deciding { deciding = judge.next(step) }
        }
        verdict = { judge.verdict }
    }
}

/// A surface's trace, read a line at a time: the header first, then each step. The same reading
/// serves `parse` (a scenario, kept whole) and `verify` (a recorded trace, judged as it streams).
protocol LineTrace {
    associatedtype Step: TraceStep
    associatedtype Lane: TraceLane where Lane.Step == Step
    static var surface: Surface { get }
    /// The trace's configuration from its header line, with no steps.
    init(header: TraceHeader, line: Int) throws(TraceError)
    /// One step line, read under the configuration.
    func step(_ line: JSONLine) throws(TraceError) -> Step
    var steps: [Step] { get set }
    /// The field a recorded trace must state and `step` lacks, if any (only a scenario may
    /// leave what the implementation did unstated).
    func unrecordedField(_ step: Step) -> String?
    /// One judge per configuration the trace is judged under, with the prefix of its messages.
    func lanes() -> [(lane: Lane, prefix: String)]
}

protocol TraceStep {
    /// The 1-based line of the trace text the step came from.
    var line: Int { get }
}

/// Judges one step after another against the model under one configuration.
protocol TraceLane {
    associatedtype Step: TraceStep
    /// What is wrong with the step, or nil if it conforms (the model then has taken it).
    mutating func judge(_ step: Step) -> String?
    /// What the step names that does not exist in the state so far (the trace's mistake, not
    /// the implementation's): `verify` refuses the trace as malformed. Default: nothing.
    func malformed(_ step: Step) -> String?
}

extension TraceLane {
    func malformed(_ step: Step) -> String? { nil }
}

extension LineTrace {
    /// The trace's configuration, once the header is known to be of this surface.
    init(checked header: TraceHeader, line: Int) throws(TraceError) {
        guard header.surface == Self.surface else {
            throw TraceError(line: line, field: "surface", "this is a trace of the \(header.surface) surface, not of \(Self.surface)")
        }
        try self.init(header: header, line: line)
    }

    /// Reads trace text whole, keeping the steps (scenarios; tests).
    static func parsed(_ text: String) throws(TraceError) -> Self {
        var trace: Self?
        try TraceLines.forEach(in: text) { (number, bytes) throws(TraceError) in
            let line = try JSONLine(number: number, bytes: bytes)
            if var read = trace {
                trace = nil  // keeps the steps' storage unshared, so appending does not copy them
                read.steps.append(try read.step(line))
                trace = read
            } else {
                trace = try Self(checked: TraceHeader(line), line: number)
            }
        }
        guard let trace else { throw TraceError(line: 1, "empty trace: expected a header line") }
        return trace
    }

    /// Judges the kept steps, as `verify` judges a stream.
    func judged() -> TraceVerdict {
        var judge = TraceJudge(lanes())
        for step in steps {
            guard judge.next(step) else { break }
        }
        return judge.verdict
    }
}

/// Judges steps under each configuration of a trace side by side (a scenario names several
/// policies; a recorded trace has one). The verdict is that of the first configuration, in the
/// trace's order, under which a step does not conform: the first such line under it.
struct TraceJudge<Lane: TraceLane> {
    private var lanes: [(lane: Lane, prefix: String, checked: Int, problem: TraceVerdict.Problem?)]

    init(_ lanes: [(lane: Lane, prefix: String)]) {
        self.lanes = lanes.map { ($0.lane, $0.prefix, 0, nil) }
    }

    /// Judges the next step under every configuration still judging; false once the verdict is
    /// decided (the first configuration found a problem), so later steps need not be judged.
    mutating func next(_ step: Lane.Step) -> Bool {
        for index in lanes.indices {
            // A configuration after one that failed cannot change the verdict.
            guard lanes[index].problem == nil else { break }
            if let problem = lanes[index].lane.judge(step) {
                lanes[index].problem = .init(line: step.line, message: lanes[index].prefix + problem)
            } else {
                lanes[index].checked += 1
            }
        }
        return lanes.first?.problem == nil
    }

    /// Whether the step names something that does not exist, by the first configuration's state.
    func malformed(_ step: Lane.Step) -> String? { lanes.first?.lane.malformed(step) }

    var verdict: TraceVerdict {
        if let failed = lanes.first(where: { $0.problem != nil }) { return TraceVerdict(checkedSteps: failed.checked, problem: failed.problem) }
        return TraceVerdict(checkedSteps: lanes.first?.checked ?? 0, problem: nil)
    }
}
