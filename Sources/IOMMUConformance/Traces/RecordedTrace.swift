import IOMMUSpec

/// A trace file of any surface, judged offline (`iommu-check verify`): the header line says
/// which surface it is, and that surface's trace type reads and judges the rest.
public enum RecordedTrace {
    /// Reads `text` and judges it against the model. A malformed line is a `TraceError`
    /// naming the line and field; nothing is judged then.
    public static func verify(_ text: String) throws(TraceError) -> (surface: Surface, verdict: TraceVerdict) {
        guard let first = traceLines(text).first else { throw TraceError(line: 1, "empty trace: expected a header line") }
        let header = try TraceHeader(JSONLine(number: first.number, text: first.text))
        switch header.surface {
        case .addressSpace: return (.addressSpace, try AddressSpaceTrace.parse(text).verify())
        case .isolation: return (.isolation, try IsolationTrace.parse(text).verify())
        case .interrupts: return (.interrupts, try InterruptTrace.parse(text).verify())
        case .shadow: return (.shadow, try ShadowTrace.parse(text).verify())
        }
    }
}
