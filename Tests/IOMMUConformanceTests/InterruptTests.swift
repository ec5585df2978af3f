import Foundation
import IOMMUConformance
import IOMMUConformanceTesting
import IOMMUMutants
import IOMMUOptimized
import IOMMUSpec
import PropertyCheck
import Testing

@Suite struct InterruptTests {
    @Test(.conformance(cases: 3_000)) func theOptimizedVirtualizationAgreesWithTheModel() throws {
        let report = Conformance.check(try SurfaceCheck.make(.interrupts, implementation: .optimized), regressions: regressions(.interrupts))
        guard report.generated else { return }
        for fate in ["delivered", "pending", "rejected"] {
            #expect((report.statistics.outcomes[OutcomeKey(kind: "raise", outcome: fate)] ?? 0) > 0, "no raise was \(fate)")
        }
    }

    @Test(arguments: [false, true])
    func bothHostsAreCheckedOnTheirOwn(dynamic: Bool) throws {
        let check = try InterruptCheck(configuration: InterruptConfiguration(vectors: 4, dynamicAllocation: dynamic), implementation: .optimized)
        let report = check.run(try testConfiguration("interrupts-\(dynamic ? "dynamic" : "noresize")", cases: 500))
        #expect(report.passed, "\(report)")
    }

    @Test(arguments: InterruptMutants.all.map(\.name))
    func theCheckerCatchesThePlantedBug(mutant: String) throws {
        var configuration = CheckConfiguration(name: "interrupts-\(mutant)", seed: 1, cases: 2_000)
        configuration.health.enabled = false
        let report = try InterruptCheck(implementation: .mutant(mutant)).run(configuration)
        let failure = try #require(report.failure, "\(mutant) was not caught in 2000 cases")
        let shortest = try #require(DetectionBenchmark.shortestKnownTrace[mutant])
        #expect(failure.trace.count <= shortest + 1, "shrunk trace longer than expected (shortest known: \(shortest)):\n\(failure)")
        guard case .fail = FuzzEntry.verdict(.interrupts, failure.bytes, implementation: .mutant(mutant)) else {
            Issue.record("the fuzz entry point does not reproduce \(mutant)")
            return
        }
    }

    static let scenarios: [String] = (try? corpusFiles("interrupts", "scenarios", extension: "jsonl").map(\.name)) ?? []

    @Test(arguments: scenarios)
    func scenarioHolds(name: String) throws {
        let url = repositoryRoot.appendingPathComponent("Corpus/interrupts/scenarios").appendingPathComponent(name)
        let trace = try InterruptTrace.parse(String(contentsOf: url, encoding: .utf8))
        #expect(trace.steps.allSatisfy { $0.outcome != nil })
        let problems = trace.checkScenario { InterruptOptimized(configuration: $0, host: $1) }
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    /// The seed 003 scenario catches QEMU's flow: disable all, re-enable more, no latch.
    @Test func theSeedScenarioCatchesTheLostInterrupt() throws {
        let url = repositoryRoot.appendingPathComponent("Corpus/interrupts/scenarios/vector-growth-noresize.jsonl")
        let trace = try InterruptTrace.parse(String(contentsOf: url, encoding: .utf8))
        let problems = trace.checkScenario { plantedInterrupts("no-latch-on-reallocation", $0, $1) }
        #expect(problems.contains { $0.contains("line 9") && $0.contains("an interrupt lost") }, "\(problems)")
        // The same writes on a host with dynamic MSI-X never open a gap, so the mutant passes there.
        let dynamicURL = repositoryRoot.appendingPathComponent("Corpus/interrupts/scenarios/vector-growth-dynamic.jsonl")
        let dynamic = try InterruptTrace.parse(String(contentsOf: dynamicURL, encoding: .utf8))
        #expect(dynamic.checkScenario { plantedInterrupts("no-latch-on-reallocation", $0, $1) }.isEmpty)
    }

    @Test func everyCorpusInputPasses() throws {
        let files = try corpusFiles("interrupts") + corpusFiles("interrupts", "regressions")
        #expect(files.count >= 20)
        for (name, bytes) in files {
            if case .fail(let failure) = FuzzEntry.verdict(.interrupts, bytes) { Issue.record("\(name): \(failure.message)") }
        }
    }

    @Test func verifyNamesTheFirstWrongStep() throws {
        let url = repositoryRoot.appendingPathComponent("Corpus/interrupts/scenarios/ims-pasid.jsonl")
        var trace = try InterruptTrace.parse(String(contentsOf: url, encoding: .utf8))
        #expect(trace.verify().conforms)
        trace.steps[5].outcome = InterruptTrace.Outcome(delivered: [Delivery(vector: 0, address: 0xfee00000, data: 0x20)], pending: 0)
        #expect(trace.verify().problem?.line == trace.steps[5].line)
    }

    @Test(arguments: [
        (#"{"trace":"iommu-conformance","version":1,"surface":"interrupts","configuration":{"vectors":0,"dynamicAllocation":false}}"#, "configuration", "1 to 64"),
        (#"{"trace":"iommu-conformance","version":1,"surface":"interrupts","configuration":{"vectors":2,"dynamicAllocation":"yes"}}"#, "dynamicAllocation", "true or false"),
        (#"{"trace":"iommu-conformance","version":1,"surface":"interrupts","configuration":{"vectors":2,"dynamicAllocation":false}}"# + "\n" + #"{"op":"raise","vector":2,"pasid":0}"#, "vector", "beyond"),
        (#"{"trace":"iommu-conformance","version":1,"surface":"interrupts","configuration":{"vectors":2,"dynamicAllocation":false}}"# + "\n" + #"{"op":"raise","vector":1,"pasid":0,"delivered":[]}"#, "pending", "missing"),
    ])
    func malformedTracesAreClearErrors(text: String, field: String, message: String) {
        #expect {
            _ = try InterruptTrace.parse(text)
        } throws: { error in
            guard let error = error as? TraceError else { return false }
            return error.field == field && error.description.contains(message)
        }
    }

    /// The no-resize host needs disable and re-enable to grow; dynamic allocation needs fewer calls.
    @Test func dynamicAllocationMakesFewerHostCalls() throws {
        let noResize = try InterruptCheck(configuration: InterruptConfiguration(vectors: 8, dynamicAllocation: false), implementation: .optimized)
        let dynamic = try InterruptCheck(configuration: InterruptConfiguration(vectors: 8, dynamicAllocation: true), implementation: .optimized)
        #expect(dynamic.hostCallsPerGuestWrite(cases: 200) < noResize.hostCallsPerGuestWrite(cases: 200))
    }
}
