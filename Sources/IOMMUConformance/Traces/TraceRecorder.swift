import PropertyCheck

/// A trace type `--emit-trace` can write.
protocol EncodableTrace {
    func encoded() -> String
}

extension AddressSpaceTrace: EncodableTrace {}
extension IsolationTrace: EncodableTrace {}
extension InterruptTrace: EncodableTrace {}
extension ShadowTrace: EncodableTrace {}

/// Collects the trace of one case while it runs, for `iommu-check run --emit-trace`.
final class TraceRecorder<Trace: EncodableTrace> {
    var trace: Trace?

    /// The JSON Lines trace (docs/TRACES.md) of the case `bytes` decode to, run by the test case
    /// `makeTestCase` builds around a recorder: each operation with the implementation's own
    /// outcome, up to and including the first disagreement.
    static func record(_ bytes: [UInt8], _ makeTestCase: (TraceRecorder) -> TestCase) -> String {
        let recorder = TraceRecorder()
        _ = makeTestCase(recorder)(ChoiceStream(.bytes(bytes)))
        return recorder.trace?.encoded() ?? ""
    }
}
