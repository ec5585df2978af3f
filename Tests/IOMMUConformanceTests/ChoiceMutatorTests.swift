import Foundation
import IOMMUConformance
import IOMMUSpec
import PropertyCheck
import Testing

/// The fuzz targets' custom mutator works on commands: its mutations are inputs that decode, the
/// same seed gives the same mutation, and deleting a command shortens the case.
@Suite struct ChoiceMutatorTests {
    private func seeds(_ surface: Surface) throws -> [[UInt8]] {
        try corpusFiles(surface.rawValue).prefix(8).map(\.bytes)
    }

    private func commands(_ surface: Surface, _ bytes: [UInt8]) throws -> Int {
        let check = try SurfaceCheck.make(surface, implementation: .optimized)
        let stream = ChoiceStream(.bytes(bytes), maxChoices: 20_000, recordsTrace: true)
        _ = check.makeTestCase()(stream)
        return stream.trace.count
    }

    @Test(arguments: Surface.allCases)
    func mutationsAreInputsThatDecode(surface: Surface) throws {
        let check = try SurfaceCheck.make(surface, implementation: .optimized)
        var changed = 0
        for input in try seeds(surface) {
            for seed in UInt32(0)..<40 {
                let mutated = try #require(ChoiceMutator.mutate(surface, input, maxSize: 4096, seed: seed))
                #expect(mutated.count <= 4096)
                #expect(ChoiceMutator.mutate(surface, input, maxSize: 4096, seed: seed) == mutated, "the same seed gives the same mutation")
                if mutated != input { changed += 1 }
                // A mutation is an input like any other: the optimized implementation conforms on it.
                guard case .fail(let failure) = check.makeTestCase()(ChoiceStream(.bytes(mutated), maxChoices: 20_000)) else { continue }
                Issue.record("a mutation of a \(surface) seed fails: \(failure.message)")
            }
        }
        #expect(changed > 0)
    }

    @Test func deletingACommandShortensTheCase() throws {
        let inputs = try seeds(.addressSpace).filter { try commands(.addressSpace, $0) > 3 }
        let input = try #require(inputs.first)
        let before = try commands(.addressSpace, input)
        let shorter = try (UInt32(0)..<200).compactMap { ChoiceMutator.mutate(.addressSpace, input, maxSize: 4096, seed: $0) }.map { try commands(.addressSpace, $0) }
        #expect(shorter.contains(before - 1), "some mutation deletes exactly one command")
        #expect(shorter.contains(before + 1), "some mutation repeats one command")
    }

    @Test func aCrossOverSplicesTwoInputs() throws {
        let inputs = try seeds(.interrupts)
        let first = try #require(inputs.first), second = try #require(inputs.last)
        let spliced = try #require(ChoiceMutator.crossOver(.interrupts, first, second, maxSize: 4096, seed: 7))
        #expect(spliced != first && spliced != second)
        #expect(try commands(.interrupts, spliced) > 0)
    }
}
