import IOMMUSpec

/// A trace file of any surface, judged offline (`iommu-check verify`): the header line says
/// which surface it is, and that surface's trace type reads and judges the rest.
public enum RecordedTrace {
    /// Reads `bytes` whole and judges them against the model. Anything unreadable (a malformed
    /// line, invalid UTF-8, an operation without its recorded outcome) is a `TraceError` naming
    /// the line and field, and nothing is judged.
    public static func verify(_ bytes: [UInt8]) throws(TraceError) -> (surface: Surface, verdict: TraceVerdict) {
        try verify(traceText(bytes))
    }

    public static func verify(_ text: String) throws(TraceError) -> (surface: Surface, verdict: TraceVerdict) {
        guard let first = firstTraceLine(text) else { throw TraceError(line: 1, "empty trace: expected a header line") }
        let header = try TraceHeader(JSONLine(number: first.number, text: first.text))
        switch header.surface {
        case .addressSpace: return (.addressSpace, try judged(AddressSpaceTrace.parse(text)))
        case .isolation: return (.isolation, try judged(IsolationTrace.parse(text)))
        case .interrupts: return (.interrupts, try judged(InterruptTrace.parse(text)))
        case .shadow: return (.shadow, try judged(ShadowTrace.parse(text)))
        }
    }

    private static func judged(_ trace: some RecordedSteps) throws(TraceError) -> TraceVerdict {
        if let line = trace.firstUnrecordedLine {
            throw TraceError(line: line, field: trace.recordedField, "missing; a recorded trace states what the implementation did for every operation (only a scenario may leave it out)")
        }
        return trace.verify()
    }
}

/// A surface's trace as `verify` needs it: which line, if any, lacks its recorded outcome.
protocol RecordedSteps {
    var firstUnrecordedLine: Int? { get }
    /// The field that records the outcome.
    var recordedField: String { get }
    func verify() -> TraceVerdict
}

extension AddressSpaceTrace: RecordedSteps {
    var firstUnrecordedLine: Int? { steps.first { $0.outcome == nil }?.line }
    var recordedField: String { "outcome" }
}

extension IsolationTrace: RecordedSteps {
    var firstUnrecordedLine: Int? { steps.first { $0.outcome == nil }?.line }
    var recordedField: String { "outcome" }
}

extension InterruptTrace: RecordedSteps {
    var firstUnrecordedLine: Int? { steps.first { $0.outcome == nil }?.line }
    var recordedField: String { "delivered" }
}

extension ShadowTrace: RecordedSteps {
    /// Guest writes record nothing; an invalidation records the host calls it caused.
    var firstUnrecordedLine: Int? {
        steps.first {
            if case .invalidate = $0.operation { return $0.calls == nil }
            return false
        }?.line
    }
    var recordedField: String { "calls" }
}
