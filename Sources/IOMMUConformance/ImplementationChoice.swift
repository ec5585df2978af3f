import IOMMUMutants
import PropertyCheck

/// Which implementation a check runs in lockstep with the reference model.
public enum ImplementationChoice: Sendable, Hashable, CustomStringConvertible {
    /// The reference model against itself: a check of the checker.
    case reference
    /// The optimized implementation.
    case optimized
    /// The optimized implementation with a planted bug (`IOMMUMutants`).
    case mutant(Mutant)
    /// A shared library exporting the C plug-in ABI (Sources/CIOMMUCheck/include/iommu_check.h).
    case plugin(PluginReference)

    /// Parses `reference`, `optimized` or `mutant:NAME` (a planted bug of any surface); nil for
    /// anything else, an unknown mutant included.
    public init?(parsing text: String) {
        switch text {
        case "reference": self = .reference
        case "optimized": self = .optimized
        default:
            guard text.hasPrefix("mutant:"), let mutant = Mutants.named(String(text.dropFirst(7))) else { return nil }
            self = .mutant(mutant)
        }
    }

    public var description: String {
        switch self {
        case .reference: "reference"
        case .optimized: "optimized"
        case .mutant(let mutant): "mutant:\(mutant.name)"
        case .plugin(let plugin): plugin.description
        }
    }
}

/// An implementation that could not be built for a configuration (an unknown mutant name,
/// a plug-in that refuses the configuration).
public struct ImplementationUnavailable: Error, CustomStringConvertible {
    public let description: String
    /// The implementation declined the case's configuration (a plug-in's `create` returned
    /// NULL): the case is counted as refused, not failed, and a run made mostly of refusals
    /// fails its health check, naming them.
    public var refusedConfiguration = false
    public init(_ description: String) { self.description = description }

    static func refused(_ what: String) -> ImplementationUnavailable {
        var error = ImplementationUnavailable(what)
        error.refusedConfiguration = true
        return error
    }
}

/// The verdict of a case whose implementation could not be created: a refused configuration
/// is a discard counted under its description, anything else fails the case.
func creationVerdict(_ error: any Error, _ configuration: String, _ stream: ChoiceStream) -> CaseVerdict {
    if let unavailable = error as? ImplementationUnavailable, unavailable.refusedConfiguration {
        stream.event(refusedEvent + configuration)
        return .discard
    }
    return .fail(CaseFailure(message: "the implementation could not be created for \(configuration): \(error)"))
}

/// A choice resolved for one surface, once, before any case runs: a mutant becomes the bug the
/// optimized implementation plants, a plug-in is loaded (and refused now if it is unusable).
enum ResolvedImplementation<Bug: Sendable>: Sendable {
    case reference
    case optimized
    case mutant(Bug)
    case plugin(PluginHarness)

    init(_ choice: ImplementationChoice, _ catalogue: MutantCatalogue<Bug>) throws(ImplementationUnavailable) {
        switch choice {
        case .reference: self = .reference
        case .optimized: self = .optimized
        case .mutant(let mutant):
            guard let bug = catalogue.bug(mutant) else {
                throw ImplementationUnavailable("\(mutant.name) is a planted bug of the \(mutant.surface) surface, not of \(catalogue.surface); its mutants: \(catalogue.all.map(\.name).joined(separator: ", "))")
            }
            self = .mutant(bug)
        case .plugin(let reference): self = .plugin(try PluginHarness(reference, surface: catalogue.surface))
        }
    }

    var plugin: PluginHarness? {
        if case .plugin(let harness) = self { return harness }
        return nil
    }
}
