import Foundation
import IOMMUConformance
import IOMMUMutants
import IOMMUSpec
import PropertyCheck
import Testing

/// `run --emit-trace` and `verify` agree with the live check: the trace of a shrunk failure
/// does not conform, at its last line; the trace of a conforming case conforms.
@Suite struct TraceRecordingTests {
    /// Every planted bug whose failure a trace can show. Isolation bugs seen only at a checkpoint
    /// inside an operation (handover-window) cannot be: a trace records operations.
    @Test(arguments: Mutants.all.filter { $0.name != "handover-window" })
    func theTraceOfAFailureFailsVerification(mutant planted: Mutant) throws {
        let surface = planted.surface, mutant = planted.name
        let check = try SurfaceCheck.make(surface, implementation: .mutant(mutant))
        let report = check.run(try testConfiguration("emit-\(mutant)", cases: 500))
        let failure = try #require(report.failure)
        let record = try #require(check.recordTrace)
        let text = record(failure.bytes)
        let (parsedSurface, verdict) = try RecordedTrace.verify(text)
        #expect(parsedSurface == surface)
        let problem = try #require(verdict.problem, "the trace of \(failure) conforms:\n\(text)")
        let lines = text.split(separator: "\n")
        #expect(problem.line == lines.count, "the disagreement is the last line recorded:\n\(text)")
    }

    @Test(arguments: Surface.allCases)
    func theTraceOfAConformingCaseConforms(surface: Surface) throws {
        let check = try SurfaceCheck.make(surface, implementation: .optimized)
        let record = try #require(check.recordTrace)
        for file in try corpusFiles(surface.rawValue).prefix(8) {
            let text = record(file.bytes)
            let (_, verdict) = try RecordedTrace.verify(text)
            #expect(verdict.conforms, "\(file.name): \(verdict)\n\(text)")
            #expect(verdict.checkedSteps > 0)
        }
    }

    @Test func aTraceOfAnotherSurfaceOrAMalformedHeaderIsAClearError() {
        #expect(throws: TraceError(line: 1, "empty trace: expected a header line")) { try RecordedTrace.verify("# nothing\n") }
        #expect { try RecordedTrace.verify(#"{"trace":"iommu-conformance","version":2,"surface":"shadow","configuration":{}}"#) } throws: { error in
            "\(error)".contains("version 2 is not supported")
        }
    }
}
