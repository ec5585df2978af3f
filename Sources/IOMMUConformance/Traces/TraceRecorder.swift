/// Collects the trace of one case while it runs, for `iommu-check run --emit-trace`.
final class TraceRecorder<Trace> {
    var trace: Trace?
}
