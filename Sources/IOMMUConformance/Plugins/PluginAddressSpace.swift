import CIOMMUCheck
import IOMMUSpec

/// A plug-in's AddressSpace, called in this process through its function table (version 2,
/// or version 1 under the configurations version 1 can state).
final class PluginAddressSpace: AddressSpace, ReportsForeignFailures {
    let configuration: AddressSpaceConfiguration
    private let library: PluginLibrary
    private let table: PluginLibrary.AddressSpaceTable
    private let handle: UnsafeMutableRawPointer
    private let failures = ForeignFailureBox()
    private let destroy: @convention(c) (UnsafeMutableRawPointer?) -> Void

    let observable: AddressSpaceObservables
    /// translate_many (revision 2), where the plug-in has it.
    private let translateMany: (@convention(c) (UnsafeMutableRawPointer?, Int, UnsafePointer<UInt64>?, UnsafePointer<UInt32>?, UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<UInt64>?) -> Void)?

    init(library: PluginLibrary, configuration: AddressSpaceConfiguration) throws(ImplementationUnavailable) {
        guard let table = library.addressSpace else {
            throw ImplementationUnavailable("plug-in '\(library.name)' does not provide the address-space surface")
        }
        self.library = library
        observable = library.capabilities.observable
        if case .v2(let ops) = table { translateMany = ops.translate_many } else { translateMany = nil }
        self.table = table
        self.configuration = configuration
        let created: UnsafeMutableRawPointer?
        switch table {
        case .v2(let ops):
            destroy = ops.destroy!
            created = Self.create(ops, configuration)
        case .v1(let ops):
            destroy = ops.destroy!
            guard let v1 = Self.versionOne(configuration) else {
                throw ImplementationUnavailable("plug-in '\(library.name)' speaks ABI version 1, which cannot state the configuration \(configuration) (version 1 knows page sizes of 4 KiB and more, apertures 0 ... 2^width - 1, reserved regions without kinds, and the policies vfio-type1, virtio-iommu, page-table): rebuild it against ABI version 2")
            }
            created = v1.reserved.withUnsafeBufferPointer { regions in
                var config = v1.config
                config.reserved = regions.baseAddress
                return ops.create!(&config)
            }
        }
        guard let created else { throw ImplementationUnavailable.refused("plug-in '\(library.name)' refused the address-space configuration \(configuration)") }
        handle = created
    }

    deinit { destroy(handle) }

    private static func create(_ ops: iommu_check_address_space_ops, _ c: AddressSpaceConfiguration) -> UnsafeMutableRawPointer? {
        let regions = c.reservedRegions.map {
            iommu_check_reserved_region(first: $0.range.lowerBound, last: $0.range.upperBound, kind: $0.kind == .msi ? 1 : 0, reserved: 0)
        }
        let p = c.policy
        let spelled = p.spelled
        return regions.withUnsafeBufferPointer { regions in
            spelled.withCString { name in
                var config = iommu_check_as_config(
                    page_size: c.pageSize, aperture_first: c.aperture.lowerBound, aperture_last: c.aperture.upperBound,
                    mapping_limit: c.mappingLimit.map { UInt64($0) } ?? .max, reserved_count: UInt32(regions.count), padding: 0,
                    reserved: regions.baseAddress, policy: name,
                    partial_unmap: Self.abiPartial[p.partial] ?? 0, empty_unmap: p.empty == .succeed ? 0 : 1,
                    permission_required: UInt32(RuleStatus.allCases.firstIndex(of: p.permissionRequired)!),
                    phys_wrap: UInt32(PhysWrapRule.allCases.firstIndex(of: p.physWrap)!),
                    write_only_reads: UInt32(WriteOnlyReads.allCases.firstIndex(of: p.writeOnlyReads)!),
                    unmap_all: UInt32(UnmapAllForm.allCases.firstIndex(of: p.unmapAll)!),
                    bytes: UInt32(ByteReport.allCases.firstIndex(of: p.bytes)!),
                    unmap_alignment: p.unmapAlignment ? 1 : 0, ulong_max_overflow: p.ulongMaxIsOverflow ? 1 : 0,
                    has_aperture: p.hasAperture ? 1 : 0, aperture_is_reserved: p.apertureIsReserved ? 1 : 0,
                    msi_doorbell: p.msiDoorbell ? 1 : 0, driver_requirements: p.driverRequirements ? 1 : 0, padding2: 0)
                return ops.create!(&config)
            }
        }
    }

    /// enum iommu_check_partial_unmap, by the model's names.
    static let abiPartial: [PartialUnmap: UInt32] = [
        .rejectBisect: 0, .rejectPartial: 1, .removeOverlapping: 2, .split: 3, .removeUntilPartial: 4, .removeStartingInside: 5, .cutAtEdges: 6,
    ]

    /// The version-1 config for `c`, or nil where version 1 cannot state it.
    static func versionOne(_ c: AddressSpaceConfiguration) -> (config: iommu_check_as_config_v1, reserved: [iommu_check_range])? {
        let width = c.addressWidth
        guard c.pageSize >= 4096, c.aperture == AddressSpaceConfiguration.aperture(width: width), AddressSpaceOptions.abiVersion1Presets.contains(c.policy),
              !(c.policy.msiDoorbell && c.reservedRegions.contains { $0.kind == .msi }), let partial = abiPartial[c.policy.partial], partial <= 3 else { return nil }
        let config = iommu_check_as_config_v1(page_size: c.pageSize, address_width: UInt32(width), partial_unmap: partial, empty_unmap: c.policy.empty == .succeed ? 0 : 1,
                                              reserved_count: UInt32(c.reservedRegions.count), reserved: nil, mapping_limit: c.mappingLimit.map { UInt64($0) } ?? .max)
        return (config, c.reservedRegions.map { iommu_check_range(first: $0.range.lowerBound, last: $0.range.upperBound) })
    }

    func takeForeignFailure() -> String? { failures.take() }
    var foreignFailurePending: Bool { failures.pending }

    /// The error a status code names, or nil for success; an unknown code is recorded.
    private func error(_ status: Int32, _ call: String) -> AddressSpaceError?? {
        if status == 0 { return .some(nil) }
        if status == Int32(IOMMU_CHECK_AS_UNOBSERVABLE.rawValue) && !library.knowsUnobservable {
            failures.record("\(call) returned status \(status), which a plug-in built before ABI revision 2 cannot return (IOMMU_CHECK_AS_UNOBSERVABLE came with revision 2)")
            return nil
        }
        let all = AddressSpaceError.allCases
        guard status >= 1 && Int(status) <= all.count else {
            failures.record("\(call) returned status \(status), which is not an iommu_check_as_status (0 ... \(all.count))")
            return nil
        }
        return .some(all[Int(status) - 1])
    }

    func map(iova: UInt64, length: UInt64, phys: UInt64, permissions: Permissions) -> Result<Void, AddressSpaceError> {
        let status = switch table {
        case .v1(let ops): ops.map!(handle, iova, length, phys, UInt32(permissions.rawValue))
        case .v2(let ops): ops.map!(handle, iova, length, phys, UInt32(permissions.rawValue))
        }
        switch error(status, "map") {
        case .some(nil): return .success(())
        case .some(let error?): return .failure(error)
        case nil: return .failure(.overlap)
        }
    }

    func unmap(iova: UInt64, length: UInt64) -> Result<UInt64, UnmapFailure> {
        var bytes: UInt64 = 0
        let status = switch table {
        case .v1(let ops): ops.unmap!(handle, iova, length, &bytes)
        case .v2(let ops): ops.unmap!(handle, iova, length, &bytes)
        }
        return unmapResult(status, bytes, "unmap")
    }

    func unmapAll(iova: UInt64, length: UInt64) -> Result<UInt64, UnmapFailure> {
        switch table {
        case .v1(let ops):
            // Version 1 has no arguments: the generator gives it none (AddressSpaceOptions.abiVersion1).
            return .success(ops.unmap_all!(handle))
        case .v2(let ops):
            var bytes: UInt64 = 0
            return unmapResult(ops.unmap_all!(handle, iova, length, &bytes), bytes, "unmap_all")
        }
    }

    private func unmapResult(_ status: Int32, _ bytes: UInt64, _ call: String) -> Result<UInt64, UnmapFailure> {
        if status == Int32(IOMMU_CHECK_AS_UNOBSERVABLE.rawValue) {
            failures.record("\(call) returned IOMMU_CHECK_AS_UNOBSERVABLE, which only map may return")
            return .failure(UnmapFailure(.overlap))
        }
        switch error(status, call) {
        case .some(nil): return .success(bytes)
        case .some(let error?): return .failure(UnmapFailure(error, bytes: bytes))
        case nil: return .failure(UnmapFailure(.overlap))
        }
    }

    func translate(iova: UInt64, access: Access) -> Result<UInt64, TranslationFault> {
        var phys: UInt64 = 0
        let status = switch table {
        case .v1(let ops): ops.translate!(handle, iova, UInt32(access.rawValue), &phys)
        case .v2(let ops): ops.translate!(handle, iova, UInt32(access.rawValue), &phys)
        }
        return translation(status, phys, "translate")
    }

    private func translation(_ status: Int32, _ phys: UInt64, _ call: String) -> Result<UInt64, TranslationFault> {
        switch status {
        case 0: return .success(phys)
        case 1: return .failure(.notMapped)
        case 2: return .failure(.permissionDenied)
        case 3: return .failure(.outsideAperture)
        default:
            failures.record("\(call) returned \(status), which is not an iommu_check_fault (0 ... 3)")
            return .failure(.notMapped)
        }
    }

    var batchesTranslations: Bool { translateMany != nil }

    func translations(_ probes: [(iova: UInt64, access: Access)]) -> [Result<UInt64, TranslationFault>] {
        guard let translateMany, !probes.isEmpty else { return probes.map { translate(iova: $0.iova, access: $0.access) } }
        let iovas = probes.map(\.iova), accesses = probes.map { UInt32($0.access.rawValue) }
        // A fault code no plug-in writes: one left unwritten is reported as such.
        var faults = [Int32](repeating: -1, count: probes.count), phys = [UInt64](repeating: 0, count: probes.count)
        faults.withUnsafeMutableBufferPointer { f in phys.withUnsafeMutableBufferPointer { p in translateMany(handle, probes.count, iovas, accesses, f.baseAddress, p.baseAddress) } }
        return zip(faults, phys).map { translation($0, $1, "translate_many") }
    }

    /// More extents than any checked case can hold (the generator makes at most a few hundred).
    static let mostExtents = 1 << 20

    func mappings(in range: ClosedRange<UInt64>) -> [Extent] {
        guard observable.contains(.mappings) else { return [] }
        var capacity = 16
        for _ in 0..<3 {
            var buffer = [iommu_check_extent](repeating: iommu_check_extent(), count: capacity)
            let count = buffer.withUnsafeMutableBufferPointer { out in
                switch table {
                case .v1(let ops): ops.mappings!(handle, range.lowerBound, range.upperBound, out.baseAddress, capacity)
                case .v2(let ops): ops.mappings!(handle, range.lowerBound, range.upperBound, out.baseAddress, capacity)
                }
            }
            // size_t comes in as Int: SIZE_MAX is -1 here, and 2^40 would be 35 TB of buffer.
            guard count >= 0, count <= Self.mostExtents else {
                failures.record("mappings returned a count of \(UInt(bitPattern: count)) extents (at most \(Self.mostExtents) are believable)")
                return []
            }
            if count > capacity {
                capacity = count
                continue
            }
            let extents = buffer.prefix(count).map { Extent(iova: $0.iova, length: $0.length, phys: $0.phys, permissions: Permissions(rawValue: UInt8(truncatingIfNeeded: $0.permissions))) }
            let noAccessAllowed = configuration.policy.permissionRequired != .enforced
            if let problem = Self.impossible(extents, buffer.prefix(count).map(\.permissions), noAccessAllowed: noAccessAllowed) { failures.record("mappings returned \(problem)") }
            return extents
        }
        failures.record("mappings kept reporting more extents than the buffer it was just given room for")
        return []
    }

    /// What is impossible about a mapping list: empty or wrapping extents, permission bits
    /// beyond read and write (or none, where the policy requires some), or extents out of
    /// order or overlapping.
    static func impossible(_ extents: [Extent], _ rawPermissions: [UInt32], noAccessAllowed: Bool) -> String? {
        for (index, extent) in extents.enumerated() {
            if extent.length == 0 { return "an extent of length 0 at \(hex(extent.iova))" }
            if extent.iova.addingReportingOverflow(extent.length - 1).overflow { return "an extent that wraps past 2^64 at \(hex(extent.iova))" }
            if rawPermissions[index] & ~3 != 0 || (rawPermissions[index] == 0 && !noAccessAllowed) {
                return "permissions \(rawPermissions[index]) at \(hex(extent.iova)) (expected \(noAccessAllowed ? "0, " : "")1, 2 or 3)"
            }
            if index > 0 && extents[index - 1].last >= extent.iova { return "extents out of order or overlapping at \(hex(extent.iova))" }
        }
        return nil
    }
}
