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
            source: "linux drivers/iommu/intel/iommu.c intel_iommu_unmap: \"Cope with horrid API which requires us to unmap more than the size argument if it happens to be a large-page mapping\"")),
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
        (.iommufdUnmapAllOrNothing, Mutant(
            name: "iommufd-unmap-all-or-nothing", surface: .addressSpace,
            summary: "an iommufd unmap that reaches an area it covers only in part removes nothing, where iopt_unmap_iova_range has already freed the covered areas below it",
            source: "linux drivers/iommu/iommufd/io_pagetable.c iopt_unmap_iova_range (the all-or-nothing reading this checker's model once had)")),
        (.unalignedUnmapRefused, Mutant(
            name: "unaligned-unmap-refused", surface: .addressSpace,
            summary: "an unmap with an unaligned iova or length is refused where the interface has no such rule (iommufd, virtio-iommu, QEMU's IOVA tree)",
            source: "linux iopt_unmap_iova checks only !length and check_add_overflow; virtio-iommu UNMAP has no alignment requirement")),
        (.writeOnlyReadable, Mutant(
            name: "write-only-readable", surface: .addressSpace,
            summary: "a write-only mapping is installed read-write, so reads reach it where the IOMMU keeps separate read and write bits",
            source: "linux io-pgtable-arm arm_lpae_prot_to_pte (write implies read) used where write-only is enforced")),
        (.msiDoorbellFaults, Mutant(
            name: "msi-doorbell-faults", surface: .addressSpace,
            summary: "a DMA into an MSI reserved region faults instead of reaching the doorbell untranslated",
            source: "QEMU hw/virtio/virtio-iommu.c virtio_iommu_translate: VIRTIO_IOMMU_RESV_MEM_T_MSI passes the access through")),
        (.unmapAllArgumentsIgnored, Mutant(
            name: "unmap-all-arguments-ignored", surface: .addressSpace,
            summary: "VFIO_DMA_UNMAP_FLAG_ALL with a non-zero iova or size removes everything instead of failing with EINVAL",
            source: "linux vfio_dma_do_unmap: if (iova || size) goto unlock")),
        (.unmapAllSentinelRefused, Mutant(
            name: "unmap-all-sentinel-refused", surface: .addressSpace,
            summary: "an iommufd unmap of (0, U64_MAX) is refused with EOVERFLOW instead of unmapping everything",
            source: "linux iommufd_ioas_unmap: cmd->iova == 0 && cmd->length == U64_MAX is iopt_unmap_all")),
        (.unmappedBytesSaturate, Mutant(
            name: "unmapped-bytes-saturate", surface: .addressSpace,
            summary: "unmapped byte counts saturate at 2^64 - 1 where the kernels' size_t wraps to 0",
            source: "linux vfio_dma_do_unmap size_t unmapped += dma->size; iopt_unmap_iova_range unsigned long unmapped_bytes")),
        (.v1OffsetUnmapRemoves, Mutant(
            name: "v1-offset-unmap-removes", surface: .addressSpace,
            summary: "a type1 v1 unmap whose first IOVA falls inside a mapping removes it, where v1 succeeds with zero bytes",
            source: "linux vfio_dma_do_unmap: if (!iommu->v2 && iova > dma->iova) break")),
        (.compatFailureBytesLost, Mutant(
            name: "compat-failure-bytes-lost", surface: .addressSpace,
            summary: "iommufd's VFIO compat reports 0 bytes for an unmap that fails after freeing areas, where it writes back what it removed",
            source: "linux drivers/iommu/iommufd/vfio_compat.c iommufd_vfio_unmap_dma: unmap.size = unmapped before returning rc")),
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
