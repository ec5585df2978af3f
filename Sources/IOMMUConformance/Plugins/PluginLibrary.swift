import CIOMMUCheck
import Foundation
import IOMMUSpec

/// A loaded plug-in library: its tables, checked once at load time (the ABI version, a name,
/// and every function pointer of every surface it claims). A version-2 library exports
/// `iommu_check_plugin_v2`; a version-1 library (`iommu_check_plugin_v1`) still loads, and its
/// tables are kept as they are, to be called the version-1 way.
public final class PluginLibrary: @unchecked Sendable {
    public let path: String
    public let name: String
    /// The ABI version the library was built for (1 or 2).
    public let abiVersion: UInt32
    let addressSpace: AddressSpaceTable?
    let isolation: iommu_check_isolation_ops?
    let shadow: iommu_check_shadow_ops?
    let interrupts: iommu_check_interrupt_ops?
    let protectedDMA: iommu_check_protected_dma_ops?
    /// Why a table the library has is not used, by surface: a version-1 isolation or shadow
    /// table (none for a version-2 library).
    let refusals: [Surface: String]
    /// What the library declares it supports (revision 1 and later; empty before).
    public let capabilities: PluginCapabilities
    /// Whether its table was built at revision 2 or later, which added IOMMU_CHECK_AS_UNOBSERVABLE.
    let knowsUnobservable: Bool
    private let handle: UnsafeMutableRawPointer

    /// The address-space table in the version the plug-in speaks.
    enum AddressSpaceTable {
        case v1(iommu_check_address_space_ops_v1)
        case v2(iommu_check_address_space_ops)
    }

    /// The surfaces the plug-in provides.
    public var surfaces: [Surface] {
        var result: [Surface] = []
        if addressSpace != nil { result.append(.addressSpace) }
        if isolation != nil { result.append(.isolation) }
        if shadow != nil { result.append(.shadow) }
        if interrupts != nil { result.append(.interrupts) }
        if protectedDMA != nil { result.append(.protectedDMA) }
        return result
    }

    /// Loads and checks the library at `path`. Errors say what is wrong and what was expected.
    public init(path: String) throws(PluginError) {
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            throw PluginError("cannot load '\(path)': \(String(cString: dlerror()))")
        }
        do throws(PluginError) {
            let loaded = try Self.load(handle, path)
            guard loaded.addressSpace != nil || loaded.isolation != nil || loaded.shadow != nil || loaded.interrupts != nil || loaded.protectedDMA != nil
                    || loaded.refusedIsolation || loaded.refusedShadow else {
                throw PluginError("'\(path)' (\(loaded.name)) provides no surface: every table pointer is NULL")
            }
            if let problem = Self.missingFunction(loaded) {
                throw PluginError("'\(path)' (\(loaded.name)): \(problem) is NULL; every function of a provided surface is required")
            }
            (abiVersion, name, addressSpace, isolation, shadow, interrupts) = (loaded.version, loaded.name, loaded.addressSpace, loaded.isolation, loaded.shadow, loaded.interrupts)
            protectedDMA = loaded.protectedDMA
            capabilities = loaded.capabilities
            knowsUnobservable = loaded.revision >= 2
            let shadowRefusal = loaded.refusedShadow ? "'\(path)' (\(loaded.name)) has a version-1 shadow table, which knew one host (a raw page table with atomic replace) and no way to report running out of host mappings; export iommu_check_plugin_v2 and implement the version-2 shadow table: the config's window, locality, host and mapping limit, host calls under the host's rules, and a result from invalidate (docs/PLUGINS.md)" : nil
            let isolationRefusal = loaded.refusedIsolation ? "'\(path)' (\(loaded.name)) has a version-1 isolation table, which followed a contract Linux does not have (PASIDs per device, a second claim by the same owner shared); export iommu_check_plugin_v2 and implement the version-2 isolation table: the topology's policy fields, claim_device, release_device, attach_device, detach_device, PASIDs attached per group (docs/PLUGINS.md)" : nil
            refusals = [Surface.isolation: isolationRefusal, Surface.shadow: shadowRefusal].compactMapValues { $0 }
        } catch {
            dlclose(handle)
            throw error
        }
        self.path = path
        self.handle = handle
    }

    private typealias Loaded = (version: UInt32, name: String, addressSpace: AddressSpaceTable?, isolation: iommu_check_isolation_ops?,
                                shadow: iommu_check_shadow_ops?, interrupts: iommu_check_interrupt_ops?, refusedIsolation: Bool, refusedShadow: Bool,
                                capabilities: PluginCapabilities, revision: UInt32, protectedDMA: iommu_check_protected_dma_ops?)

    /// Reads the table through whichever entry point the library exports, copying it (its
    /// functions stay valid while the library is loaded).
    private static func load(_ handle: UnsafeMutableRawPointer, _ path: String) throws(PluginError) -> Loaded {
        if let symbol = dlsym(handle, "iommu_check_plugin_v2") {
            guard let table = unsafeBitCast(symbol, to: iommu_check_plugin_entry.self)() else {
                throw PluginError("iommu_check_plugin_v2 in '\(path)' returned NULL")
            }
            // A table built before revision 3 ends before protected_dma: read only what it has.
            let revision = UnsafeRawPointer(table).load(fromByteOffset: MemoryLayout<iommu_check_plugin>.offset(of: \.abi_revision)!, as: UInt32.self)
            let plugin = revision >= 3 ? table.pointee : prefix(table, upTo: MemoryLayout<iommu_check_plugin>.offset(of: \.protected_dma)!)
            guard plugin.abi_version == 2 else {
                throw PluginError("'\(path)' exports iommu_check_plugin_v2 but its table says ABI version \(plugin.abi_version); set abi_version = IOMMU_CHECK_ABI_VERSION")
            }
            guard plugin.abi_revision <= IOMMU_CHECK_ABI_REVISION else {
                throw PluginError("'\(path)' was built against a newer iommu_check.h (revision \(plugin.abi_revision)); this checker reads revisions up to \(IOMMU_CHECK_ABI_REVISION): update iommu-check")
            }
            let named = try name(plugin.name, path)
            // The field exists only in tables built at revision 1 or later.
            // Fields appended at revision 2 are read only from tables built with them.
            let revision2 = plugin.abi_revision >= 2
            let capabilities = plugin.abi_revision >= 1 ? try plugin.capabilities.map { p throws(PluginError) in
                try PluginCapabilities(revision2 ? p.pointee : prefix(p, upTo: MemoryLayout<iommu_check_capabilities>.offset(of: \.unobservable)!), name: named)
            } : nil
            let addressSpace = plugin.address_space.map { p in
                revision2 ? p.pointee : prefix(p, upTo: MemoryLayout<iommu_check_address_space_ops>.offset(of: \.translate_many)!)
            }
            return (2, named, addressSpace.map { .v2($0) }, plugin.isolation?.pointee, plugin.shadow?.pointee, plugin.interrupts?.pointee, false, false,
                    capabilities ?? PluginCapabilities(), plugin.abi_revision, plugin.protected_dma?.pointee)
        }
        if let symbol = dlsym(handle, "iommu_check_plugin_v1") {
            guard let table = unsafeBitCast(symbol, to: iommu_check_plugin_entry_v1.self)() else {
                throw PluginError("iommu_check_plugin_v1 in '\(path)' returned NULL")
            }
            let plugin = table.pointee
            guard plugin.abi_version == 1 else {
                throw PluginError("'\(path)' was built for ABI version \(plugin.abi_version); this checker speaks versions 1 and 2: rebuild it against this iommu_check.h and export iommu_check_plugin_v2")
            }
            return (1, try name(plugin.name, path), plugin.address_space.map { .v1($0.pointee) }, nil, nil, plugin.interrupts?.pointee, plugin.isolation != nil, plugin.shadow != nil,
                    PluginCapabilities(), 0, nil)
        }
        throw PluginError("'\(path)' does not export iommu_check_plugin_v2 (see Sources/CIOMMUCheck/include/iommu_check.h)")
    }

    deinit { dlclose(handle) }

    /// A copy of the C struct at `pointer` of which an older plug-in's table holds only the
    /// first `bytes`: the fields after them are zero (absent).
    private static func prefix<T>(_ pointer: UnsafePointer<T>, upTo bytes: Int) -> T {
        let copy = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<T>.size, alignment: MemoryLayout<T>.alignment)
        defer { copy.deallocate() }
        copy.initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<T>.size)
        copy.copyMemory(from: pointer, byteCount: bytes)
        return copy.load(as: T.self)
    }

    private static func name(_ pointer: UnsafePointer<CChar>?, _ path: String) throws(PluginError) -> String {
        let name = pointer.map { String(cString: $0) } ?? ""
        guard !name.isEmpty else { throw PluginError("'\(path)' has no name in its plug-in table") }
        // The name is printed in every report: a newline or an escape code in it could forge a
        // "passed" line or hide text on a terminal.
        guard name.count <= 200, name.unicodeScalars.allSatisfy({ !$0.properties.isDefaultIgnorableCodePoint && $0.value >= 0x20 && $0.value != 0x7F && !(0x80...0x9F).contains($0.value) }) else {
            throw PluginError("'\(path)' has a plug-in name with a control character or over 200 characters (\(quoted(String(name.prefix(60))))); the name must be one line of printable text")
        }
        return name
    }

    /// The first NULL function pointer of a provided surface, named as in the header.
    private static func missingFunction(_ loaded: Loaded) -> String? {
        let (addressSpace, isolation, shadow, interrupts) = (loaded.addressSpace, loaded.isolation, loaded.shadow, loaded.interrupts)
        func first(_ surface: String, _ named: [(String, Bool)]) -> String? { named.first { !$0.1 }.map { "\(surface)->\($0.0)" } }
        switch addressSpace {
        case .v1(let ops):
            if let missing = first("address_space", [("create", ops.create != nil), ("destroy", ops.destroy != nil), ("map", ops.map != nil), ("unmap", ops.unmap != nil),
                                                     ("unmap_all", ops.unmap_all != nil), ("translate", ops.translate != nil), ("mappings", ops.mappings != nil)]) { return missing }
        case .v2(let ops):
            // mappings may be NULL where the plug-in says they cannot be observed.
            let mappings = ops.mappings != nil || !loaded.capabilities.observable.contains(.mappings)
            if let missing = first("address_space", [("create", ops.create != nil), ("destroy", ops.destroy != nil), ("map", ops.map != nil), ("unmap", ops.unmap != nil),
                                                     ("unmap_all", ops.unmap_all != nil), ("translate", ops.translate != nil), ("mappings", mappings)]) { return missing }
        case nil: break
        }
        if let ops = isolation, let missing = first("isolation", [
            ("create", ops.create != nil), ("destroy", ops.destroy != nil), ("bind", ops.bind != nil), ("claim", ops.claim != nil),
            ("release", ops.release != nil), ("attach", ops.attach != nil), ("detach", ops.detach != nil),
            ("attach_pasid", ops.attach_pasid != nil), ("detach_pasid", ops.detach_pasid != nil), ("dma", ops.dma != nil), ("owner", ops.owner != nil),
            ("claim_device", ops.claim_device != nil), ("release_device", ops.release_device != nil),
            ("attach_device", ops.attach_device != nil), ("detach_device", ops.detach_device != nil),
        ]) { return missing }
        if let ops = shadow, let missing = first("shadow", [("create", ops.create != nil), ("destroy", ops.destroy != nil), ("invalidate", ops.invalidate != nil)]) { return missing }
        if let ops = interrupts, let missing = first("interrupts", [
            ("create", ops.create != nil), ("destroy", ops.destroy != nil), ("set_enabled", ops.set_enabled != nil),
            ("set_function_mask", ops.set_function_mask != nil), ("write_entry", ops.write_entry != nil),
            ("set_vector_mask", ops.set_vector_mask != nil), ("set_pasid", ops.set_pasid != nil),
            ("pending_bits", ops.pending_bits != nil), ("host_triggered", ops.host_triggered != nil),
        ]) { return missing }
        if let ops = loaded.protectedDMA, let missing = first("protected_dma", [
            ("create", ops.create != nil), ("destroy", ops.destroy != nil), ("map", ops.map != nil), ("unmap", ops.unmap != nil),
            ("sync_for_device", ops.sync_for_device != nil), ("sync_for_cpu", ops.sync_for_cpu != nil), ("alloc_coherent", ops.alloc_coherent != nil),
            ("free_coherent", ops.free_coherent != nil), ("setup_virtqueue", ops.setup_virtqueue != nil),
        ]) { return missing }
        return nil
    }
}

/// A plug-in that cannot be loaded or used, with a sentence that says why.
public struct PluginError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Implemented by wrappers around foreign code: whether the code broke the ABI (an unknown
/// status code, an impossible value, a missing result) or crashed or hung in a worker. The
/// differential runners ask after every step and report it as a conformance failure.
public protocol ReportsForeignFailures: AnyObject {
    func takeForeignFailure() -> String?
    var foreignFailurePending: Bool { get }
    /// Ends the foreign object at the end of a case (`destroy`), and what went wrong if
    /// anything did: a `destroy` that crashes fails the case.
    func closeForeign() -> String?
}

extension ReportsForeignFailures {
    public func closeForeign() -> String? { nil }
}
