/// The semantic areas the checker covers; each is one contract with its own model,
/// implementation, generator, fuzz target, corpus and planted bugs.
public enum Surface: String, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    case addressSpace = "address-space"
    case isolation
    case shadow
    case interrupts
    case protectedDMA = "protected-dma"

    public var description: String { rawValue }
}
