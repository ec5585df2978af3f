import PropertyCheck
/// Which implementation a check runs in lockstep with the reference model.
public enum ImplementationChoice: Sendable, Hashable, CustomStringConvertible {
    /// The reference model against itself: a check of the checker.
    case reference
    /// The optimized implementation.
    case optimized
    /// The optimized implementation with a planted bug (`IOMMUMutants`).
    case mutant(String)
    /// A shared library exporting the C plug-in ABI (Sources/CIOMMUCheck/include/iommu_check.h).
    case plugin(PluginReference)

    /// Parses `reference`, `optimized` or `mutant:NAME`.
    public init?(parsing text: String) {
        switch text {
        case "reference": self = .reference
        case "optimized": self = .optimized
        default:
            guard text.hasPrefix("mutant:"), text.count > 7 else { return nil }
            self = .mutant(String(text.dropFirst(7)))
        }
    }

    public var description: String {
        switch self {
        case .reference: "reference"
        case .optimized: "optimized"
        case .mutant(let name): "mutant:\(name)"
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
