import ArgumentParser
import IOMMUConformance
import IOMMUSpec
import PropertyCheck

/// What to check, shared by run, replay, shrink and mutants.
struct ImplementationOptions: ParsableArguments {
    @Option(help: "What to check: reference, optimized, or mutant:NAME (a planted bug; 'iommu-check mutants' lists them). Default: optimized. Not with --plugin.")
    var implementation: ImplementationChoice?

    @Option(help: "Check a plug-in: a shared library exporting iommu_check_plugin_v2 (or v1) (docs/PLUGINS.md).")
    var plugin: String?

    @Flag(help: "Run the plug-in in this process (100x faster; a crash in it ends the run). Default: in a worker process.")
    var inProcess = false

    @Option(parsing: .unconditional, help: "Seconds a plug-in worker may take for one call before it is killed as hung.")
    var timeout: Double = Self.defaultTimeout
    static let defaultTimeout: Double = 5

    @Option(help: "The contract the implementation claims (address-space: \(AddressSpacePolicy.presetNames.joined(separator: ", ")), optionally :SWITCH=VALUE,...; isolation: \(IsolationPolicy.presetNames.joined(separator: ", ")); shadow: window-for-changed-pages, atomic-replace). Default: drawn per case.")
    var policy: String?

    @Option(help: "Address space: fix the page size of every case (0x1000, 4096).")
    var pageSize: String?

    @Option(help: "Address space: fix the aperture, FIRST-LAST (0x0-0xffffffffffff).")
    var aperture: String?

    @Option(parsing: .unconditional, help: "Address space: the aperture 0 ... 2^WIDTH-1. Shadow: the IOVA width (39, 48, 57).")
    var addressWidth: Int?

    @Option(help: "Address space and shadow: fix the mapping limit (a count, or 'none').")
    var mappingLimit: String?

    @Option(help: "Address space: fix the reserved regions, 'none' or FIRST-LAST[:reserved|msi],... (0xfee00000-0xfeefffff:msi).")
    var reserved: String?

    @Option(parsing: .unconditional, help: "Shadow: fix the number of domains (1 to 8).")
    var domains: Int?

    @Option(parsing: .unconditional, help: "Interrupts: fix the MSI-X table size (1 to 64 vectors).")
    var vectors: Int?

    @Option(help: "Interrupts: fix whether the host allocates vectors dynamically (true or false).")
    var dynamicAllocation: Bool?

    /// The configuration axes fixed on the command line, or a sentence naming the bad one.
    func fixed() throws -> FixedConfiguration {
        var fixed = FixedConfiguration()
        func number(_ text: String, _ option: String) throws -> UInt64 {
            guard let value = parseAddress(text) else { throw ValidationError("\(option) '\(text)' is not a 0x-hex or decimal number") }
            return value
        }
        func range(_ text: String, _ option: String) throws -> ClosedRange<UInt64> {
            let parts = text.split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw ValidationError("\(option) '\(text)' is not FIRST-LAST") }
            let first = try number(String(parts[0]), option), last = try number(String(parts[1]), option)
            guard first <= last else { throw ValidationError("\(option) '\(text)': FIRST is above LAST") }
            return first...last
        }
        if let pageSize { fixed.pageSize = try number(pageSize, "--page-size") }
        if let aperture { fixed.aperture = try range(aperture, "--aperture") }
        fixed.addressWidth = addressWidth
        if let mappingLimit {
            if mappingLimit == "none" { fixed.mappingLimit = .some(nil) } else {
                guard let count = Int(mappingLimit), count >= 1, String(count) == mappingLimit else { throw ValidationError("--mapping-limit '\(mappingLimit)' is not a positive count or 'none'") }
                fixed.mappingLimit = .some(count)
            }
        }
        if let reserved {
            fixed.reservedRegions = try reserved == "none" ? [] : reserved.split(separator: ",").map { item in
                let parts = item.split(separator: ":", omittingEmptySubsequences: false)
                guard parts.count <= 2 else { throw ValidationError("--reserved '\(item)' is not FIRST-LAST[:KIND]") }
                let kind = parts.count == 2 ? ReservedKind(rawValue: String(parts[1])) : .reserved
                guard let kind else { throw ValidationError("--reserved '\(item)': the kind is reserved or msi") }
                return ReservedRegion(try range(String(parts[0]), "--reserved"), kind: kind)
            }
        }
        fixed.domains = domains
        fixed.vectors = vectors
        fixed.dynamicAllocation = dynamicAllocation
        return fixed
    }

    func validate() throws {
        _ = try fixed()
        try require(timeout, in: 0.001...86_400, "--timeout", "seconds per plug-in call")
        if plugin != nil, let implementation {
            throw ValidationError("--plugin and --implementation \(implementation) both say what to check: give one")
        }
        if plugin == nil && (inProcess || timeout != Self.defaultTimeout) {
            throw ValidationError("\(inProcess ? "--in-process" : "--timeout") applies to a plug-in: give --plugin")
        }
        if let addressWidth { try require(addressWidth, in: 1...64, "--address-width", "bits") }
        if let domains { try require(domains, in: 1...8, "--domains", "shadow domains") }
        if let vectors { try require(vectors, in: 1...64, "--vectors", "MSI-X vectors") }
    }

    var choice: ImplementationChoice {
        if let plugin { return .plugin(PluginReference(path: plugin, workerExecutable: inProcess ? nil : ownExecutable(), timeout: timeout)) }
        return implementation ?? .optimized
    }

    /// The options as they go on a replay command line.
    var commandLine: String {
        var parts = [plugin.map { "--plugin \(shellQuoted($0))" } ?? "--implementation \(shellQuoted((implementation ?? .optimized).description))"]
        if plugin != nil && inProcess { parts.append("--in-process") }
        if plugin != nil && timeout != Self.defaultTimeout { parts.append("--timeout \(timeout)") }
        if let policy { parts.append("--policy \(shellQuoted(policy))") }
        let axes: [(String, String?)] = [("--page-size", pageSize), ("--aperture", aperture), ("--address-width", addressWidth.map(String.init)),
                                         ("--mapping-limit", mappingLimit), ("--reserved", reserved), ("--domains", domains.map(String.init)),
                                         ("--vectors", vectors.map(String.init)), ("--dynamic-allocation", dynamicAllocation.map(String.init))]
        for case let (option, value?) in axes { parts.append("\(option) \(shellQuoted(value))") }
        return parts.joined(separator: " ")
    }

    /// The check, or exit 64 with the sentence that says why it cannot be made.
    func makeCheck(_ surface: Surface, stateful: StatefulOptions = StatefulOptions()) throws -> SurfaceCheck {
        do {
            return try makeCheckOrReason(surface, stateful: stateful)
        } catch let error as ImplementationUnavailable {
            throw refuse(error.description)
        }
    }

    /// The check, or why it cannot be made (`run` reports it after the other surfaces ran).
    func makeCheckOrReason(_ surface: Surface, stateful: StatefulOptions) throws -> SurfaceCheck {
        try SurfaceCheck.make(surface, implementation: choice, policy: policy, stateful: stateful, fixed: fixed())
    }
}
