import IOMMUSpec

/// An IOMMU domain kept as a raw page table keeps it (the `page-table` policy: an unmap removes
/// exactly what it covers), written as plainly as possible: the mappings in IOVA order.
public class PageTableIOMMU: AddressSpace {
    public let configuration: AddressSpaceConfiguration
    /// Disjoint, sorted by IOVA.
    private(set) var mappings: [Extent] = []

    public required init(configuration: AddressSpaceConfiguration) {
        self.configuration = configuration
    }

    private var page: UInt64 { configuration.pageSize }

    /// The last IOVA of `length` bytes at `iova`, nil if the range wraps past 2^64.
    private func last(_ iova: UInt64, _ length: UInt64) -> UInt64? {
        let (last, wraps) = iova.addingReportingOverflow(length - 1)
        return wraps ? nil : last
    }

    public func map(iova: UInt64, length: UInt64, phys: UInt64, permissions: Permissions) -> Result<Void, AddressSpaceError> {
        guard !permissions.intersection(.readWrite).isEmpty else { return .failure(.noPermission) }
        guard length > 0 else { return .failure(.zeroLength) }
        guard (iova | length | phys) % page == 0 else { return .failure(.misaligned) }
        guard let end = last(iova, length), !phys.addingReportingOverflow(length - 1).overflow else { return .failure(.overflow) }
        guard configuration.aperture.contains(iova), configuration.aperture.contains(end) else { return .failure(.outsideAperture) }
        guard !configuration.reservedRegions.contains(where: { $0.range.overlaps(iova...end) }) else { return .failure(.reservedRegion) }
        guard !mappings.contains(where: { $0.overlaps(iova, end) }) else { return .failure(.overlap) }
        let position = mappings.firstIndex { $0.iova > iova } ?? mappings.count
        mappings.insert(Extent(iova: iova, length: length, phys: phys, permissions: permissions.intersection(.readWrite)), at: position)
        return .success(())
    }

    public func unmap(iova: UInt64, length: UInt64) -> Result<UInt64, UnmapFailure> {
        guard length > 0 else { return .failure(UnmapFailure(.zeroLength)) }
        guard (iova | length) % page == 0 else { return .failure(UnmapFailure(.misaligned)) }
        guard let end = last(iova, length) else { return .failure(UnmapFailure(.overflow)) }
        var removed: UInt64 = 0
        var kept: [Extent] = []
        for mapping in mappings {
            guard mapping.overlaps(iova, end) else {
                kept.append(mapping)
                continue
            }
            // What lies outside the range stays mapped, with its own translation.
            if mapping.iova < iova { kept.append(Extent(iova: mapping.iova, length: iova - mapping.iova, phys: mapping.phys, permissions: mapping.permissions)) }
            if mapping.last > end {
                kept.append(Extent(iova: end + 1, length: mapping.last - end, phys: mapping.phys + (end + 1 - mapping.iova), permissions: mapping.permissions))
            }
            removed &+= min(mapping.last, end) - max(mapping.iova, iova) + 1
        }
        mappings = kept
        forget(iova...end)
        return .success(removed)
    }

    public func unmapAll(iova: UInt64, length: UInt64) -> Result<UInt64, UnmapFailure> {
        let removed = mappings.reduce(UInt64(0)) { $0 &+ $1.length }
        mappings = []
        forget(0...UInt64.max)
        return .success(removed)
    }

    public func translate(iova: UInt64, access: Access) -> Result<UInt64, TranslationFault> {
        guard configuration.aperture.contains(iova) else { return .failure(.outsideAperture) }
        guard let mapping = mappings.first(where: { $0.contains(iova) }) else { return .failure(.notMapped) }
        guard mapping.permissions.allows(access) else { return .failure(.permissionDenied) }
        return .success(mapping.phys + (iova - mapping.iova))
    }

    public func mappings(in range: ClosedRange<UInt64>) -> [Extent] {
        mappings.filter { $0.overlaps(range.lowerBound, range.upperBound) }
    }

    /// Called with every range an unmap removed (a subclass's caches drop it).
    func forget(_ range: ClosedRange<UInt64>) {}
}
