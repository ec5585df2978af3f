import IOMMUOptimized
import IOMMUSpec

/// Planted bugs of the protected-DMA surface, each a switch on `ProtectedDMAOptimized`.
public enum ProtectedDMAMutants {
    package static let catalogue = MutantCatalogue<ProtectedDMABug>(.protectedDMA, [
        (.fromDeviceMapNotBounced, name: "from-device-map-not-bounced",
            summary: "map does not copy the original buffer into the bounce buffer for a from-device mapping, so bytes the device does not write come back on unmap as the slot's last user left them",
            source: "swiotlb before ddbd89deb7d3 \"swiotlb: fix info leak with DMA_FROM_DEVICE\" (the leak filed as CVE-2022-0854)"),
        (.minAlignMaskIgnored, name: "min-align-mask-ignored",
            summary: "the bounce buffer ignores the device's min_align_mask: the DMA address loses the original's low bits",
            source: "swiotlb before 1f221a0d0dbf \"swiotlb: respect min_align_mask\": NVMe corruption under SEV and swiotlb=force (\"preserve DMA offsets when using swiotlb\", 2021)"),
        (.slotShared, name: "slot-shared",
            summary: "map does not mark the last slot of a multi-slot bounce buffer in use, so the next map is handed it too",
            source: "Documentation/core-api/swiotlb.rst: \"A slot is never shared by multiple bounce buffers\"; swiotlb_search_pool_area marks slot_index..slot_index + nslots"),
        (.syncForCPUWrongDirection, name: "sync-for-cpu-wrong-direction",
            summary: "sync for CPU copies the CPU buffer into the bounce buffer instead of back, so the driver never sees what the device wrote",
            source: "__swiotlb_sync_single_for_cpu: swiotlb_bounce(..., DMA_FROM_DEVICE) for FROM_DEVICE and BIDIRECTIONAL"),
        (.unmapFreesBeforeCopyBack, name: "unmap-frees-before-copy-back",
            summary: "unmap releases the slots before it copies the bounce buffer back, so another CPU's map can take them and overwrite the data first",
            source: "swiotlb_tbl_unmap_single: swiotlb_bounce(..., DMA_FROM_DEVICE) and then swiotlb_release_slots; the area lock covers only search and release"),
        (.virtioRingPrivate, name: "virtio-ring-private",
            summary: "a virtio device without VIRTIO_F_ACCESS_PLATFORM is accepted, and its vring is allocated from ordinary private memory and handed over by guest-physical address",
            source: "seed 001 (virtio in a protected guest: \"With protected visualization however I must make sure all I/O goes through shared pages\"); virtio_features_ok: \"device must provide VIRTIO_F_ACCESS_PLATFORM\""),
    ])

    public static var all: [Mutant] { catalogue.all }
}
