import CIOMMUCheck
import Foundation
import IOMMUSpec

/// A loaded plug-in library: its table, checked once at load time (the ABI version, a name,
/// and every function pointer of every surface it claims).
public final class PluginLibrary: @unchecked Sendable {
    public let path: String
    public let name: String
    let table: UnsafePointer<iommu_check_plugin>
    private let handle: UnsafeMutableRawPointer

    /// The surfaces the plug-in provides.
    public var surfaces: [Surface] {
        var result: [Surface] = []
        if table.pointee.address_space != nil { result.append(.addressSpace) }
        if table.pointee.isolation != nil { result.append(.isolation) }
        if table.pointee.shadow != nil { result.append(.shadow) }
        if table.pointee.interrupts != nil { result.append(.interrupts) }
        return result
    }

    /// Loads and checks the library at `path`. Errors say what is wrong and what was expected.
    public init(path: String) throws(PluginError) {
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            throw PluginError("cannot load '\(path)': \(String(cString: dlerror()))")
        }
        guard let symbol = dlsym(handle, "iommu_check_plugin_v1") else {
            dlclose(handle)
            throw PluginError("'\(path)' does not export iommu_check_plugin_v1 (see Sources/CIOMMUCheck/include/iommu_check.h)")
        }
        let entry = unsafeBitCast(symbol, to: iommu_check_plugin_entry.self)
        guard let table = entry() else {
            dlclose(handle)
            throw PluginError("iommu_check_plugin_v1 in '\(path)' returned NULL")
        }
        // Read everything needed for a message before dlclose unmaps the table.
        let version = table.pointee.abi_version
        guard version == IOMMU_CHECK_ABI_VERSION else {
            dlclose(handle)
            throw PluginError("'\(path)' was built for ABI version \(version); this checker speaks version \(IOMMU_CHECK_ABI_VERSION): rebuild it against this iommu_check.h")
        }
        let name = table.pointee.name.map { String(cString: $0) } ?? ""
        guard !name.isEmpty else {
            dlclose(handle)
            throw PluginError("'\(path)' has no name in its plug-in table")
        }
        if let problem = Self.missingFunction(table.pointee) {
            // `problem` and `name` are Swift strings already; the table is not read again.
            dlclose(handle)
            throw PluginError("'\(path)' (\(name)): \(problem) is NULL; every function of a provided surface is required")
        }
        guard table.pointee.address_space != nil || table.pointee.isolation != nil || table.pointee.shadow != nil || table.pointee.interrupts != nil else {
            dlclose(handle)
            throw PluginError("'\(path)' (\(name)) provides no surface: every table pointer is NULL")
        }
        self.path = path
        self.name = name
        self.table = table
        self.handle = handle
    }

    deinit { dlclose(handle) }

    /// The first NULL function pointer of a provided surface, named as in the header.
    private static func missingFunction(_ plugin: iommu_check_plugin) -> String? {
        if let ops = plugin.address_space?.pointee {
            let named: [(String, Bool)] = [("create", ops.create != nil), ("destroy", ops.destroy != nil), ("map", ops.map != nil), ("unmap", ops.unmap != nil),
                                           ("unmap_all", ops.unmap_all != nil), ("translate", ops.translate != nil), ("mappings", ops.mappings != nil)]
            if let missing = named.first(where: { !$0.1 }) { return "address_space->\(missing.0)" }
        }
        if let ops = plugin.isolation?.pointee {
            let named: [(String, Bool)] = [("create", ops.create != nil), ("destroy", ops.destroy != nil), ("bind", ops.bind != nil), ("claim", ops.claim != nil),
                                           ("release", ops.release != nil), ("attach", ops.attach != nil), ("detach", ops.detach != nil),
                                           ("attach_pasid", ops.attach_pasid != nil), ("detach_pasid", ops.detach_pasid != nil), ("dma", ops.dma != nil), ("owner", ops.owner != nil)]
            if let missing = named.first(where: { !$0.1 }) { return "isolation->\(missing.0)" }
        }
        if let ops = plugin.shadow?.pointee {
            let named: [(String, Bool)] = [("create", ops.create != nil), ("destroy", ops.destroy != nil), ("invalidate", ops.invalidate != nil)]
            if let missing = named.first(where: { !$0.1 }) { return "shadow->\(missing.0)" }
        }
        if let ops = plugin.interrupts?.pointee {
            let named: [(String, Bool)] = [("create", ops.create != nil), ("destroy", ops.destroy != nil), ("set_enabled", ops.set_enabled != nil),
                                           ("set_function_mask", ops.set_function_mask != nil), ("write_entry", ops.write_entry != nil),
                                           ("set_vector_mask", ops.set_vector_mask != nil), ("set_pasid", ops.set_pasid != nil),
                                           ("pending_bits", ops.pending_bits != nil), ("host_triggered", ops.host_triggered != nil)]
            if let missing = named.first(where: { !$0.1 }) { return "interrupts->\(missing.0)" }
        }
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
}
