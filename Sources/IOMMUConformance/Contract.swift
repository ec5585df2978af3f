import IOMMUSpec
import Foundation

/// The contract of a surface as the model states it, for `iommu-check explain`: the rules the
/// reference model enforces, each with the section of docs/SEMANTICS.md that gives its sources.
public enum Contract {
    public static func text(_ surface: Surface, policy: String? = nil) throws(ImplementationUnavailable) -> String {
        try SurfaceDefinitions.of(surface).contract(policy: policy)
    }

    /// The evidence table of docs/SEMANTICS.md: for every rule and every preset, its source.
    public static func addressSpaceEvidence() -> String {
        var lines = ["| rule | preset | value | source |", "|---|---|---|---|"]
        let rules = AddressSpacePolicy.switches.map(\.name) + AddressSpacePolicy.commonRules
        for rule in rules {
            for (name, preset) in AddressSpacePolicy.presets {
                let value = AddressSpacePolicy.switches.first { $0.name == rule }?.value(of: preset) ?? "yes"
                let source = AddressSpacePolicy.evidence[name]?[rule] ?? "MISSING"
                lines.append("| \(rule) | \(name) | \(value) | \(source.replacingOccurrences(of: "|", with: "\\|")) |")
            }
        }
        return lines.joined(separator: "\n")
    }
}
