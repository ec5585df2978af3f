import CIOMMUCheck
import IOMMUSpec

/// A plug-in's AddressSpace, called in this process through its function table.
final class PluginAddressSpace: AddressSpace, ReportsForeignFailures {
    let configuration: AddressSpaceConfiguration
    private let library: PluginLibrary
    private let ops: iommu_check_address_space_ops
    private let handle: UnsafeMutableRawPointer
    private let failures = ForeignFailureBox()

    init(library: PluginLibrary, configuration: AddressSpaceConfiguration) throws(ImplementationUnavailable) {
        guard let ops = library.table.pointee.address_space?.pointee else {
            throw ImplementationUnavailable("plug-in '\(library.name)' does not provide the address-space surface")
        }
        self.library = library
        self.ops = ops
        self.configuration = configuration
        let reserved = configuration.reservedRegions.map { iommu_check_range(first: $0.lowerBound, last: $0.upperBound) }
        let created = reserved.withUnsafeBufferPointer { regions in
            var config = iommu_check_as_config(
                page_size: configuration.pageSize, address_width: UInt32(configuration.addressWidth),
                partial_unmap: UInt32(PartialUnmap.allCases.firstIndex(of: configuration.unmapPolicy.partial)!),
                empty_unmap: configuration.unmapPolicy.empty == .succeed ? 0 : 1,
                reserved_count: UInt32(regions.count), reserved: regions.baseAddress, mapping_limit: UInt64(configuration.mappingLimit))
            return ops.create!(&config)
        }
        guard let created else { throw ImplementationUnavailable("plug-in '\(library.name)' refused the address-space configuration \(configuration)") }
        handle = created
    }

    deinit { ops.destroy!(handle) }

    func takeForeignFailure() -> String? { failures.take() }

    /// The error a status code names, or nil for success; an unknown code is recorded.
    private func error(_ status: Int32, _ call: String) -> AddressSpaceError?? {
        if status == 0 { return .some(nil) }
        let all = AddressSpaceError.allCases
        guard status >= 1 && Int(status) <= all.count else {
            failures.record("\(call) returned status \(status), which is not an iommu_check_as_status (0 ... \(all.count))")
            return nil
        }
        return .some(all[Int(status) - 1])
    }

    func map(iova: UInt64, length: UInt64, phys: UInt64, permissions: Permissions) -> Result<Void, AddressSpaceError> {
        let status = ops.map!(handle, iova, length, phys, UInt32(permissions.rawValue))
        switch error(status, "map") {
        case .some(nil): return .success(())
        case .some(let error?): return .failure(error)
        case nil: return .failure(.overlap)
        }
    }

    func unmap(iova: UInt64, length: UInt64) -> Result<UInt64, AddressSpaceError> {
        var bytes: UInt64 = .max
        let status = ops.unmap!(handle, iova, length, &bytes)
        switch error(status, "unmap") {
        case .some(nil): return .success(bytes)
        case .some(let error?): return .failure(error)
        case nil: return .failure(.overlap)
        }
    }

    func unmapAll() -> UInt64 { ops.unmap_all!(handle) }

    func translate(iova: UInt64, access: Access) -> Result<UInt64, TranslationFault> {
        var phys: UInt64 = 0
        let status = ops.translate!(handle, iova, UInt32(access.rawValue), &phys)
        switch status {
        case 0: return .success(phys)
        case 1: return .failure(.notMapped)
        case 2: return .failure(.permissionDenied)
        case 3: return .failure(.outsideAperture)
        default:
            failures.record("translate returned \(status), which is not an iommu_check_fault (0 ... 3)")
            return .failure(.notMapped)
        }
    }

    func mappings(in range: ClosedRange<UInt64>) -> [Extent] {
        var capacity = 16
        for _ in 0..<3 {
            var buffer = [iommu_check_extent](repeating: iommu_check_extent(), count: capacity)
            let count = buffer.withUnsafeMutableBufferPointer { ops.mappings!(handle, range.lowerBound, range.upperBound, $0.baseAddress, capacity) }
            if count > capacity {
                capacity = count
                continue
            }
            let extents = buffer.prefix(count).map { Extent(iova: $0.iova, length: $0.length, phys: $0.phys, permissions: Permissions(rawValue: UInt8(truncatingIfNeeded: $0.permissions))) }
            if let problem = Self.impossible(extents, buffer.prefix(count).map(\.permissions)) { failures.record("mappings returned \(problem)") }
            return extents
        }
        failures.record("mappings kept reporting more extents than the buffer it was just given room for")
        return []
    }

    /// What is impossible about a mapping list: empty or wrapping extents, permission bits
    /// beyond read and write, or extents out of order or overlapping.
    static func impossible(_ extents: [Extent], _ rawPermissions: [UInt32]) -> String? {
        for (index, extent) in extents.enumerated() {
            if extent.length == 0 { return "an extent of length 0 at \(hex(extent.iova))" }
            if extent.iova.addingReportingOverflow(extent.length - 1).overflow { return "an extent that wraps past 2^64 at \(hex(extent.iova))" }
            if rawPermissions[index] & ~3 != 0 || rawPermissions[index] == 0 { return "permissions \(rawPermissions[index]) at \(hex(extent.iova)) (expected 1, 2 or 3)" }
            if index > 0 && extents[index - 1].last >= extent.iova { return "extents out of order or overlapping at \(hex(extent.iova))" }
        }
        return nil
    }
}
