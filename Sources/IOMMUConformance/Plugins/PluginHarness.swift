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

    /// The surfaces the plug-in provides. In worker mode a worker loads it and says; the
    /// library is never loaded in this process.
    public func surfaces() throws(PluginError) -> [Surface] {
        if let workerExecutable { return try WorkerConnection(executable: workerExecutable, pluginPath: path, timeout: timeout).loaded.surfaces }
        return try PluginLibrary(path: path).surfaces
    }
}

/// Builds a plug-in's surface objects, in process or through a worker pool. Loading happens
/// once, up front, so a bad library (wrong ABI version, a missing function) is refused before
/// any case runs.
final class PluginHarness: @unchecked Sendable {
    private enum Mode {
        case inProcess(PluginLibrary)
        case worker(WorkerPool)
    }
    private let mode: Mode
    let name: String
    /// The plug-in ABI version the library speaks.
    let abiVersion: UInt32
    /// What the plug-in declares it supports; cases draw inside it.
    let capabilities: PluginCapabilities

    init(_ reference: PluginReference, surface: Surface) throws(ImplementationUnavailable) {
        do throws(PluginError) {
            // In worker mode the library is loaded only in the worker, which reports its table:
            // a constructor that exits, aborts, hangs, prints or changes signal handling would
            // otherwise act in the checker.
            let loaded: LoadedPlugin
            if let executable = reference.workerExecutable {
                let pool = WorkerPool(executable: executable, pluginPath: reference.path, timeout: reference.timeout)
                loaded = try pool.connection().loaded
                mode = .worker(pool)
            } else {
                let library = try PluginLibrary(path: reference.path)
                loaded = LoadedPlugin(library)
                mode = .inProcess(library)
            }
            if let refusal = loaded.refusals[surface] { throw PluginError(refusal) }
            guard loaded.surfaces.contains(surface) else {
                throw PluginError("plug-in '\(loaded.name)' does not provide the \(surface) surface (it provides: \(loaded.surfaces.map(\.rawValue).joined(separator: ", ")))")
            }
            name = loaded.name
            abiVersion = loaded.abiVersion
            capabilities = loaded.capabilities
        } catch {
            throw ImplementationUnavailable(error.description)
        }
    }

    func addressSpace(_ configuration: AddressSpaceConfiguration) throws(ImplementationUnavailable) -> any AddressSpace {
        switch mode {
        case .worker(let pool): try WorkerAddressSpace(pool: pool, configuration: configuration, name: name, observable: capabilities.observable)
        case .inProcess(let library): try PluginAddressSpace(library: library, configuration: configuration)
        }
    }

    func isolation(_ topology: Topology, checkpoint: @escaping () -> Void) throws(ImplementationUnavailable) -> any IsolationSystem {
        switch mode {
        case .worker(let pool): try WorkerIsolation(pool: pool, topology: topology, checkpoint: checkpoint, name: name)
        case .inProcess(let library): try PluginIsolation(library: library, topology: topology, checkpoint: checkpoint)
        }
    }

    func shadow(_ guest: GuestIOMMU, _ host: ShadowHost) throws(ImplementationUnavailable) -> any ShadowSystem {
        switch mode {
        case .worker(let pool): try WorkerShadow(pool: pool, configuration: guest.configuration, guest: guest, host: host, name: name)
        case .inProcess(let library): try PluginShadow(library: library, configuration: guest.configuration, guest: guest, host: host)
        }
    }

    func interrupts(_ configuration: InterruptConfiguration, _ host: InterruptHost) throws(ImplementationUnavailable) -> any InterruptSystem {
        switch mode {
        case .worker(let pool): try WorkerInterrupts(pool: pool, configuration: configuration, host: host, name: name)
        case .inProcess(let library): try PluginInterrupts(library: library, configuration: configuration, host: host)
        }
    }

    func protectedDMA(_ configuration: ProtectedDMAConfiguration, _ memory: any GuestMemoryInterface) throws(ImplementationUnavailable) -> any ProtectedDMASystem {
        switch mode {
        case .worker(let pool): try WorkerProtectedDMA(pool: pool, configuration: configuration, name: name)
        case .inProcess(let library): try PluginProtectedDMA(library: library, configuration: configuration, memory: memory)
        }
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

    /// Whether a failure waits to be taken: the last answer was then not the plug-in's, and
    /// must not be judged or recorded in a trace.
    var pending: Bool { source?.foreignFailurePending ?? false }

    /// Destroys the foreign object now; its failure, if any, fails the case.
    func close() -> String? {
        source?.closeForeign().map { "the plug-in broke its contract: \($0)" }
    }
}
