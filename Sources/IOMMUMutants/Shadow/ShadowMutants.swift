import IOMMUOptimized
import IOMMUSpec

/// Planted bugs of the Shadow surface, each a switch on `ShadowOptimized`.
public enum ShadowMutants {
    package static let catalogue = MutantCatalogue<ShadowBug>(.shadow, [
        (.unmapAllThenReplay, name: "unmap-all-then-replay",
            summary: "a domain-wide invalidation unmaps the whole domain and then maps the guest table again, leaving every page absent for a while",
            source: "seed 004, issue 4: the pre-2018 intel-iommu domain resync (up to 3 ms of DMA window)"),
        (.psiStopsAtPageDirectory, name: "psi-stops-at-page-directory",
            summary: "a page-selective invalidation is synced only up to the first 2 MiB page-directory boundary",
            source: "seed 004, issue 1: intel-iommu skipped notifications for PSIs across PDEs"),
        (.mapsOnlyNewPages, name: "maps-only-new-pages",
            summary: "replay sends MAP only for pages that were not mapped; an entry whose translation changed keeps its old host mapping",
            source: "seed 004: IOMMU replay's definition 'only send MAP when a new page is detected' is wrong for shadow sync"),
        (.syncTouchesOutsideRange, name: "sync-touches-outside-range",
            summary: "a page-selective invalidation syncs the whole 2 MiB regions around its range, changing host pages the guest did not invalidate",
            source: "VT-d PSI semantics: only the invalidated range may change (locality)"),
        (.superpageShadowedAs4K, name: "superpage-shadowed-as-4k",
            summary: "a 2 MiB or 1 GiB guest leaf is shadowed as one 4 KiB page",
            source: "vtd_page_walk_one must map the leaf's full size (large pages in the guest table)"),
        (.domainInvalidationNotifiesNoUnmap, name: "dsi-no-unmap-notify",
            summary: "a domain-selective invalidation sends no UNMAP to UNMAP-only consumers such as vhost",
            source: "seed 004, issue 3 / intel-iommu DSI: UNMAP-only notifiers must still get the unmap"),
        (.treeDropsRangeTail, name: "tree-drops-range-tail",
            summary: "after syncing a range, the layer's IOVA tree forgets the part of a mapping that sticks out past it, so a later invalidation never unmaps that part",
            source: "seed 004 (QEMU's per-domain IOVA tree must record exactly what the host holds; vtd_page_walk_one skips what the tree says is unchanged)"),
        (.unmapInsideHostMapping, name: "unmap-inside-host-mapping",
            summary: "the layer unmaps just the pages that changed, inside a larger host mapping, and ignores the host's answer: a VFIO container refuses the bisecting unmap and the page the guest freed stays DMA-mapped",
            source: "QEMU intel_iommu.c vtd_page_walk_one (\"vfio driver only has VFIO_IOMMU_[UN]MAP_DMA but no interface to modify a mapping\") over vfio_dma_do_unmap's EINVAL for a bisecting unmap"),
        (.insufficientResourcesNotReported, name: "insufficient-resources-not-reported",
            summary: "when the host has no room for a map, the layer stops but tells the guest the range is in step",
            source: "seed 000: QEMU s390x rpcit_service_call must answer ZPCI_RPCIT_ST_INSUFF_RES when dma_avail reaches 0 (\"s390x/pci: Honor DMA limits set by vfio\")"),
        (.highIOVADropped, name: "high-iova-dropped",
            summary: "the layer walks a 3-level guest table only: nothing at or above 2^39 is shadowed",
            source: "VT-d second-level tables of 4 and 5 levels (48- and 57-bit IOVAs); a walk sized for 39 bits"),
    ])

    public static var all: [Mutant] { catalogue.all }
}
