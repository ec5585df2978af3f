import Foundation
import IOMMUConformance
import IOMMUConformanceTesting
import IOMMUMutants
import IOMMUOptimized
import IOMMUSpec
import PropertyCheck
import Testing

@Suite struct IsolationTests {
    @Test(.conformance(cases: 2_000)) func theOptimizedIsolationLayerAgreesWithTheModel() throws {
        let report = Conformance.check(try SurfaceCheck.make(.isolation, implementation: .optimized), regressions: regressions(.isolation))
        guard report.generated else { return }
        for kind in IsolationCheck.kindNames {
            #expect((report.statistics.accepted[kind] ?? 0) > 0, "\(kind) never succeeded")
        }
        // other-interface needs both interfaces in one case; no preset has both (a scenario covers it).
        for error in IsolationError.allCases where error != .otherInterface {
            #expect(report.statistics.outcomes.contains { $0.key.outcome == error.rawValue }, "no operation returned \(error)")
        }
        for outcome in ["ok", "kernel-domain", "blocked", "bypass", "no-domain", "not-mapped", "permission-denied"] {
            #expect((report.statistics.outcomes[OutcomeKey(kind: "dma", outcome: outcome)] ?? 0) > 0, "no DMA ended \(outcome)")
        }
    }

    @Test func theModelAgreesWithItself() throws {
        let report = try IsolationCheck(implementation: .reference).run(try testConfiguration("isolation-reference", cases: 300))
        #expect(report.passed, "\(report)")
    }

    @Test(arguments: IsolationMutants.all.map(\.name))
    func theCheckerCatchesThePlantedBug(mutant: String) throws {
        var configuration = CheckConfiguration(name: "isolation-\(mutant)", seed: 1, cases: 2_000)
        configuration.health.enabled = false
        let report = try IsolationCheck(implementation: .mutant(mutant)).run(configuration)
        let failure = try #require(report.failure, "\(mutant) was not caught in 2000 cases")
        #expect(failure.trace.count <= 4, "shrunk trace longer than expected:\n\(failure)")
        guard case .fail = FuzzEntry.verdict(.isolation, failure.bytes, implementation: .mutant(mutant)) else {
            Issue.record("the fuzz entry point does not reproduce \(mutant)")
            return
        }
    }

    static let scenarios: [String] = (try? corpusFiles("isolation", "scenarios", extension: "jsonl").map(\.name)) ?? []

    @Test(arguments: scenarios)
    func scenarioHolds(name: String) throws {
        let url = repositoryRoot.appendingPathComponent("Corpus/isolation/scenarios").appendingPathComponent(name)
        let trace = try IsolationTrace.parse(String(contentsOf: url, encoding: .utf8))
        #expect(trace.steps.allSatisfy { $0.outcome != nil })
        let problems = trace.checkScenario { IsolationOptimized(topology: $0, checkpoint: $1) }
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    /// The handover scenario fails against the mutant that records the owner before blocking.
    @Test func aScenarioCatchesTheHandoverWindow() throws {
        let url = repositoryRoot.appendingPathComponent("Corpus/isolation/scenarios/group-attach-whole-group.jsonl")
        let trace = try IsolationTrace.parse(String(contentsOf: url, encoding: .utf8))
        let problems = trace.checkScenario { plantedIsolation("handover-window", $0, $1) }
        #expect(problems.contains { $0.contains("kernel's default domain") })
    }

    @Test func everyCorpusInputPasses() throws {
        let files = try corpusFiles("isolation") + corpusFiles("isolation", "regressions")
        #expect(files.count >= 20)
        for (name, bytes) in files {
            if case .fail(let failure) = FuzzEntry.verdict(.isolation, bytes) { Issue.record("\(name): \(failure.message)") }
        }
    }

    @Test func aTraceRoundTripsAndVerifies() throws {
        let url = repositoryRoot.appendingPathComponent("Corpus/isolation/scenarios/pasid-group-wide.jsonl")
        let trace = try IsolationTrace.parse(String(contentsOf: url, encoding: .utf8))
        let again = try IsolationTrace.parse(trace.encoded())
        #expect(again.topology == trace.topology)
        #expect(again.steps.map(\.operation) == trace.steps.map(\.operation))
        #expect(again.steps.map(\.outcome) == trace.steps.map(\.outcome))
        #expect(again.verify().conforms)

        var wrong = trace
        // d1 tagged with pasid 100 after d0 attached it: the whole group reaches D0, not "no-domain".
        #expect(trace.steps[5].operation == .dma(device: 1, pasid: 100, iova: 0x10000, access: .read))
        wrong.steps[5].outcome = .dma(.noDomain)
        let verdict = wrong.verify()
        #expect(verdict.problem?.line == trace.steps[5].line, "\(verdict)")
    }

    @Test(arguments: [
        (#"{"trace":"iommu-conformance","version":2,"surface":"isolation","configuration":{"groups":[[0],[0]],"pasidCapable":[false],"contexts":1,"domainOwners":[0],"drivers":["none"],"policy":"iommufd"}}"#, "configuration", "exactly one group"),
        (#"{"trace":"iommu-conformance","version":2,"surface":"isolation","configuration":{"groups":[[0]],"pasidCapable":[1],"contexts":1,"domainOwners":[0],"drivers":["none"],"policy":"iommufd"}}"#, "configuration.pasidCapable[0]", "true or false"),
        (#"{"trace":"iommu-conformance","version":2,"surface":"isolation","configuration":{"groups":[[0]],"pasidCapable":[false],"contexts":1,"domainOwners":[0],"drivers":["vfio"],"policy":"iommufd"}}"#, "configuration.drivers[0]", "expected one of"),
        (#"{"trace":"iommu-conformance","version":2,"surface":"isolation","configuration":{"groups":[[0]],"pasidCapable":[false],"contexts":1,"domainOwners":[0],"drivers":["none"]}}"#, "configuration.policy", "missing"),
        (#"{"trace":"iommu-conformance","version":2,"surface":"isolation","configuration":{"groups":[[0]],"pasidCapable":[false],"contexts":1,"domainOwners":[0],"drivers":["none"],"policy":"vfio"}}"#, "configuration.policy", "vfio-container"),
        (#"{"trace":"iommu-conformance","version":2,"surface":"isolation","configuration":{"groups":[[0]],"pasidCapable":[false],"contexts":1,"domainOwners":[0],"drivers":["none"],"policy":"iommufd","maxPASID":1048576}}"#, "configuration.maxPASID", "2^20 - 1"),
        (#"{"trace":"iommu-conformance","version":1,"surface":"isolation","configuration":{"groups":[[0]],"pasidCapable":[false],"contexts":1,"domainOwners":[0],"drivers":["none"]}}"#, "version", "name the policy"),
    ])
    func malformedTopologiesAreClearErrors(text: String, field: String, message: String) {
        #expect {
            _ = try IsolationTrace.parse(text)
        } throws: { error in
            guard let error = error as? TraceError else { return false }
            return error.field == field && error.description.contains(message)
        }
    }

    /// A Linux back end knows only the errno: EPERM answers not-viable, owned-by-other and
    /// already-claimed alike, so a trace that reports any of them for a not-viable claim conforms.
    @Test func anErrorWithTheSameErrnoConforms() throws {
        let topology = Topology(groups: [[0]], pasidCapable: [false], contexts: 2, domainOwners: [0, 0, 1, 1], initialDrivers: [.kernel], policy: .vfioContainer)
        for (reported, conforms) in [(IsolationError.notViable, true), (.ownedByOther, true), (.alreadyClaimed, true), (.groupOwned, false), (.notOwner, false)] {
            let trace = IsolationTrace(topology: topology, steps: [.init(line: 2, operation: .claim(context: 0, group: 0), outcome: .failed(reported))])
            #expect(trace.verify().conforms == conforms, "\(reported)")
        }
    }

    /// Every preset names itself in explain, and its rules come from its switches.
    @Test func everyPolicyExplainsItsRules() throws {
        for (name, policy) in IsolationPolicy.presets {
            let text = try Contract.text(.isolation, policy: name)
            for rule in policy.rules { #expect(text.contains(rule)) }
            #expect(try IsolationPolicy(parsing: name) == policy)
            #expect(try IsolationPolicy(parsing: policy.spelled) == policy)
        }
        #expect(try IsolationPolicy(parsing: "iommufd:detached=bypass").detached == .bypass)
    }
}
