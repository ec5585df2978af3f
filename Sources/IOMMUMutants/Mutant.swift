import IOMMUSpec

/// A planted bug: a named switch on an optimized implementation that imitates a real failure.
/// Every property the checker states has at least one, and a test proves the checker catches it.
public struct Mutant: Sendable, Hashable, CustomStringConvertible {
    /// Kebab-case name, used on the command line as `--implementation mutant:NAME`.
    public let name: String
    public let surface: Surface
    /// What the bug does, in one sentence.
    public let summary: String
    /// The real failure it imitates.
    public let source: String

    public var description: String { "\(surface)/\(name)" }
}

/// One surface's planted bugs: each a value of the surface's own bug type (the switch the
/// optimized implementation reads) with the mutant that names and explains it.
public struct MutantCatalogue<Bug: Sendable>: Sendable {
    public let surface: Surface
    private let entries: [(bug: Bug, mutant: Mutant)]

    public init(_ surface: Surface, _ entries: [(bug: Bug, name: String, summary: String, source: String)]) {
        self.surface = surface
        self.entries = entries.map { ($0.bug, Mutant(name: $0.name, surface: surface, summary: $0.summary, source: $0.source)) }
    }

    public var all: [Mutant] { entries.map(\.mutant) }

    /// The bug `mutant` plants; nil if it is not one of this surface's.
    public func bug(_ mutant: Mutant) -> Bug? { entries.first { $0.mutant == mutant }?.bug }
}

/// Every planted bug of every surface.
public enum Mutants {
    public static var all: [Mutant] {
        AddressSpaceMutants.catalogue.all + IsolationMutants.catalogue.all + ShadowMutants.catalogue.all + InterruptMutants.catalogue.all
            + ProtectedDMAMutants.catalogue.all
    }

    public static func named(_ name: String) -> Mutant? { all.first { $0.name == name } }
}
