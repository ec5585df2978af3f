/// What an unmap does where the real contracts differ. Both halves are named policies of the
/// model; the presets are the contracts of real interfaces.
public struct UnmapPolicy: Hashable, Sendable, CustomStringConvertible {
    public var partial: PartialUnmap
    public var empty: EmptyUnmap

    public init(partial: PartialUnmap, empty: EmptyUnmap) {
        self.partial = partial
        self.empty = empty
    }

    /// VFIO type1 v2 (drivers/vfio/vfio_iommu_type1.c): a bisect is EINVAL; an unmap that
    /// finds nothing succeeds with size 0.
    public static let vfioType1 = UnmapPolicy(partial: .rejectBisect, empty: .succeed)
    /// virtio-iommu UNMAP: all-or-nothing, S_RANGE on a partial mapping; example (1) of the
    /// spec succeeds without unmapping anything.
    public static let virtioIOMMU = UnmapPolicy(partial: .rejectPartial, empty: .succeed)
    /// iommufd IOMMU_IOAS_UNMAP (io_pagetable.c): the range must cover whole areas, else
    /// ENOENT; an unmap that removes nothing is ENOENT too.
    public static let iommufd = UnmapPolicy(partial: .rejectPartial, empty: .fail)
    /// QEMU include/qemu/iova-tree.h, iova_tree_remove: every overlapping mapping is removed whole.
    public static let qemuIOVATree = UnmapPolicy(partial: .removeOverlapping, empty: .succeed)
    /// A raw page table (iommu_unmap on fine-grained pages): the covered part goes, the rest stays.
    public static let pageTable = UnmapPolicy(partial: .split, empty: .succeed)

    /// The presets by their command-line names.
    public static let presets: [(name: String, policy: UnmapPolicy)] = [
        ("vfio-type1", .vfioType1),
        ("virtio-iommu", .virtioIOMMU),
        ("iommufd", .iommufd),
        ("iova-tree", .qemuIOVATree),
        ("page-table", .pageTable),
    ]

    public init?(named name: String) {
        guard let preset = Self.presets.first(where: { $0.name == name }) else { return nil }
        self = preset.policy
    }

    /// The preset's name, or "partial/empty" for a combination that is not a preset.
    public var description: String {
        Self.presets.first(where: { $0.policy == self })?.name ?? "\(partial.rawValue)/\(empty.rawValue)"
    }
}

/// What an unmap does to a mapping it covers only in part.
public enum PartialUnmap: String, Hashable, Sendable, CaseIterable {
    /// Fail with `bisectsMapping` if the range starts or ends inside a mapping; remove nothing.
    /// (VFIO type1 v2 tests the first and the last IOVA of the range.)
    case rejectBisect = "reject-bisect"
    /// Fail with `partialUnmap` if any affected mapping is not covered entirely; remove nothing.
    /// (virtio-iommu device requirement; iommufd ENOENT.) It removes exactly what `rejectBisect`
    /// removes: a mapping that overlaps the range without being covered must contain the range's
    /// first or last IOVA. The two differ in the error they report.
    case rejectPartial = "reject-partial"
    /// Remove every overlapping mapping whole and report their bytes (QEMU iova_tree_remove).
    case removeOverlapping = "remove-overlapping"
    /// Remove the covered part only; what remains of a mapping stays mapped (raw page tables).
    case split = "split"
}

/// What an unmap that removes nothing returns.
public enum EmptyUnmap: String, Hashable, Sendable, CaseIterable {
    /// Success with 0 bytes (VFIO type1 v2, virtio-iommu example 1).
    case succeed = "succeed"
    /// `nothingToUnmap` (iommufd ENOENT).
    case fail = "fail"
}
