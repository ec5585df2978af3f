import IOMMUReference
import IOMMUSpec

/// Where a plug-in runs: in this process (fast; a crash ends the campaign) or in a worker
/// process started from `workerExecutable` (the default: a crash or hang fails one case).
public struct PluginReference: Sendable, Hashable, CustomStringConvertible {
    public var path: String
    /// The iommu-check executable to run as `iommu-check worker`; nil runs the plug-in in process.
    public var workerExecutable: String?
    /// Seconds a worker may take for one call before it is killed as hung.
    public var timeout: Double

    public init(path: String, workerExecutable: String?, timeout: Double = 5) {
        self.path = path
        self.workerExecutable = workerExecutable
        self.timeout = timeout
    }

    public var description: String { "plugin:\(path)\(workerExecutable == nil ? " (in process)" : "")" }
}

/// Builds a plug-in's surface objects, in process or through a worker pool. Loading happens
/// once, up front, so a bad library (wrong ABI version, a missing function) is refused before
/// any case runs.
final class PluginHarness: @unchecked Sendable {
    private let library: PluginLibrary?
    private let pool: WorkerPool?
    let name: String
    /// The plug-in ABI version the library speaks.
    let abiVersion: UInt32

    init(_ reference: PluginReference, surface: Surface) throws(ImplementationUnavailable) {
        do throws(PluginError) {
            // Load in this process once to check the table, even when cases run in a worker.
            let library = try PluginLibrary(path: reference.path)
            if surface == .isolation, let refusal = library.isolationRefusal { throw PluginError(refusal) }
            if surface == .shadow, let refusal = library.shadowRefusal { throw PluginError(refusal) }
            guard library.surfaces.contains(surface) else {
                throw PluginError("plug-in '\(library.name)' does not provide the \(surface) surface (it provides: \(library.surfaces.map(\.rawValue).joined(separator: ", ")))")
            }
            name = library.name
            abiVersion = library.abiVersion
            if let executable = reference.workerExecutable {
                let pool = WorkerPool(executable: executable, pluginPath: reference.path, timeout: reference.timeout)
                _ = try pool.connection()
                self.pool = pool
                self.library = nil
            } else {
                self.library = library
                self.pool = nil
            }
        } catch {
            throw ImplementationUnavailable(error.description)
        }
    }

    func addressSpace(_ configuration: AddressSpaceConfiguration) throws(ImplementationUnavailable) -> any AddressSpace {
        if let pool { return try WorkerAddressSpace(pool: pool, configuration: configuration, name: name) }
        return try PluginAddressSpace(library: library!, configuration: configuration)
    }

    func isolation(_ topology: Topology, checkpoint: @escaping () -> Void) throws(ImplementationUnavailable) -> any IsolationSystem {
        if let pool { return try WorkerIsolation(pool: pool, topology: topology, checkpoint: checkpoint, name: name) }
        return try PluginIsolation(library: library!, topology: topology, checkpoint: checkpoint)
    }

    func shadow(_ guest: GuestIOMMU, _ host: ShadowHost) throws(ImplementationUnavailable) -> any ShadowSystem {
        if let pool { return try WorkerShadow(pool: pool, configuration: guest.configuration, guest: guest, host: host, name: name) }
        return try PluginShadow(library: library!, configuration: guest.configuration, guest: guest, host: host)
    }

    func interrupts(_ configuration: InterruptConfiguration, _ host: InterruptHost) throws(ImplementationUnavailable) -> any InterruptSystem {
        if let pool { return try WorkerInterrupts(pool: pool, configuration: configuration, host: host, name: name) }
        return try PluginInterrupts(library: library!, configuration: configuration, host: host)
    }
}

/// The contract violations of an implementation that wraps foreign code (a plug-in), if it does.
struct ForeignFailures {
    /// Cast once per case: a dynamic cast on every step cost the address-space runner 11%.
    private let source: (any ReportsForeignFailures)?

    init(_ implementation: AnyObject) { source = implementation as? ReportsForeignFailures }

    /// What the foreign implementation did wrong since the last call, if anything.
    func take() -> String? {
        source?.takeForeignFailure().map { "the plug-in broke its contract: \($0)" }
    }
}
