import ArgumentParser
import IOMMUConformance
import IOMMUSpec
import PropertyCheck

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the contract of a surface (and policy) as the reference model enforces it.",
        discussion: helpText("""
        Each rule is stated as the model checks it; docs/SEMANTICS.md gives every rule its source
        (a spec section, a UAPI comment, a kernel or QEMU file, a seed).

        Examples:
          iommu-check explain                                  every surface and policy
          iommu-check explain --surface address-space --policy iommufd
          iommu-check explain --surface shadow --json
          iommu-check explain --surface address-space --evidence   every rule's source, per preset
        """)
    )

    @Option(help: "The surface. Default: all.")
    var surface: Surface?

    @Option(help: "Only this policy (address-space: \(AddressSpacePolicy.presetNames.joined(separator: ", ")), optionally :SWITCH=VALUE,...; isolation: \(IsolationPolicy.presetNames.joined(separator: ", ")); shadow: window-for-changed-pages, atomic-replace).")
    var policy: String?

    @Flag(help: "Print an array of objects: surface, policy, contract.")
    var json = false

    @Flag(help: "Print the address-space evidence table (every rule of every preset with its source), as docs/SEMANTICS.md holds it.")
    var evidence = false

    struct Output: Codable {
        var surface: String
        var policy: String?
        var contract: String
    }

    func run() throws {
        if evidence {
            guard surface == .addressSpace, policy == nil, !json else { throw ValidationError("--evidence goes with --surface address-space alone") }
            print(Contract.addressSpaceEvidence())
            return
        }
        var surfaces = Surface.allCases
        if let surface {
            surfaces = [surface]
        } else if policy != nil {
            throw ValidationError("--policy needs --surface: policies belong to one surface")
        }
        var outputs: [Output] = []
        for surface in surfaces {
            do {
                outputs.append(Output(surface: surface.rawValue, policy: policy, contract: try Contract.text(surface, policy: policy)))
            } catch {
                throw ValidationError(error.description)
            }
        }
        if json {
            printJSON(outputs)
        } else {
            print(outputs.map(\.contract).joined(separator: "\n\n"))
        }
    }
}
