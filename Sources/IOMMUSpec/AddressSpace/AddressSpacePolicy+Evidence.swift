/// The source of every address-space rule under every preset: the file and function (or spec
/// section), and the line or sentence that decides it. docs/SEMANTICS.md ("Evidence") is this
/// table, printed by `iommu-check explain --surface address-space --evidence`; a test keeps
/// the two equal. Rules marked "policy:" are this checker's named choice, with the reason.
extension AddressSpacePolicy {
    /// The rules every preset has besides its switches, by the name the evidence table uses.
    public static let commonRules = ["zero-length", "iova-wrap", "overlap"]

    public static let evidence: [String: [String: String]] = [
        "vfio-type1": vfioSources + [
            "partial": "vfio_dma_do_unmap, v2: `dma = vfio_find_dma(iommu, iova, 1); if (dma && dma->iova != iova) goto unlock;` and the same for the last IOVA, before anything is removed; comment: \"there must not be any previous mappings bisected by the range\"",
        ],
        "vfio-type1-v1": vfioSources + [
            "partial": "vfio_dma_do_unmap loop: `if (!iommu->v2 && iova > dma->iova) break;` on the first mapping found; comment: \"an unmap request offset from the beginning of the original mapping will return success with zero sized unmap. And an unmap request covering the first iova of mapping will unmap the entire range\"",
        ],
        "iommufd": iommufdSources + [
            "permission": "ioas.c iommufd_ioas_map: `if (!(cmd->flags & (IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE))) return -EINVAL;` (\"block it early in iommufd\")",
            "ulong-max-overflow": "ioas.c iommufd_ioas_map and iommufd_ioas_unmap: `if (cmd->iova >= ULONG_MAX || cmd->length >= ULONG_MAX) return -EOVERFLOW;`, before anything else",
            "empty": "ioas.c iommufd_ioas_unmap: `if (!unmapped) { rc = -ENOENT; goto out_put; }` (afb47765f923)",
            "unmap-all": "ioas.c iommufd_ioas_unmap: `if (cmd->iova == 0 && cmd->length == U64_MAX) rc = iopt_unmap_all(&ioas->iopt, &unmapped);`; io_pagetable.c iopt_unmap_all: \"If the IOVAs are empty then unmap all succeeds\"",
            "bytes": "ioas.c iommufd_ioas_unmap: `cmd->length = unmapped;` after the `if (rc) goto out_put;` tests: bytes only on success; unsigned long unmapped_bytes wraps",
        ],
        "iommufd-vfio-compat": iommufdSources + compat + [
            "partial": "vfio_compat.c iommufd_vfio_unmap_dma calls iopt_unmap_iova: io_pagetable.c iopt_unmap_iova_range frees covered areas lowest first and ends with -ENOENT at `area_first < start || area_last > last`",
        ],
        "iommufd-vfio-compat-v1": iommufdSources + compat + [
            "granules": "vfio_compat.c iommufd_vfio_set_iommu: VFIO_TYPE1_IOMMU \"is simple enough to emulate by simply disabling the problematic large IOPTEs\" (iopt_disable_large_pages); io_pagetable.c iopt_calculate_iova_alignment: `if (iopt->disable_large_pages) new_iova_alignment = PAGE_SIZE;`",
            "partial": "vfio_compat.c iommufd_vfio_unmap_dma: \"Create cuts at the start and last of the requested range\" with iopt_cut_iova({iova + size - 1, iova - 1}) before iopt_unmap_iova; io_pagetable.c iopt_area_split: `if (iova == start_iova || iova == last_iova) return 0;` and `if (new_start & (alignment - 1) ...) return -EINVAL;`",
        ],
        "virtio-iommu": virtioSources + [
            "write-only-reads": "MAP device requirement: \"The device MUST NOT allow writes to a range mapped without the VIRTIO_IOMMU_MAP_F_WRITE flag. However, if the underlying architecture does not support write-only mappings, the device MAY allow reads to a range mapped with VIRTIO_IOMMU_MAP_F_WRITE but not VIRTIO_IOMMU_MAP_F_READ.\"",
        ],
        "virtio-iommu-no-write-only": virtioSources + [
            "write-only-reads": "MAP: \"READ is sometimes implied by WRITE. In addition combinations such as 'WRITE and not READ' might not be supported.\"; linux io-pgtable-arm arm_lpae_prot_to_pte (stage 1) sets AP_RDONLY only for read without write, so a write-only request is read-write",
        ],
        "iova-tree": [
            "granules": "util/iova-tree.c iova_tree_insert tests no alignment at all: the granule is one byte",
            "permission": "iova_tree_insert: `if (map->iova + map->size < map->iova || map->perm == IOMMU_NONE) return IOVA_ERR_INVALID;`",
            "phys-wrap": "iova_tree_insert tests translated_addr not at all (only gpa_tree_insert does)",
            "mapping-limit": "iova-tree.c has no count of mappings",
            "ulong-max-overflow": "not in iova-tree.c",
            "aperture": "iova_tree_insert tests no range: no aperture, no reserved regions",
            "aperture-is-reserved": "no aperture",
            "write-only-reads": "DMAMap.perm is an IOMMUAccessFlags (IOMMU_RO, IOMMU_WO, IOMMU_RW) kept as given",
            "msi-doorbell": "no reserved regions",
            "driver-requirements": "no driver requirements",
            "partial": "iova_tree_remove: `while ((overlap = iova_tree_find(tree, &map))) g_tree_remove(tree->tree, overlap);` (iova_tree_find matches any overlap, iova_tree_compare)",
            "empty": "iova_tree_remove is void: removing nothing is no error",
            "unmap-alignment": "iova_tree_remove tests nothing",
            "unmap-all": "iova-tree.h has no remove-all (iova_tree_destroy frees the tree): the checker's reset",
            "bytes": "iova_tree_remove returns void",
            "zero-length": "policy: DMAMap sizes are inclusive (size = length - 1), so a length of 0 cannot be stated; the caller must refuse it, and this preset does",
            "iova-wrap": "iova_tree_insert: `map->iova + map->size < map->iova` is IOVA_ERR_INVALID",
            "overlap": "iova_tree_insert: \"We don't allow to insert range that overlaps with existings\", `if (iova_tree_find(tree, map)) return IOVA_ERR_OVERLAP;`",
        ],
        "page-table": [
            "granules": "drivers/iommu/iommu.c iommu_map: `min_pagesz = 1 << __ffs(domain->pgsize_bitmap)`; io-pgtable formats start at 4 KiB",
            "permission": "policy: iommu_map leaves prot to the driver; a raw table entry with no access maps nothing, so this preset refuses it as VFIO does",
            "phys-wrap": "policy: as VFIO's `vaddr + size - 1` test; iommu_map advances `paddr += pgsize` and a wrapped physical range has no meaning in a page table",
            "mapping-limit": "a page table has no count of mappings",
            "ulong-max-overflow": "not in iommu_map",
            "aperture": "the domain aperture (geometry.aperture_start ... aperture_end) bounds what the table translates",
            "aperture-is-reserved": "policy: the two are reported apart",
            "write-only-reads": "intel_iommu_map: `if (iommu_prot & IOMMU_READ) prot |= DMA_PTE_READ; if (iommu_prot & IOMMU_WRITE) prot |= DMA_PTE_WRITE;` (separate bits)",
            "msi-doorbell": "the translate of this surface is the page-table walk; interrupt remapping is not part of it",
            "driver-requirements": "no driver requirements",
            "partial": "policy: a raw table of fine-grained pages unmaps exactly the pages it covers; what remains stays mapped",
            "empty": "policy: a walk that finds nothing unmaps nothing: success with 0 bytes",
            "unmap-alignment": "iommu_map: \"both the virtual address and the physical one, as well as the size of the mapping, must be aligned (at least) to the size of the smallest page supported by the hardware\"; policy: an unmap is held to the same grid",
            "unmap-all": "a page table has no unmap-all: the checker's reset",
            "bytes": "policy: the bytes unmapped are reported, modulo 2^64, as iommu_unmap's size_t result is",
            "zero-length": "policy: iommu_map's `while (size)` maps nothing for 0; a mapping of no bytes cannot be listed, so this preset refuses it",
            "iova-wrap": "policy: an IOVA range past 2^64 cannot be held by a table",
            "overlap": "policy: a page-table entry holds one translation, so a map over a mapped page is refused",
        ],
    ]

    private static let vfioSources: [String: String] = [
        "granules": "drivers/vfio/vfio_iommu_type1.c vfio_dma_do_map: `pgsize = (size_t)1 << __ffs(iommu->pgsize_bitmap); WARN_ON((pgsize - 1) & PAGE_MASK);` (never below PAGE_SIZE; vfio_update_pgsize_bitmap)",
        "permission": "vfio_dma_do_map: `if (!prot || !size || (size | iova | vaddr) & mask) return -EINVAL;`",
        "phys-wrap": "vfio_dma_do_map: \"Don't allow IOVA or virtual address wrap\", `iova + size - 1 < iova || vaddr + size - 1 < vaddr` (EINVAL); since 6.18 `check_add_overflow(vaddr, size - 1, &vaddr_end)` (EOVERFLOW): a range may end at 2^64 - 1",
        "mapping-limit": "vfio_dma_do_map: `if (!iommu->dma_avail) { ret = -ENOSPC; goto out_unlock; }` (dma_entry_limit, default U16_MAX; CVE-2019-3882)",
        "ulong-max-overflow": "not in vfio_dma_do_map",
        "aperture": "vfio_dma_do_map: `if (!vfio_iommu_iova_dma_valid(iommu, iova, iova + size - 1)) { ret = -EINVAL; ...}`",
        "aperture-is-reserved": "vfio_iommu_iova_dma_valid tests the iova list, which is the aperture with the reserved regions cut out: one test, EINVAL",
        "write-only-reads": "vfio_dma_do_map passes prot through (`dma->prot = prot`); intel_iommu_map keeps `DMA_PTE_READ` and `DMA_PTE_WRITE` apart (on ARM LPAE stage 1 use write-only-reads=allowed); Linux from 2021 to 2025 breaks it on VT-d, a kernel bug: __domain_mapping's `attr |= DMA_FL_PTE_PRESENT;` sets bit 0, which is DMA_PTE_READ, on second-level entries too (eea53c5816889, undone by \"iommu/vt-d: Restore WO permissions on second-level paging entries\"; seen in a VM, docs/REAL-SYSTEMS.md)",
        "msi-doorbell": "the translate of this surface is the IOMMU domain's table, which maps nothing in a reserved region",
        "driver-requirements": "no driver requirements",
        "empty": "vfio_dma_do_unmap comment: \"The v2 interface will only return success and a size of zero if there were no mappings within the range.\"",
        "unmap-alignment": "vfio_dma_do_unmap: `if (!size || size & (pgsize - 1)) goto unlock;` and `iova & (pgsize - 1)` (EINVAL)",
        "unmap-all": "vfio_dma_do_unmap: `if (unmap_all) { if (iova || size) goto unlock;` (EINVAL, nothing removed)",
        "bytes": "vfio_dma_do_unmap: `unmapped += dma->size;` (size_t, wraps) and \"Report how much was unmapped\", `unmap->size = unmapped;`; a failing v2 unmap removes nothing",
        "zero-length": "vfio_dma_do_map: `!size` is EINVAL (first since 6.18); vfio_dma_do_unmap: `!size` is EINVAL",
        "iova-wrap": "vfio_dma_do_map: `iova + size - 1 < iova` (EINVAL; EOVERFLOW since 6.18); vfio_dma_do_unmap: `check_add_overflow(iova, size - 1, &unmap_end)`",
        "overlap": "vfio_dma_do_map: `if (vfio_find_dma(iommu, iova, size)) { ret = -EEXIST; ...}`",
    ]

    private static let iommufdSources: [String: String] = [
        "granules": "drivers/iommu/iommufd/io_pagetable.c iopt_init_table: `iopt->iova_alignment = 1` (\"They have no alignment restriction\"); iopt_table_add_domain: `new_iova_alignment = max_t(..., 1UL << __ffs(domain->pgsize_bitmap), ...); if (new_iova_alignment > PAGE_SIZE) rc = -EINVAL;`",
        "permission": "vfio_compat.c iommufd_vfio_map_dma sets `iommu_prot |= IOMMU_READ` / `IOMMU_WRITE` from the flags and tests no empty prot; the IOMMU driver decides",
        "phys-wrap": "pages.c iopt_alloc_user_pages: `if (check_add_overflow((unsigned long)uptr, length, &end)) return ERR_PTR(-EOVERFLOW);` (exclusive end); iopt_alloc_pages: `if (length > SIZE_MAX - PAGE_SIZE || length == 0) return ERR_PTR(-EINVAL);`",
        "mapping-limit": "vfio_compat.c iommufd_fill_cap_dma_avail: \"iommufd's limit is based on the cgroup's memory limit\", `.avail = U32_MAX`: no count",
        "ulong-max-overflow": "not in vfio_compat.c iommufd_vfio_map_dma or iommufd_vfio_unmap_dma",
        "aperture": "io_pagetable.c iopt_table_add_domain: \"No area exists that is outside the allowed domain aperture\", iopt_reserve_iova of `0 ... aperture_start - 1` and `aperture_end + 1 ... ULONG_MAX`",
        "aperture-is-reserved": "io_pagetable.c iopt_check_iova: \"No reserved IOVA intersects the range\", `if (iopt_reserved_iter_first(iopt, iova, last)) return -EINVAL;` covers both",
        "write-only-reads": "ioas.c conv_iommu_prot keeps IOMMU_READ and IOMMU_WRITE apart; intel_iommu_map keeps DMA_PTE_READ and DMA_PTE_WRITE apart",
        "msi-doorbell": "the translate of this surface is the domain's table, which maps nothing in a reserved region",
        "driver-requirements": "no driver requirements",
        "partial": "io_pagetable.c iopt_unmap_iova_range: `while ((area = iopt_area_iter_first(iopt, start, last))) { ... if (area_first < start || area_last > last) { rc = -ENOENT; goto out_unlock_iova; } ... iopt_area_unfill_domains(area, pages); iopt_abort_area(area); ... unmapped_bytes += area_last - area_first + 1; ...}`",
        "empty": "vfio_compat.c iommufd_vfio_unmap_dma after afb47765f923 (\"Make vfio_compats unmap succeed if the range is already empty\"): success with size 0",
        "unmap-alignment": "io_pagetable.c iopt_unmap_iova: `if (!length) return -EINVAL; if (check_add_overflow(iova, length - 1, &iova_last)) return -EOVERFLOW;`: no alignment test",
        "unmap-all": "vfio_compat.c iommufd_vfio_unmap_dma: `if (unmap.flags & VFIO_DMA_UNMAP_FLAG_ALL) { if (unmap.iova != 0 || unmap.size != 0) { rc = -EINVAL; goto err_put; } rc = iopt_unmap_all(...)`",
        "bytes": "vfio_compat.c iommufd_vfio_unmap_dma: `unmap.size = unmapped;` and copy_to_user after iopt_unmap_iova, whatever rc is",
        "zero-length": "io_pagetable.c iopt_alloc_area_pages: `if ((length & (iopt->iova_alignment - 1)) || !length) { rc = -EINVAL; ...}`; iopt_unmap_iova: `if (!length) return -EINVAL;`",
        "iova-wrap": "io_pagetable.c iopt_check_iova: `if (check_add_overflow(iova, length - 1, &last)) return -EOVERFLOW;`; iopt_unmap_iova likewise",
        "overlap": "io_pagetable.c iopt_check_iova: \"Check that there is not already a mapping in the range\", `if (iopt_area_iter_first(iopt, iova, last)) return -EEXIST;`",
    ]

    /// What iommufd's VFIO container compatibility changes from IOMMU_IOAS_*.
    private static let compat: [String: String] = [
        "permission": "vfio_compat.c iommufd_vfio_map_dma (torvalds @2c55d703): no test of an empty prot, unlike iommufd_ioas_map; what the IOMMU driver does with it is open",
        "ulong-max-overflow": "vfio_compat.c iommufd_vfio_map_dma and iommufd_vfio_unmap_dma have no ULONG_MAX test",
    ]

    private static let virtioSources: [String: String] = [
        "granules": "oasis-tcs/virtio-spec device-types/iommu/description.tex, Device operations: \"The least significant bit set defines the page granularity of IOMMU mappings. The smallest page granularity supported by the IOMMU is one byte.\"",
        "permission": "MAP driver requirement: \"If it intends to allow read accesses from endpoints attached to the domain, the driver MUST set the VIRTIO_IOMMU_MAP_F_READ flag\"; no requirement rejects flags 0 (QEMU virtio_iommu_map rejects only unknown flag bits)",
        "phys-wrap": "MAP: \"the range defined by phys_start and phys_end should be within the guest-physical address space\" (not normative): open",
        "mapping-limit": "no limit in the specification",
        "ulong-max-overflow": "not in the specification",
        "aperture": "Device operations: input_range \"contains the virtual address range that the IOMMU is able to translate. Any mapping request to virtual addresses outside of this range fails.\"; RESV_MEM: \"The device SHOULD reject a MAP request that overlaps a RESV_MEM region.\"",
        "aperture-is-reserved": "input_range and RESV_MEM are separate requirements",
        "msi-doorbell": "RESV_MEM: VIRTIO_IOMMU_RESV_MEM_T_MSI \"is a doorbell for Message Signaled Interrupts\"; QEMU hw/virtio/virtio-iommu.c virtio_iommu_translate: `case VIRTIO_IOMMU_RESV_MEM_T_MSI: entry.perm = flag;` (translated_addr = addr), RESERVED reports VIRTIO_IOMMU_FAULT_R_MAPPING",
        "driver-requirements": "MAP driver requirement: \"virt_end MUST be strictly greater than virt_start\"; Device operations: \"the driver MUST NOT send requests with virt_start less than input_range.start or virt_end greater than input_range.end\"; UNMAP: \"The first address of a range MUST either be the first address of a mapping or be outside any mapping. The last address of a range MUST either be the last address of a mapping or be outside any mapping.\"",
        "partial": "UNMAP device requirement: \"If a mapping affected by the range is not covered in its entirety by the range (the UNMAP request would split the mapping), then the device SHOULD set the request status to VIRTIO_IOMMU_S_RANGE, and SHOULD NOT remove any mapping.\"; example (4)",
        "empty": "UNMAP example (1): \"unmap(virt_start=0, virt_end=4) -> succeeds, doesn't unmap anything\"",
        "unmap-alignment": "the UNMAP requirements state no alignment (QEMU virtio_iommu_unmap tests none)",
        "unmap-all": "virtio-iommu has no unmap-all request: the checker's reset",
        "bytes": "struct virtio_iommu_req_unmap has no size in its device-writable part",
        "zero-length": "MAP driver requirement \"virt_end MUST be strictly greater than virt_start\": a length of 0 (or 1) breaks it, so the answer is open; the UNMAP requirements say nothing of it",
        "iova-wrap": "a range past 2^64 has virt_end below virt_start (see zero-length); MAP fails, and any error conforms",
        "overlap": "MAP device requirement: \"If a mapping already exists in the requested range, the device SHOULD reject the request and set status to VIRTIO_IOMMU_S_INVAL.\"",
    ]
}

private func + (base: [String: String], overrides: [String: String]) -> [String: String] {
    base.merging(overrides) { $1 }
}
