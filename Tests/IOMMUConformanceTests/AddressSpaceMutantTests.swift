import Foundation
import IOMMUConformance
import IOMMUMutants
import PropertyCheck
import Testing

/// Every planted AddressSpace bug is caught within a fixed budget, with a short shrunk trace
/// that replays from its printed choices.
@Suite struct AddressSpaceMutantTests {
    @Test(arguments: AddressSpaceMutants.all.map(\.name))
    func theCheckerCatchesThePlantedBug(mutant: String) throws {
        var configuration = CheckConfiguration(name: "address-space-\(mutant)", seed: 1, cases: 3_000)
        configuration.health.enabled = false
        let check = try AddressSpaceCheck(implementation: .mutant(mutant))
        let report = check.run(configuration)
        let failure = try #require(report.failure, "\(mutant) was not caught in 3000 cases")
        #expect(failure.trace.count <= 3, "shrunk trace longer than expected:\n\(failure)")
        #expect(failure.description.contains("replay: "))

        // The printed choices replay to the same failure.
        var replay = configuration
        replay.replay = [UInt8](Data(base64Encoded: failure.base64)!)
        #expect(check.run(replay).failure?.trace == failure.trace)
        // And the bytes decode through the fuzz entry point to a failure too.
        guard case .fail = FuzzEntry.addressSpace(failure.bytes, implementation: .mutant(mutant)) else {
            Issue.record("the fuzz entry point does not reproduce \(mutant)")
            return
        }
    }
}
