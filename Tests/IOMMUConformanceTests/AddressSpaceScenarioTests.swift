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

    /// A scenario can fail: the VFIO examples catch the mutant that keeps straddlers.
    @Test func aScenarioCatchesABrokenImplementation() throws {
        let url = repositoryRoot.appendingPathComponent("Corpus/address-space/scenarios/vfio-type1-unmap-examples.jsonl")
        let trace = try AddressSpaceTrace.parse(String(contentsOf: url, encoding: .utf8))
        let problems = trace.checkScenario { AddressSpaceMutants.make("straddlers-kept", configuration: $0)! }
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
