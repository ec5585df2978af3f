/// The AddressSpace surface: map, unmap and translate IOVA ranges.
///
/// An address space maps IOVA ranges to physical ranges with permissions. The reference model
/// (`AddressSpaceModel`) is the specification; `docs/SEMANTICS.md` states every rule with its
/// source, per policy. An implementation conforms if, for every operation sequence, it returns
/// what the model returns (for a failing operation: an error that applies) and its extents and
/// translations equal the model's after every step.
public protocol AddressSpace: AnyObject {
    var configuration: AddressSpaceConfiguration { get }

    /// Maps `[iova, iova + length)` to `[phys, phys + length)` with `permissions`.
    /// On failure nothing changes.
    func map(iova: UInt64, length: UInt64, phys: UInt64, permissions: Permissions) -> Result<Void, AddressSpaceError>

    /// Unmaps `[iova, iova + length)` under the configured policy; returns the bytes removed.
    /// A failure may have removed some mappings first where the policy says so
    /// (`PartialUnmap.removeUntilPartial`, `.cutAtEdges`); its `bytes` says how many.
    func unmap(iova: UInt64, length: UInt64) -> Result<UInt64, UnmapFailure>

    /// Removes every mapping (VFIO_DMA_UNMAP_FLAG_ALL with its iova and size fields; iommufd
    /// unmap of (0, U64_MAX); elsewhere the checker's reset) and returns the bytes removed.
    func unmapAll(iova: UInt64, length: UInt64) -> Result<UInt64, UnmapFailure>

    /// The physical address a DMA access at `iova` reaches, or why it faults.
    func translate(iova: UInt64, access: Access) -> Result<UInt64, TranslationFault>

    /// The mappings that overlap `range`, whole (not clipped), in IOVA order.
    func mappings(in range: ClosedRange<UInt64>) -> [Extent]

    /// Whether `translations` is cheaper than one `translate` per probe (an implementation in
    /// another process answers many probes in one round trip).
    var batchesTranslations: Bool { get }

    /// `translate` of each probe, in order.
    func translations(_ probes: [(iova: UInt64, access: Access)]) -> [Result<UInt64, TranslationFault>]

    /// Said (where `batchesTranslations`) before the next map, unmap or unmap-all: the
    /// `mappings(in:)` (nil: none) and `translations` the checker asks right after it. An
    /// implementation in another process answers them in that call's round trip.
    func expectComparison(mappings range: ClosedRange<UInt64>?, translations probes: [(iova: UInt64, access: Access)])

    /// What the checker can see of this implementation. A real kernel seen from user space
    /// lists no mappings (VFIO type1 has no ioctl for it) and, seen through a device's DMA,
    /// shows that an access faulted but not why. The checker compares what is observable only.
    var observable: AddressSpaceObservables { get }
}

/// The parts of an address space's state its implementation can show.
public struct AddressSpaceObservables: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// `mappings(in:)` answers. Without it the checker compares translations only.
    public static let mappings = AddressSpaceObservables(rawValue: 1)
    /// A fault says why. Without it any fault agrees with any fault the model expects.
    public static let faultReasons = AddressSpaceObservables(rawValue: 2)
    public static let all: AddressSpaceObservables = [.mappings, .faultReasons]
}

extension AddressSpace {
    public var batchesTranslations: Bool { false }

    public var observable: AddressSpaceObservables { .all }

    public func expectComparison(mappings range: ClosedRange<UInt64>?, translations probes: [(iova: UInt64, access: Access)]) {}

    public func translations(_ probes: [(iova: UInt64, access: Access)]) -> [Result<UInt64, TranslationFault>] {
        probes.map { translate(iova: $0.iova, access: $0.access) }
    }
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

    /// The physical address of `address` inside this mapping (wrapping where the policy lets a
    /// physical range wrap).
    @inline(__always)
    public func phys(of address: UInt64) -> UInt64 { phys &+ (address &- iova) }

    public var description: String { "[\(hex(iova)), +\(hex(length))) -> \(hex(phys)) \(permissions)" }
}

/// Why a map or unmap failed. Each case names its sources; `docs/SEMANTICS.md` has the rules.
public enum AddressSpaceError: String, Error, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// Neither read nor write requested. VFIO type1: EINVAL (`!prot`); iommufd IOAS_MAP: EINVAL.
    case noPermission = "no-permission"
    /// Length 0. VFIO type1 and iommufd: EINVAL; virtio-iommu: virt_end must exceed virt_start.
    case zeroLength = "zero-length"
    /// IOVA, length or physical address not aligned to the page size. VFIO type1: EINVAL;
    /// virtio-iommu MAP: VIRTIO_IOMMU_S_RANGE; iommufd: EINVAL.
    case misaligned = "misaligned"
    /// The IOVA or physical range wraps past 2^64 (or, in iommufd, an argument is ULONG_MAX or
    /// more). VFIO type1: EINVAL (EOVERFLOW since 6.18); iommufd: EOVERFLOW.
    case overflow = "overflow"
    /// The range is outside the aperture. VFIO type1: EINVAL (iova list);
    /// iommufd: EINVAL (reserved IOVA outside the domain aperture); virtio-iommu: input_range.
    case outsideAperture = "outside-aperture"
    /// The range touches a reserved region. iommufd: EINVAL; VFIO type1: EINVAL (iova list);
    /// virtio-iommu: SHOULD reject MAP overlapping RESV_MEM.
    case reservedRegion = "reserved-region"
    /// The range overlaps an existing mapping. VFIO type1: EEXIST; iommufd: EEXIST;
    /// virtio-iommu: VIRTIO_IOMMU_S_INVAL; QEMU iova-tree: IOVA_ERR_OVERLAP.
    case overlap = "overlap"
    /// The mapping-count limit is reached. VFIO type1: ENOSPC (dma_avail, CVE-2019-3882).
    case mappingLimit = "mapping-limit"
    /// Under `rejectBisect`: the unmap range starts or ends inside a mapping.
    /// VFIO type1 v2: EINVAL (vfio_dma_do_unmap).
    case bisectsMapping = "bisects-mapping"
    /// A mapping affected by the range is not covered entirely.
    /// virtio-iommu UNMAP: VIRTIO_IOMMU_S_RANGE; iommufd: ENOENT; iopt_area_split: EINVAL.
    case partialUnmap = "partial-unmap"
    /// Under `EmptyUnmap.fail`: the unmap removed nothing. iommufd: ENOENT.
    case nothingToUnmap = "nothing-to-unmap"
    /// VFIO_DMA_UNMAP_FLAG_ALL with a non-zero iova or size. VFIO type1 and iommufd's VFIO
    /// compat: EINVAL, nothing removed.
    case unmapAllArguments = "unmap-all-arguments"
    /// The interface has no such request: a shadow host without atomic replace (VFIO, iommufd,
    /// the iommu API) asked to replace. No address-space rule produces it.
    case notSupported = "not-supported"
    /// Not a rule: the interface accepted the map (it broke none of its rules) but the
    /// implementation could not carry it out, so nothing after it can be observed. VFIO type1:
    /// pinning the memory failed (EFAULT, ENOMEM) after every check in vfio_dma_do_map passed.
    /// The model never answers it; the case ends there (`IOMMU_CHECK_AS_UNOBSERVABLE`).
    case unobservable = "unobservable"

    public var description: String { rawValue }
}

/// A failed unmap: its error, and the bytes it removed before failing (non-zero only under a
/// policy that removes covered mappings before it finds one it cannot remove).
public struct UnmapFailure: Error, Hashable, Sendable, CustomStringConvertible {
    public var error: AddressSpaceError
    public var bytes: UInt64

    public init(_ error: AddressSpaceError, bytes: UInt64 = 0) {
        self.error = error
        self.bytes = bytes
    }

    public var description: String { bytes == 0 ? error.rawValue : "\(error) after removing \(hex(bytes)) bytes" }
}

/// Why a translation faulted.
public enum TranslationFault: String, Error, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// No mapping covers the address (or a RESERVED-kind region does). virtio-iommu:
    /// VIRTIO_IOMMU_FAULT_R_MAPPING.
    case notMapped = "not-mapped"
    /// A mapping covers the address but does not allow the access.
    /// virtio-iommu: MUST NOT allow writes to a range mapped without F_WRITE.
    case permissionDenied = "permission-denied"
    /// The address is outside the aperture.
    case outsideAperture = "outside-aperture"

    public var description: String { rawValue }
}

/// A set of errors that remembers which was added first (the model's documented error):
/// every rule one request breaks, without an allocation.
public struct AddressSpaceErrorSet: Sequence, Sendable, Hashable, ExpressibleByArrayLiteral {
    private var bits: UInt16 = 0
    /// The first error added.
    public private(set) var first: AddressSpaceError?

    public init() {}

    public init(arrayLiteral errors: AddressSpaceError...) {
        for error in errors { insert(error) }
    }

    public var isEmpty: Bool { bits == 0 }

    public func contains(_ error: AddressSpaceError) -> Bool { bits & error.bit != 0 }

    public mutating func insert(_ error: AddressSpaceError) {
        if first == nil { first = error }
        bits |= error.bit
    }

    public mutating func insert(_ other: AddressSpaceErrorSet) {
        if first == nil { first = other.first }
        bits |= other.bits
    }

    /// The errors in the enum's order.
    public func makeIterator() -> some IteratorProtocol<AddressSpaceError> {
        AddressSpaceError.allCases.lazy.filter { self.contains($0) }.makeIterator()
    }
}

extension AddressSpaceError {
    /// One bit per error, for `AddressSpaceErrorSet`.
    var bit: UInt16 {
        switch self {
        case .noPermission: 1 << 0
        case .zeroLength: 1 << 1
        case .misaligned: 1 << 2
        case .overflow: 1 << 3
        case .outsideAperture: 1 << 4
        case .reservedRegion: 1 << 5
        case .overlap: 1 << 6
        case .mappingLimit: 1 << 7
        case .bisectsMapping: 1 << 8
        case .partialUnmap: 1 << 9
        case .nothingToUnmap: 1 << 10
        case .unmapAllArguments: 1 << 11
        case .notSupported: 1 << 12
        case .unobservable: 1 << 13
        }
    }
}
