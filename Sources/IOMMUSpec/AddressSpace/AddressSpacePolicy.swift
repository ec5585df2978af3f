/// The contract of one real map/unmap interface, as small rule switches. Each preset is the
/// contract of one real system and version; `docs/SEMANTICS.md` ("Evidence") gives every
/// switch of every preset its source, and `iommu-check explain` prints a preset's rules from
/// these same switches (`rules`), so the two cannot drift.
public struct AddressSpacePolicy: Hashable, Sendable, CustomStringConvertible {
    // MARK: What a map checks

    /// Page sizes (granules) the interface can have: a configuration's page size must lie here.
    public var granules: ClosedRange<UInt64>
    /// Whether a map must request read or write.
    public var permissionRequired: RuleStatus
    /// How the physical (user-virtual) range is tested for wrap-around.
    public var physWrap: PhysWrapRule
    /// Whether the interface limits the number of mappings (a configuration may set one).
    public var hasMappingLimit: Bool
    /// iommufd: an iova or length of ULONG_MAX or more is EOVERFLOW before anything else.
    public var ulongMaxIsOverflow: Bool
    /// Whether the interface has an aperture and reserved regions at all (QEMU's IOVA tree has neither).
    public var hasAperture: Bool
    /// The aperture and the reserved regions are one test (VFIO's iova list, iommufd's reserved
    /// IOVA), so a map outside the aperture may report either error.
    public var apertureIsReserved: Bool
    /// What a read of a write-only mapping does.
    public var writeOnlyReads: WriteOnlyReads
    /// A DMA into an MSI-kind reserved region reaches the doorbell (identity) instead of faulting.
    public var msiDoorbell: Bool
    /// Requests that break a driver requirement (virtio-iommu "the driver MUST ...") leave the
    /// device's answer unspecified: any error conforms, and so does the documented outcome.
    public var driverRequirements: Bool

    // MARK: What an unmap does

    public var partial: PartialUnmap
    public var empty: EmptyUnmap
    /// Whether an unmap's iova and length must be page-aligned.
    public var unmapAlignment: Bool
    /// The form unmap-all takes in the interface.
    public var unmapAll: UnmapAllForm
    /// When the bytes an unmap removed are reported.
    public var bytes: ByteReport

    public init(
        granules: ClosedRange<UInt64>, permissionRequired: RuleStatus, physWrap: PhysWrapRule, hasMappingLimit: Bool,
        ulongMaxIsOverflow: Bool, hasAperture: Bool, apertureIsReserved: Bool, writeOnlyReads: WriteOnlyReads,
        msiDoorbell: Bool, driverRequirements: Bool, partial: PartialUnmap, empty: EmptyUnmap, unmapAlignment: Bool,
        unmapAll: UnmapAllForm, bytes: ByteReport
    ) {
        self.granules = granules
        self.permissionRequired = permissionRequired
        self.physWrap = physWrap
        self.hasMappingLimit = hasMappingLimit
        self.ulongMaxIsOverflow = ulongMaxIsOverflow
        self.hasAperture = hasAperture
        self.apertureIsReserved = apertureIsReserved
        self.writeOnlyReads = writeOnlyReads
        self.msiDoorbell = msiDoorbell
        self.driverRequirements = driverRequirements
        self.partial = partial
        self.empty = empty
        self.unmapAlignment = unmapAlignment
        self.unmapAll = unmapAll
        self.bytes = bytes
    }

    static let kib4: UInt64 = 4096, gib1: UInt64 = 1 << 30

    /// VFIO type1 v2 (drivers/vfio/vfio_iommu_type1.c, VFIO_TYPE1v2_IOMMU).
    public static let vfioType1 = AddressSpacePolicy(
        granules: kib4...gib1, permissionRequired: .enforced, physWrap: .inclusiveEnd, hasMappingLimit: true,
        ulongMaxIsOverflow: false, hasAperture: true, apertureIsReserved: true, writeOnlyReads: .denied,
        msiDoorbell: false, driverRequirements: false, partial: .rejectBisect, empty: .succeed, unmapAlignment: true,
        unmapAll: .flag, bytes: .onSuccess)
    /// VFIO type1 v1 (VFIO_TYPE1_IOMMU): the same checks, v1's unmap.
    public static let vfioType1V1 = vfioType1.with { $0.partial = .removeStartingInside }
    /// iommufd IOMMU_IOAS_MAP / IOMMU_IOAS_UNMAP (drivers/iommu/iommufd/ioas.c, io_pagetable.c).
    public static let iommufd = AddressSpacePolicy(
        granules: 1...kib4, permissionRequired: .enforced, physWrap: .exclusiveEnd, hasMappingLimit: false,
        ulongMaxIsOverflow: true, hasAperture: true, apertureIsReserved: true, writeOnlyReads: .denied,
        msiDoorbell: false, driverRequirements: false, partial: .removeUntilPartial, empty: .fail, unmapAlignment: false,
        unmapAll: .sentinel, bytes: .onSuccess)
    /// iommufd's VFIO container compatibility with VFIO_TYPE1v2_IOMMU (drivers/iommu/iommufd/vfio_compat.c).
    public static let iommufdVFIOCompat = iommufd.with {
        $0.permissionRequired = .unspecified
        $0.ulongMaxIsOverflow = false
        $0.empty = .succeed
        $0.unmapAll = .flag
        $0.bytes = .evenOnFailure
    }
    /// iommufd's VFIO compatibility with VFIO_TYPE1_IOMMU: large pages disabled, unmap cuts areas at its edges.
    public static let iommufdVFIOCompatV1 = iommufdVFIOCompat.with {
        $0.granules = kib4...kib4
        $0.partial = .cutAtEdges
    }
    /// The virtio-iommu device (oasis-tcs/virtio-spec device-types/iommu/description.tex).
    public static let virtioIOMMU = AddressSpacePolicy(
        granules: 1...gib1, permissionRequired: .absent, physWrap: .unspecified, hasMappingLimit: false,
        ulongMaxIsOverflow: false, hasAperture: true, apertureIsReserved: false, writeOnlyReads: .either,
        msiDoorbell: true, driverRequirements: true, partial: .rejectPartial, empty: .succeed, unmapAlignment: false,
        unmapAll: .reset, bytes: .notReported)
    /// A virtio-iommu device on an architecture without write-only mappings: WRITE implies READ.
    public static let virtioIOMMUNoWriteOnly = virtioIOMMU.with { $0.writeOnlyReads = .allowed }
    /// QEMU's IOVA tree (include/qemu/iova-tree.h, util/iova-tree.c).
    public static let qemuIOVATree = AddressSpacePolicy(
        granules: 1...1, permissionRequired: .enforced, physWrap: .absent, hasMappingLimit: false,
        ulongMaxIsOverflow: false, hasAperture: false, apertureIsReserved: false, writeOnlyReads: .denied,
        msiDoorbell: false, driverRequirements: false, partial: .removeOverlapping, empty: .succeed, unmapAlignment: false,
        unmapAll: .reset, bytes: .notReported)
    /// A raw IOMMU page table (iommu_map / iommu_unmap on fine-grained pages).
    public static let pageTable = AddressSpacePolicy(
        granules: kib4...gib1, permissionRequired: .enforced, physWrap: .inclusiveEnd, hasMappingLimit: false,
        ulongMaxIsOverflow: false, hasAperture: true, apertureIsReserved: false, writeOnlyReads: .denied,
        msiDoorbell: false, driverRequirements: false, partial: .split, empty: .succeed, unmapAlignment: true,
        unmapAll: .reset, bytes: .onSuccess)

    /// The presets by their command-line names, each one real system's contract.
    public static let presets: [(name: String, policy: AddressSpacePolicy)] = [
        ("vfio-type1", .vfioType1),
        ("vfio-type1-v1", .vfioType1V1),
        ("iommufd", .iommufd),
        ("iommufd-vfio-compat", .iommufdVFIOCompat),
        ("iommufd-vfio-compat-v1", .iommufdVFIOCompatV1),
        ("virtio-iommu", .virtioIOMMU),
        ("virtio-iommu-no-write-only", .virtioIOMMUNoWriteOnly),
        ("iova-tree", .qemuIOVATree),
        ("page-table", .pageTable),
    ]


    public var description: String { presetName }
}

/// Whether a rule applies: enforced (the interface refuses), absent (it accepts), or
/// unspecified (the sources leave it open: the documented outcome and any error conform).
public enum RuleStatus: String, Hashable, Sendable, CaseIterable {
    case enforced, absent, unspecified
}

/// How a map's physical range is tested for wrap-around.
public enum PhysWrapRule: String, Hashable, Sendable, CaseIterable {
    /// `phys + length - 1` must not wrap: a range may end at 2^64 - 1 (VFIO vaddr + size - 1).
    case inclusiveEnd = "inclusive-end"
    /// `phys + length` must not wrap: a range may not end at 2^64 - 1 (iommufd uptr + length).
    case exclusiveEnd = "exclusive-end"
    /// No requirement decides it: the documented outcome (success) and any error conform.
    case unspecified
    /// Not tested: a wrapping physical range is mapped, translations wrap modulo 2^64.
    case absent
}

/// What a read of a mapping with write but not read permission does.
public enum WriteOnlyReads: String, Hashable, Sendable, CaseIterable {
    /// Faults with permission-denied (VT-d and AMD-Vi keep separate read and write bits).
    case denied
    /// Reaches the mapping (WRITE implies READ, as in ARM LPAE stage 1).
    case allowed
    /// Either conforms (virtio-iommu: "the device MAY allow reads").
    case either
}

/// What an unmap does to a mapping it covers only in part.
public enum PartialUnmap: String, Hashable, Sendable, CaseIterable {
    /// Fail with `bisectsMapping` if the range's first or last IOVA falls inside a mapping it
    /// does not start or end; remove nothing (VFIO type1 v2).
    case rejectBisect = "reject-bisect"
    /// Fail with `partialUnmap` if any affected mapping is not covered entirely; remove nothing
    /// (virtio-iommu). It removes exactly what `rejectBisect` removes; the errors differ.
    case rejectPartial = "reject-partial"
    /// Remove covered mappings lowest first; at the first one not covered entirely fail with
    /// `partialUnmap`, keeping what was already removed (iommufd iopt_unmap_iova_range).
    case removeUntilPartial = "remove-until-partial"
    /// Remove whole every mapping that starts inside the range; a range whose first IOVA falls
    /// inside a mapping removes nothing and succeeds with 0 bytes (VFIO type1 v1).
    case removeStartingInside = "remove-starting-inside"
    /// Cut the mappings at the range's last IOVA and the IOVA before its first (iopt_cut_iova),
    /// then remove what is covered: the covered part goes (iommufd VFIO compat, type1 v1).
    case cutAtEdges = "cut-at-edges"
    /// Remove every overlapping mapping whole (QEMU iova_tree_remove).
    case removeOverlapping = "remove-overlapping"
    /// Remove the covered part only; what remains of a mapping stays mapped (raw page tables).
    case split = "split"
}

/// What an unmap that removes nothing returns.
public enum EmptyUnmap: String, Hashable, Sendable, CaseIterable {
    /// Success with 0 bytes (VFIO type1 v2, virtio-iommu example 1).
    case succeed = "succeed"
    /// `nothingToUnmap` (iommufd IOMMU_IOAS_UNMAP: ENOENT).
    case fail = "fail"
}

/// The form unmap-all takes.
public enum UnmapAllForm: String, Hashable, Sendable, CaseIterable {
    /// VFIO_DMA_UNMAP_FLAG_ALL: iova and size must be 0, else EINVAL and nothing is removed.
    case flag
    /// iommufd: an unmap of (0, U64_MAX) is unmap-all (iopt_unmap_all), never ENOENT.
    case sentinel
    /// The interface has no unmap-all: it is the checker's reset (remove everything).
    case reset
}

/// When an unmap reports the bytes it removed.
public enum ByteReport: String, Hashable, Sendable, CaseIterable {
    /// Never (virtio-iommu UNMAP has no size field; iova_tree_remove is void): not compared.
    case notReported = "not-reported"
    /// On success (VFIO unmap->size; iommufd cmd->length).
    case onSuccess = "on-success"
    /// On success and on failure (iommufd VFIO compat: `unmap.size = unmapped` before returning rc).
    case evenOnFailure = "even-on-failure"
}
