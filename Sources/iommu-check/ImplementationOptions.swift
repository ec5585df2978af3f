import ArgumentParser
import IOMMUConformance
import IOMMUSpec
import PropertyCheck

/// What to check, shared by run, replay, shrink and mutants.
struct ImplementationOptions: ParsableArguments {
    @Option(help: "What to check: reference, optimized, or mutant:NAME. Ignored with --plugin.")
    var implementation: String = "optimized"

    @Option(help: "Check a plug-in: a shared library exporting iommu_check_plugin_v2 (or v1) (docs/PLUGINS.md).")
    var plugin: String?

    @Flag(help: "Run the plug-in in this process (100x faster; a crash in it ends the run). Default: in a worker process.")
    var inProcess = false

    @Option(help: "Seconds a plug-in worker may take for one call before it is killed as hung.")
    var timeout: Double = Self.defaultTimeout
    static let defaultTimeout: Double = 5

    @Option(help: "The contract the implementation claims (address-space: \(AddressSpacePolicy.presetNames.joined(separator: ", ")), optionally :SWITCH=VALUE,...; isolation: \(IsolationPolicy.presetNames.joined(separator: ", ")); shadow: window-for-changed-pages, atomic-replace). Default: drawn per case.")
    var policy: String?

    func validate() throws {
        guard timeout > 0 else { throw ValidationError("--timeout must be positive, got \(timeout)") }
        guard ImplementationChoice(parsing: implementation) != nil else {
            throw ValidationError("--implementation must be reference, optimized or mutant:NAME, got '\(implementation)'")
        }
    }

    var choice: ImplementationChoice {
        if let plugin { return .plugin(PluginReference(path: plugin, workerExecutable: inProcess ? nil : ownExecutable(), timeout: timeout)) }
        return ImplementationChoice(parsing: implementation) ?? .optimized
    }

    /// The options as they go on a replay command line.
    var commandLine: String {
        var parts = [plugin.map { "--plugin \(shellQuoted($0))" } ?? "--implementation \(shellQuoted(implementation))"]
        if plugin != nil && inProcess { parts.append("--in-process") }
        if plugin != nil && timeout != Self.defaultTimeout { parts.append("--timeout \(timeout)") }
        if let policy { parts.append("--policy \(shellQuoted(policy))") }
        return parts.joined(separator: " ")
    }

    func makeCheck(_ surface: Surface, stateful: StatefulOptions = StatefulOptions()) throws -> SurfaceCheck {
        do {
            return try SurfaceCheck.make(surface, implementation: choice, policy: policy, stateful: stateful)
        } catch {
            throw ValidationError(error.description)
        }
    }
}
