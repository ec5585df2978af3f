import Foundation
import IOMMUConformance
import IOMMUConformanceTesting
import IOMMUMutants
import IOMMUOptimized
import IOMMUSpec
import PropertyCheck
import Testing

@Suite struct ShadowTests {
    @Test(.conformance(cases: 1_500)) func theOptimizedShadowLayerPassesTheMonitorAndAgreesWithTheModel() throws {
        Conformance.check(try SurfaceCheck.make(.shadow, implementation: .optimized), regressions: regressions(.shadow))
    }

    @Test(arguments: ShadowPolicy.presetNames)
    func eachPolicyIsCheckedOnItsOwn(policy: String) throws {
        let report = try ShadowCheck(policy: ShadowPolicy(named: policy), implementation: .optimized).run(try testConfiguration("shadow-\(policy)", cases: 400))
        #expect(report.passed, "\(report)")
    }

    @Test(arguments: ShadowHostPolicy.allCases)
    func eachHostIsCheckedOnItsOwn(host: ShadowHostPolicy) throws {
        let report = try ShadowCheck(host: host, implementation: .optimized).run(try testConfiguration("shadow-\(host.rawValue)", cases: 400))
        #expect(report.passed, "\(report)")
    }

    @Test func theReferenceLayerPassesItsOwnMonitor() throws {
        let report = try ShadowCheck(implementation: .reference).run(try testConfiguration("shadow-reference", cases: 300))
        #expect(report.passed, "\(report)")
    }

    @Test(arguments: ShadowMutants.all.map(\.name))
    func theCheckerCatchesThePlantedBug(mutant: String) throws {
        var configuration = CheckConfiguration(name: "shadow-\(mutant)", seed: 1, cases: 2_000)
        configuration.health.enabled = false
        let report = try ShadowCheck(implementation: .mutant(mutant)).run(configuration)
        let failure = try #require(report.failure, "\(mutant) was not caught in 2000 cases")
        let shortest = try #require(DetectionBenchmark.shortestKnownTrace[mutant])
        #expect(failure.trace.count <= shortest + 1, "shrunk trace longer than expected (shortest known: \(shortest)):\n\(failure)")
        guard case .fail = FuzzEntry.verdict(.shadow, failure.bytes, implementation: .mutant(mutant)) else {
            Issue.record("the fuzz entry point does not reproduce \(mutant)")
            return
        }
    }

    static let scenarios: [String] = (try? corpusFiles("shadow", "scenarios", extension: "jsonl").map(\.name)) ?? []

    @Test(arguments: scenarios)
    func scenarioHolds(name: String) throws {
        let url = repositoryRoot.appendingPathComponent("Corpus/shadow/scenarios").appendingPathComponent(name)
        let trace = try ShadowTrace.parse(String(contentsOf: url, encoding: .utf8))
        let problems = trace.checkScenario { ShadowOptimized(guest: $0, host: $1) }
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    /// Every planted shadow bug fails at least one of the seed-004 scenarios.
    @Test func theScenariosCatchEveryPlantedBug() throws {
        let traces = try Self.scenarios.map { try ShadowTrace.parse(String(contentsOf: repositoryRoot.appendingPathComponent("Corpus/shadow/scenarios/\($0)"), encoding: .utf8)) }
        for mutant in ShadowMutants.all.map(\.name) {
            let caught = traces.contains { !$0.checkScenario { plantedShadow(mutant, $0, $1) }.isEmpty }
            #expect(caught, "no scenario catches \(mutant)")
        }
    }

    @Test func everyCorpusInputPasses() throws {
        let files = try corpusFiles("shadow") + corpusFiles("shadow", "regressions")
        #expect(files.count >= 20)
        for (name, bytes) in files {
            if case .fail(let failure) = FuzzEntry.verdict(.shadow, bytes) { Issue.record("\(name): \(failure.message)") }
        }
    }

    /// A recorded trace of host calls is judged offline: QEMU's old unmap-all-then-replay
    /// resync is caught at the line of its invalidation.
    @Test func verifyJudgesRecordedHostCalls() throws {
        let header = #"{"trace":"iommu-conformance","version":1,"surface":"shadow","configuration":{"domains":1,"addressWidth":39,"policy":"window-for-changed-pages"}}"#
        let good = [
            header,
            #"{"op":"write-leaf","domain":0,"iova":"0x1000","size":"0x1000","gpa":"0x5000","permissions":"rw"}"#,
            #"{"op":"invalidate","kind":"dsi","domain":0,"calls":[{"call":"map","domain":0,"iova":"0x1000","length":"0x1000","phys":"0x1000005000","permissions":"rw"},{"call":"notify-unmap","domain":0,"iova":"0x0","length":"0x8000000000"}]}"#,
        ]
        #expect(try ShadowTrace.parse(good.joined(separator: "\n")).verify().conforms)
        let replay = good + [
            #"{"op":"invalidate","kind":"dsi","domain":0,"calls":[{"call":"unmap","domain":0,"iova":"0x0","length":"0x8000000000"},{"call":"map","domain":0,"iova":"0x1000","length":"0x1000","phys":"0x1000005000","permissions":"rw"},{"call":"notify-unmap","domain":0,"iova":"0x0","length":"0x8000000000"}]}"#,
        ]
        let verdict = try ShadowTrace.parse(replay.joined(separator: "\n")).verify()
        #expect(verdict.problem?.line == 4, "\(verdict)")
        #expect(verdict.problem?.message.contains("DMA window") == true)
    }

    @Test(arguments: [
        (#"{"trace":"iommu-conformance","version":1,"surface":"shadow","configuration":{"domains":1,"addressWidth":39,"policy":"lazy"}}"#, "configuration.policy", "not a policy"),
        (#"{"trace":"iommu-conformance","version":2,"surface":"shadow","configuration":{"domains":1,"addressWidth":39,"policy":"qemu"}}"#, "host", "missing"),
        (#"{"trace":"iommu-conformance","version":2,"surface":"shadow","configuration":{"domains":1,"addressWidth":39,"policy":"atomic-replace","host":"vfio-type1"}}"#, "configuration", "atomic replace"),
        (#"{"trace":"iommu-conformance","version":1,"surface":"shadow","configuration":{"domains":1,"addressWidth":39,"policy":"atomic-replace"}}"# + "\n" + #"{"op":"write-leaf","domain":0,"iova":"0x1800","size":"0x1000","gpa":"0x0","permissions":"rw"}"#, "iova", "not aligned"),
        (#"{"trace":"iommu-conformance","version":1,"surface":"shadow","configuration":{"domains":1,"addressWidth":39,"policy":"atomic-replace"}}"# + "\n" + #"{"op":"invalidate","kind":"psi","domain":3,"iova":"0x0","order":0}"#, "domain", "does not exist"),
        (#"{"trace":"iommu-conformance","version":1,"surface":"shadow","configuration":{"domains":1,"addressWidth":39,"policy":"atomic-replace"}}"# + "\n" + #"{"op":"invalidate","kind":"dsi","domain":0,"calls":[{"call":"remap","domain":0}]}"#, "calls[0].call", "not one of"),
    ])
    func malformedTracesAreClearErrors(text: String, field: String, message: String) {
        #expect {
            _ = try ShadowTrace.parse(text)
        } throws: { error in
            guard let error = error as? TraceError else { return false }
            return error.field == field && error.description.contains(message)
        }
    }
}
