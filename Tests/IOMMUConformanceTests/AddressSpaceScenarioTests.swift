import Foundation
import IOMMUConformance
import IOMMUMutants
import IOMMUOptimized
import IOMMUReference
import IOMMUSpec
import Testing

/// The hand-written scenarios in Corpus/address-space/scenarios state the contract (the
/// virtio-iommu spec's UNMAP examples under each policy, and the map rules): the model must
/// produce every stated outcome, and the optimized implementation must conform.
@Suite struct AddressSpaceScenarioTests {
    static let scenarios: [String] = (try? corpusFiles("address-space", "scenarios", extension: "jsonl").map(\.name)) ?? []

    @Test func thereAreScenarios() { #expect(Self.scenarios.count >= 8) }

    @Test(arguments: scenarios)
    func scenarioHolds(name: String) throws {
        let url = repositoryRoot.appendingPathComponent("Corpus/address-space/scenarios").appendingPathComponent(name)
        let trace = try AddressSpaceTrace.parse(String(contentsOf: url, encoding: .utf8))
        #expect(!trace.steps.isEmpty)
        #expect(trace.steps.allSatisfy { $0.outcome != nil }, "every scenario step states its outcome")
        let problems = trace.checkScenario { AddressSpaceOptimized(configuration: $0) }
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    /// `iommu-check verify` judges a scenario file under every policy it names, and accepts it.
    @Test(arguments: scenarios)
    func verifyAcceptsTheScenario(name: String) throws {
        let url = repositoryRoot.appendingPathComponent("Corpus/address-space/scenarios").appendingPathComponent(name)
        let (surface, verdict) = try RecordedTrace.verify(String(contentsOf: url, encoding: .utf8))
        #expect(surface == .addressSpace)
        #expect(verdict.conforms, "\(verdict)")
    }

    /// Every scenario names the primary source it was written from on its second line.
    @Test(arguments: scenarios)
    func everyScenarioNamesItsSource(name: String) throws {
        let url = repositoryRoot.appendingPathComponent("Corpus/address-space/scenarios").appendingPathComponent(name)
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n")
        #expect(lines.count > 1 && lines[1].hasPrefix("# Source: "), "\(name) does not name its source on line 2")
    }

    /// Verification fails where the trace breaks its policy, under each policy it names.
    @Test func verifyNamesThePolicyAScenarioBreaks() throws {
        let text = """
        {"trace":"iommu-conformance","version":2,"surface":"address-space","configuration":{"pageSize":"0x1000","aperture":["0x0","0xffffffffffff"],"reserved":[]},"policies":["vfio-type1","iommufd"]}
        {"op":"map","iova":"0x0","length":"0x1000","phys":"0x0","permissions":"rw","outcome":"ok"}
        {"op":"unmap","iova":"0x800","length":"0x800","outcome":"bisects-mapping"}
        """
        let verdict = try AddressSpaceTrace.parse(text).verify()
        #expect(verdict.problem?.message.hasPrefix("[vfio-type1]") == true, "\(verdict)")
    }

    /// A scenario can fail: the VFIO examples catch the mutant that keeps straddlers.
    @Test func aScenarioCatchesABrokenImplementation() throws {
        let url = repositoryRoot.appendingPathComponent("Corpus/address-space/scenarios/vfio-type1-unmap-examples.jsonl")
        let trace = try AddressSpaceTrace.parse(String(contentsOf: url, encoding: .utf8))
        let problems = trace.checkScenario { plantedAddressSpace("straddlers-kept", $0) }
        #expect(problems.contains { $0.contains("bisects-mapping") })
    }
}

/// Every input in Corpus/address-space (seeds and saved regressions) replays through the same
/// entry point libFuzzer calls, and passes.
@Suite struct AddressSpaceCorpusTests {
    @Test func everyCorpusInputPasses() throws {
        let files = try corpusFiles("address-space") + corpusFiles("address-space", "regressions")
        #expect(files.count >= 20, "the seed corpus is missing")
        for (name, bytes) in files {
            if case .fail(let failure) = FuzzEntry.addressSpace(bytes) {
                Issue.record("\(name): \(failure.message)")
            }
        }
    }
}
