import Foundation
import IOMMUConformance
import IOMMUMutants
import IOMMUSpec
import PropertyCheck
import Testing

/// `run --emit-trace` and `verify` agree with the live check: the trace of a shrunk failure
/// does not conform, at its last line; the trace of a conforming case conforms.
@Suite struct TraceRecordingTests {
    /// Every planted bug. A failure seen only at a checkpoint inside an isolation operation
    /// (handover-window, release-keeps-later-pasids) cannot be written as operations: its trace
    /// conforms, and the test holds that it is such a failure and nothing else.
    @Test(arguments: Mutants.all)
    func theTraceOfAFailureFailsVerification(mutant planted: Mutant) throws {
        let surface = planted.surface, mutant = planted.name
        let check = try SurfaceCheck.make(surface, implementation: .mutant(mutant))
        let report = check.run(try testConfiguration("emit-\(mutant)", cases: 2_000))
        let failure = try #require(report.failure)
        let record = check.recordTrace
        let text = record(failure.bytes)
        let (parsedSurface, verdict) = try RecordedTrace.verify(text)
        #expect(parsedSurface == surface)
        // So is a protected-DMA layer's broken memory-call rule: a trace records answers, not calls.
        if failure.message.contains(", at checkpoint ") || failure.message.contains("in the layer's memory calls") {
            #expect(verdict.conforms, "a checkpoint failure the trace shows after all: update this test\n\(text)")
            return
        }
        let problem = try #require(verdict.problem, "the trace of \(failure) conforms:\n\(text)")
        let lines = text.split(separator: "\n")
        #expect(problem.line == lines.count, "the disagreement is the last line recorded:\n\(text)")
    }

    @Test(arguments: Surface.allCases)
    func theTraceOfAConformingCaseConforms(surface: Surface) throws {
        let check = try SurfaceCheck.make(surface, implementation: .optimized)
        let record = check.recordTrace
        for file in try corpusFiles(surface.rawValue).prefix(8) {
            let text = record(file.bytes)
            let (_, verdict) = try RecordedTrace.verify(text)
            #expect(verdict.conforms, "\(file.name): \(verdict)\n\(text)")
            #expect(verdict.checkedSteps > 0)
        }
    }

    @Test func aTraceOfAnotherSurfaceOrAMalformedHeaderIsAClearError() {
        #expect(throws: TraceError(line: 1, "empty trace: expected a header line")) { try RecordedTrace.verify("# nothing\n") }
        #expect { try RecordedTrace.verify(#"{"trace":"iommu-conformance","version":3,"surface":"shadow","configuration":{}}"#) } throws: { error in
            "\(error)".contains("version 3 is not supported")
        }
    }
}
