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

/// Every planted bug of every surface.
public enum Mutants {
    public static var all: [Mutant] { AddressSpaceMutants.all + IsolationMutants.all + ShadowMutants.all + InterruptMutants.all }

    public static func named(_ name: String) -> Mutant? { all.first { $0.name == name } }
}
