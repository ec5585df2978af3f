import IOMMUConformanceTesting
import PageTableIOMMU
import Testing

extension PageTableIOMMU: BuildableAddressSpace {}

@Suite struct ConformanceTests {
    /// One line checks a type: saved failures first, then the shipped corpus, then 1,000
    /// generated cases under the page-table policy.
    @Test func thePageTableConforms() {
        Conformance.check(PageTableIOMMU.self, policy: .pageTable)
    }

    /// The checker finds the stale cache, shrinks it to a few operations and records one issue
    /// with the trace, the seed and the command that replays it. (A known issue here, so this
    /// example's own `swift test` passes; in your package, it is a failing test.)
    @Test func theStaleCacheIsCaught() {
        withKnownIssue("CachingIOMMU never invalidates its cache") {
            Conformance.check(CachingIOMMU.self, policy: .pageTable)
        }
    }
}
