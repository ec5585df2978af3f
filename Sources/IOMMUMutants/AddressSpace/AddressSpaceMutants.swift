import IOMMUOptimized
import IOMMUSpec

/// Planted bugs of the AddressSpace surface, each a switch on `AddressSpaceOptimized`.
public enum AddressSpaceMutants {
    static let catalogue: [(bug: AddressSpaceBug, mutant: Mutant)] = [
        (.unmapOnlyExactStart, Mutant(
            name: "unmap-only-exact-start", surface: .addressSpace,
            summary: "unmap removes only the mapping that starts exactly at the range's first IOVA",
            source: "cloud-hypervisor virtio-iommu: UNMAP looked up the exact start only")),
        (.straddlersKept, Mutant(
            name: "straddlers-kept", surface: .addressSpace,
            summary: "mappings that stick out of an unmap range are neither rejected nor handled by the policy; they are kept",
            source: "cloud-hypervisor virtio-iommu: straddling mappings kept; QEMU virtio_iommu_unmap not all-or-nothing")),
        (.overlapAccepted, Mutant(
            name: "overlap-accepted", surface: .addressSpace,
            summary: "map checks only whether its first IOVA is mapped, so a range covering an existing mapping's start is accepted",
            source: "cloud-hypervisor virtio-iommu: MAP accepted overlapping ranges")),
        (.offByOneLastPage, Mutant(
            name: "off-by-one-last-page", surface: .addressSpace,
            summary: "the overlap test compares page numbers with > instead of >=, so a mapping's last page looks free",
            source: "inclusive/exclusive end confusion (virtio-iommu ranges are inclusive, VFIO sizes exclusive)")),
        (.wrapAroundAccepted, Mutant(
            name: "wrap-around-accepted", surface: .addressSpace,
            summary: "map does not check iova + length - 1 or phys + length - 1 for wrap-around",
            source: "cloud-hypervisor virtio-iommu: unchecked arithmetic; linux 6012379ede6a (overflow errno)")),
        (.staleIOTLB, Mutant(
            name: "stale-iotlb", surface: .addressSpace,
            summary: "unmap does not invalidate the IOTLB, so a cached translation outlives its mapping",
            source: "seed 004: intel-iommu IOTLB coherence; every IOMMU's unmap-then-flush contract")),
        (.superpageNotSplit, Mutant(
            name: "superpage-not-split", surface: .addressSpace,
            summary: "an unmap that covers part of a superpage clears the whole superpage instead of splitting it",
            source: "VFIO type1 comment on v1 unmaps of hugepages; io-pgtable split_blk_unmap")),
        (.lastApertureUnmappable, Mutant(
            name: "last-aperture-page-unmappable", surface: .addressSpace,
            summary: "the aperture test uses >= at the aperture's last IOVA, so the last page cannot be mapped",
            source: "linux ef270ec44637 (mappings may end at the last IOVA)")),
        (.emptyUnmapFails, Mutant(
            name: "empty-unmap-fails", surface: .addressSpace,
            summary: "an unmap that removes nothing fails even where the contract says success with 0 bytes",
            source: "linux afb47765f923 (iommufd VFIO compat: empty unmap returned ENOENT, VFIO returns 0)")),
        (.mappingLimitIgnored, Mutant(
            name: "mapping-limit-ignored", surface: .addressSpace,
            summary: "map does not enforce the mapping-count limit",
            source: "CVE-2019-3882 (VFIO type1 had no limit on DMA mappings)")),
        (.failedMapNotRolledBack, Mutant(
            name: "failed-map-not-rolled-back", surface: .addressSpace,
            summary: "a map rejected for touching a reserved region has already written its pages, and leaves them",
            source: "cloud-hypervisor virtio-iommu: partial MAP not rolled back")),
    ]

    public static var all: [Mutant] { catalogue.map(\.mutant) }

    /// The optimized address space with the named bug planted, or nil for an unknown name.
    public static func make(_ name: String, configuration: AddressSpaceConfiguration) -> AddressSpaceOptimized? {
        guard let entry = catalogue.first(where: { $0.mutant.name == name }) else { return nil }
        let space = AddressSpaceOptimized(configuration: configuration)
        space.plantedBug = entry.bug
        return space
    }
}
