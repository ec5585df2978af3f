import ArgumentParser
import Foundation
import IOMMUConformance
import IOMMUMutants
import IOMMUSpec
import PropertyCheck

// Option values the parser knows, so `--help` lists them, shells complete them, and a wrong
// one is refused with the list.

extension Surface: ExpressibleByArgument {}

extension ImplementationChoice: ExpressibleByArgument {
    public init?(argument: String) {
        guard let choice = ImplementationChoice(parsing: argument) else { return nil }
        self = choice
    }

    public static var allValueStrings: [String] { ["reference", "optimized"] + Mutants.all.map { "mutant:\($0.name)" } }

    public var defaultValueDescription: String { description }
}

/// A run seed as the command line takes it: decimal, 0x-hex, or `random` (a fresh seed,
/// printed before the run starts).
struct SeedArgument: ExpressibleByArgument, Sendable {
    let value: UInt64
    /// Given as `random`.
    let random: Bool

    init?(argument: String) {
        guard let seed = try? CheckConfiguration.parseSeed(argument) else { return nil }
        value = seed
        random = argument == "random"
    }

    static var defaultCompletionKind: CompletionKind { .list(["random"]) }
}

/// Refuses a number option outside `range` (or not finite), with a sentence naming it.
func require<T: Comparable>(_ value: T, in range: ClosedRange<T>, _ option: String, _ meaning: String) throws {
    if let double = value as? Double, !double.isFinite { throw ValidationError("\(option) must be a finite number (\(meaning)), got \(double)") }
    guard range.contains(value) else { throw ValidationError("\(option) must be \(range.lowerBound) to \(range.upperBound) (\(meaning)), got \(value)") }
}

/// One of N slices of a campaign's cases, `K/N` with K from 1.
struct Shard: ExpressibleByArgument, Sendable, CustomStringConvertible {
    let index: Int
    let count: Int

    init?(argument: String) {
        let parts = argument.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]), count >= 1, (1...count).contains(index) else { return nil }
        (self.index, self.count) = (index, count)
    }

    /// This shard's part of `cases`: consecutive, as even as they divide, and with the other
    /// shards' parts exactly `cases`.
    func slice(of cases: Range<Int>) -> Range<Int> {
        let total = cases.count
        return (cases.lowerBound + (index - 1) * total / count)..<(cases.lowerBound + index * total / count)
    }

    var description: String { "\(index)/\(count)" }

    static var defaultCompletionKind: CompletionKind { .list(["1/2", "2/2"]) }
}
