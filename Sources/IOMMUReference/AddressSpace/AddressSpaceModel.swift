import IOMMUSpec

/// The reference model of an address space: the specification, written to be read.
///
/// State is a list of mappings ("extents"), each exactly what one map created (or what a
/// `split` unmap left of it), sorted by IOVA. Every operation is a scan of that list, so a
/// 1 GiB mapping costs the same as a 4 KiB one. Rules are checked in the order below; a failing
/// operation reports the first rule it breaks, and `mapViolations` / `unmapViolations` list every
/// rule it breaks, because real implementations check in different orders (VFIO 6.18 moved its
/// overflow test ahead of its alignment test) and any applicable error conforms.
public final class AddressSpaceModel: AddressSpace {
    public let configuration: AddressSpaceConfiguration
    /// The mappings, sorted by IOVA, pairwise disjoint. (Unchecked exclusivity: a model is
    /// used from one thread, and the runtime check cost more than the scans.)
    @exclusivity(unchecked) public private(set) var extents: [Extent] = []
    private let apertureLast: UInt64

    public init(configuration: AddressSpaceConfiguration) {
        self.configuration = configuration
        self.apertureLast = configuration.apertureLast
    }

    // MARK: map

    /// Every rule a map request breaks, in the model's order; empty means it succeeds.
    public func mapViolations(iova: UInt64, length: UInt64, phys: UInt64, permissions: Permissions) -> [AddressSpaceError] {
        var broken: [AddressSpaceError] = []
        let pageMask = configuration.pageSize - 1
        // VFIO type1 vfio_dma_do_map: `!prot` is EINVAL. A mapping must allow some access.
        if permissions.intersection(.readWrite).isEmpty { broken.append(.noPermission) }
        // VFIO type1: `!size` is EINVAL; virtio-iommu: virt_end MUST be greater than virt_start.
        if length == 0 { broken.append(.zeroLength) }
        // VFIO type1: (size | iova | vaddr) & mask is EINVAL; virtio-iommu MAP: virt_start,
        // phys_start and virt_end + 1 aligned, else S_RANGE; iommufd iopt_map_pages: EINVAL.
        if (iova | length | phys) & pageMask != 0 { broken.append(.misaligned) }
        // VFIO type1: "Don't allow IOVA or virtual address wrap" (EOVERFLOW since 6.18);
        // iommufd: check_add_overflow, EOVERFLOW. Ending exactly at 2^64 - 1 is not a wrap.
        let wraps = length > 0 && (iova.addingReportingOverflow(length - 1).overflow || phys.addingReportingOverflow(length - 1).overflow)
        if wraps { broken.append(.overflow) }
        // A range that starts beyond the aperture is outside it, wrapping or not.
        if iova > apertureLast && (wraps || length == 0) { broken.append(.outsideAperture) }
        guard length > 0, !wraps else { return broken }
        let last = iova + (length - 1)
        // VFIO type1: vfio_find_dma over [iova, iova + size) finds an existing mapping: EEXIST.
        // iommufd: EEXIST; virtio-iommu: "a mapping already exists in the requested range": S_INVAL.
        if extents.contains(where: { $0.overlaps(iova, last) }) { broken.append(.overlap) }
        // VFIO type1: `!iommu->dma_avail` is ENOSPC (the dma_entry_limit of CVE-2019-3882).
        if extents.count >= configuration.mappingLimit { broken.append(.mappingLimit) }
        // VFIO type1 vfio_iommu_iova_dma_valid; virtio-iommu input_range: inside the aperture.
        if last > apertureLast { broken.append(.outsideAperture) }
        // iommufd: reserved IOVA is EINVAL; virtio-iommu: SHOULD reject MAP overlapping RESV_MEM.
        if configuration.reservedRegions.contains(where: { $0.lowerBound <= last && iova <= $0.upperBound }) {
            broken.append(.reservedRegion)
        }
        return broken
    }

    public func map(iova: UInt64, length: UInt64, phys: UInt64, permissions: Permissions) -> Result<Void, AddressSpaceError> {
        if let error = mapViolations(iova: iova, length: length, phys: phys, permissions: permissions).first {
            return .failure(error)
        }
        let position = extents.firstIndex(where: { $0.iova > iova }) ?? extents.count
        extents.insert(Extent(iova: iova, length: length, phys: phys, permissions: permissions.intersection(.readWrite)), at: position)
        return .success(())
    }

    // MARK: unmap

    /// Every rule an unmap request breaks, in the model's order; empty means it succeeds.
    public func unmapViolations(iova: UInt64, length: UInt64) -> [AddressSpaceError] {
        var broken: [AddressSpaceError] = []
        // VFIO type1 vfio_dma_do_unmap: `!size || size & pgmask` and `iova & pgmask` are EINVAL.
        if length == 0 { broken.append(.zeroLength) }
        if (iova | length) & (configuration.pageSize - 1) != 0 { broken.append(.misaligned) }
        // VFIO type1: a wrapping range is EINVAL (EOVERFLOW since 6.18).
        let wraps = length > 0 && iova.addingReportingOverflow(length - 1).overflow
        if wraps { broken.append(.overflow) }
        guard length > 0, !wraps else { return broken }
        let last = iova + (length - 1)
        let touched = extents.filter { $0.overlaps(iova, last) }
        let straddles = touched.contains { $0.iova < iova || $0.last > last }
        switch configuration.unmapPolicy.partial {
        case .rejectBisect:
            // VFIO type1 v2: "there must not be any previous mappings bisected by the range".
            if straddles { broken.append(.bisectsMapping) }
        case .rejectPartial:
            // virtio-iommu: "If a mapping affected by the range is not covered in its entirety
            // by the range ... S_RANGE, and SHOULD NOT remove any mapping"; iommufd: ENOENT.
            if straddles { broken.append(.partialUnmap) }
        case .removeOverlapping, .split:
            break
        }
        // iommufd: an unmap that removes nothing is ENOENT. Under the reject policies a
        // straddled mapping means the request already failed, so "nothing" means no overlap.
        if touched.isEmpty && configuration.unmapPolicy.empty == .fail { broken.append(.nothingToUnmap) }
        return broken
    }

    public func unmap(iova: UInt64, length: UInt64) -> Result<UInt64, AddressSpaceError> {
        if let error = unmapViolations(iova: iova, length: length).first { return .failure(error) }
        let last = iova + (length - 1)
        var removed: UInt64 = 0
        var kept: [Extent] = []
        for extent in extents {
            guard extent.overlaps(iova, last) else {
                kept.append(extent)
                continue
            }
            switch configuration.unmapPolicy.partial {
            case .rejectBisect, .rejectPartial, .removeOverlapping:
                // Under the reject policies every touched mapping is covered (checked above);
                // QEMU's iova_tree_remove drops every overlapping mapping whole.
                removed = saturatingAdd(removed, extent.length)
            case .split:
                // A raw page table unmaps exactly the covered pages; the pieces on either side
                // keep their translation (phys moves with the IOVA) and permissions.
                let coveredFirst = max(extent.iova, iova), coveredLast = min(extent.last, last)
                removed = saturatingAdd(removed, coveredLast - coveredFirst + 1)
                if extent.iova < iova {
                    kept.append(Extent(iova: extent.iova, length: iova - extent.iova, phys: extent.phys, permissions: extent.permissions))
                }
                if extent.last > last {
                    let offset = last + 1 - extent.iova
                    kept.append(Extent(iova: last + 1, length: extent.last - last, phys: extent.phys + offset, permissions: extent.permissions))
                }
            }
        }
        extents = kept
        return .success(removed)
    }

    public func unmapAll() -> UInt64 {
        let removed = extents.reduce(0) { saturatingAdd($0, $1.length) }
        extents = []
        return removed
    }

    // MARK: translate

    public func translate(iova: UInt64, access: Access) -> Result<UInt64, TranslationFault> {
        // The aperture bounds what a device can address at all.
        if iova > apertureLast { return .failure(.outsideAperture) }
        guard let extent = extents.first(where: { $0.contains(iova) }) else { return .failure(.notMapped) }
        // virtio-iommu: "MUST NOT allow writes to a range mapped without F_WRITE"; reads likewise.
        guard extent.permissions.allows(access) else { return .failure(.permissionDenied) }
        // virtio-iommu MAP: PA = VA - virt_start + phys_start.
        return .success(extent.phys + (iova - extent.iova))
    }

    public func mappings(in range: ClosedRange<UInt64>) -> [Extent] {
        extents.filter { $0.overlaps(range.lowerBound, range.upperBound) }
    }
}

/// Byte counts saturate: two mappings can cover 2^64 bytes, one more than a UInt64 holds.
@inline(__always)
func saturatingAdd(_ a: UInt64, _ b: UInt64) -> UInt64 {
    let (sum, overflow) = a.addingReportingOverflow(b)
    return overflow ? .max : sum
}
