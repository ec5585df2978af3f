/// The AddressSpace surface: map, unmap and translate IOVA ranges.
///
/// An address space maps page-aligned IOVA ranges to physical ranges with permissions. The
/// reference model (`AddressSpaceModel`) is the specification; `docs/SEMANTICS.md` states every
/// rule with its source. An implementation conforms if, for every operation sequence, it returns
/// what the model returns (for a failing operation: an error that applies) and its extents and
/// translations equal the model's after every step.
public protocol AddressSpace: AnyObject {
    var configuration: AddressSpaceConfiguration { get }

    /// Maps `[iova, iova + length)` to `[phys, phys + length)` with `permissions`.
    /// On failure nothing changes.
    func map(iova: UInt64, length: UInt64, phys: UInt64, permissions: Permissions) -> Result<Void, AddressSpaceError>

    /// Unmaps `[iova, iova + length)` under the configured `UnmapPolicy`; returns the bytes removed.
    /// On failure nothing changes.
    func unmap(iova: UInt64, length: UInt64) -> Result<UInt64, AddressSpaceError>

    /// Removes every mapping (VFIO_DMA_UNMAP_FLAG_ALL; iommufd unmap of (0, U64_MAX));
    /// returns the bytes removed, saturated at 2^64 - 1. Never fails.
    func unmapAll() -> UInt64

    /// The physical address a DMA access at `iova` reaches, or why it faults.
    func translate(iova: UInt64, access: Access) -> Result<UInt64, TranslationFault>

    /// The mappings that overlap `range`, whole (not clipped), in IOVA order.
    func mappings(in range: ClosedRange<UInt64>) -> [Extent]
}

/// One mapping: `length` bytes at `iova` reaching `phys`, with `permissions`.
public struct Extent: Hashable, Sendable, CustomStringConvertible {
    public var iova: UInt64
    public var length: UInt64
    public var phys: UInt64
    public var permissions: Permissions

    public init(iova: UInt64, length: UInt64, phys: UInt64, permissions: Permissions) {
        self.iova = iova
        self.length = length
        self.phys = phys
        self.permissions = permissions
    }

    /// The last IOVA (inclusive); a mapping may end at 2^64 - 1, where `iova + length` wraps.
    @inline(__always)
    public var last: UInt64 { iova &+ (length &- 1) }

    @inline(__always)
    public func contains(_ address: UInt64) -> Bool { address >= iova && address <= last }

    @inline(__always)
    public func overlaps(_ first: UInt64, _ last: UInt64) -> Bool { iova <= last && first <= self.last }

    public var description: String { "[\(hex(iova)), +\(hex(length))) -> \(hex(phys)) \(permissions)" }
}

/// Why a map or unmap failed. Each case names its sources; `docs/SEMANTICS.md` has the rules.
public enum AddressSpaceError: String, Error, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// Neither read nor write requested. VFIO type1: EINVAL (vfio_dma_do_map, `!prot`).
    case noPermission = "no-permission"
    /// Length 0. VFIO type1: EINVAL; virtio-iommu: virt_end must exceed virt_start.
    case zeroLength = "zero-length"
    /// IOVA, length or physical address not page-aligned. VFIO type1: EINVAL;
    /// virtio-iommu MAP: VIRTIO_IOMMU_S_RANGE; iommufd: EINVAL.
    case misaligned = "misaligned"
    /// `iova + length - 1` or `phys + length - 1` wraps past 2^64. VFIO type1: EINVAL
    /// (EOVERFLOW since 6.18); iommufd: EOVERFLOW.
    case overflow = "overflow"
    /// The range is outside the aperture (address width). VFIO type1: EINVAL (iova list);
    /// virtio-iommu: outside input_range.
    case outsideAperture = "outside-aperture"
    /// The range touches a reserved region (the x86 MSI window by default). iommufd: EINVAL;
    /// virtio-iommu: SHOULD reject MAP overlapping RESV_MEM; VFIO type1: EINVAL (iova list).
    case reservedRegion = "reserved-region"
    /// The range overlaps an existing mapping. VFIO type1: EEXIST; iommufd: EEXIST;
    /// virtio-iommu: VIRTIO_IOMMU_S_INVAL.
    case overlap = "overlap"
    /// The mapping-count limit is reached. VFIO type1: ENOSPC (dma_avail, CVE-2019-3882).
    case mappingLimit = "mapping-limit"
    /// Under `rejectBisect`: the unmap range starts or ends inside a mapping.
    /// VFIO type1 v2: EINVAL (vfio_dma_do_unmap).
    case bisectsMapping = "bisects-mapping"
    /// Under `rejectPartial`: a mapping affected by the range is not covered entirely.
    /// virtio-iommu UNMAP: VIRTIO_IOMMU_S_RANGE; iommufd: ENOENT.
    case partialUnmap = "partial-unmap"
    /// Under `EmptyUnmap.fail`: the unmap removed nothing. iommufd: ENOENT.
    case nothingToUnmap = "nothing-to-unmap"

    public var description: String { rawValue }
}

/// Why a translation faulted.
public enum TranslationFault: String, Error, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// No mapping covers the address. virtio-iommu: VIRTIO_IOMMU_FAULT_R_MAPPING.
    case notMapped = "not-mapped"
    /// A mapping covers the address but does not allow the access.
    /// virtio-iommu: MUST NOT allow writes to a range mapped without F_WRITE.
    case permissionDenied = "permission-denied"
    /// The address is beyond the aperture.
    case outsideAperture = "outside-aperture"

    public var description: String { rawValue }
}
