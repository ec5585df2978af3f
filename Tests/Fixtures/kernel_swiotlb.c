/* A protected-DMA layer written, for the tests, from the kernel's algorithms rather than from
 * the checker's docs: kernel/dma/swiotlb.c (mainline: areas, next-fit search with its stride
 * and wrap, `list` counts, swiotlb_bounce's offsets, release after copy-back),
 * kernel/dma/direct.c (dma_direct_alloc/free: an order-sized block, decrypted then zeroed) and
 * drivers/virtio (a device without ACCESS_PLATFORM refused). The checker must pass it: its
 * rules are Linux's, including where Linux's search misses a free aligned run.
 *  -DEXHAUSTIVE_RETRY : after the kernel's search fails, scan every slot once more (not Linux)
 *  -DEXACT_PAGES      : coherent allocations take exactly PAGE_ALIGN(size) pages (CMA-like)
 *  -DAREAS=n          : number of areas (a power of two; fewer where the pool is small) */
#include "iommu_check.h"
#include <stdlib.h>
#include <string.h>

#define IO_TLB_SHIFT 11
#define IO_TLB_SIZE (1u << IO_TLB_SHIFT)
#define PAGE_SHIFT 12
#define PAGE_SIZE (1u << PAGE_SHIFT)
#define INVALID_PHYS_ADDR (~(uint64_t)0)

struct slot { uint64_t orig_addr; uint64_t alloc_size; unsigned list; };
struct area { unsigned long used; unsigned index; };

struct mem {
    struct iommu_check_protected_dma_config cfg;
    const struct iommu_check_guest_memory *gm;
    unsigned nslabs, segsize, nareas, area_nslabs, cpu;
    struct slot *slots;
    struct area *areas;
    /* coherent: buddy-ish order allocation over pages; owner order per page (-1 free) */
    unsigned cpages;
    signed char *page_order; /* order at the head page of an allocated block, -1 free, -2 tail */
};

static unsigned io_tlb_offset(struct mem *m, unsigned long v) { return v & (m->segsize - 1); }
static unsigned nr_slots(uint64_t v) { return (unsigned)((v + IO_TLB_SIZE - 1) / IO_TLB_SIZE); }
static uint64_t slot_addr(uint64_t start, uint64_t idx) { return start + (idx << IO_TLB_SHIFT); }
static unsigned align_offset(struct mem *m, unsigned align_mask, uint64_t addr) {
    return (unsigned)(addr & m->cfg.min_align_mask & (align_mask | (IO_TLB_SIZE - 1)));
}
static unsigned wrap_area_index(struct mem *m, unsigned index) { return index >= m->area_nslabs ? 0 : index; }
static unsigned long get_max_slots(unsigned long mask) { return (mask >> IO_TLB_SHIFT) + 1; }

static void *create(const struct iommu_check_protected_dma_config *cfg, const struct iommu_check_guest_memory *gm) {
    if (cfg->segment_slots == 0 || (cfg->segment_slots & (cfg->segment_slots - 1))) return NULL; /* IO_TLB_SEGSIZE is 2^k */
    struct mem *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->cfg = *cfg; m->gm = gm;
    m->nslabs = cfg->pool_slots; m->segsize = cfg->segment_slots;
    unsigned nareas = 1;
#ifdef AREAS
    nareas = AREAS;
#endif
    if (nareas < 1) nareas = 1;
    while (nareas > 1 && (m->nslabs < nareas * m->segsize || (m->nslabs % nareas) || ((m->nslabs / nareas) % m->segsize))) nareas >>= 1;
    m->nareas = nareas; m->area_nslabs = m->nslabs / nareas;
    m->slots = calloc(m->nslabs, sizeof *m->slots);
    m->areas = calloc(nareas, sizeof *m->areas);
    m->cpages = (unsigned)(cfg->coherent_bytes / PAGE_SIZE);
    m->page_order = malloc(m->cpages + 1);
    if (!m->slots || !m->areas || !m->page_order) { free(m->slots); free(m->areas); free(m->page_order); free(m); return NULL; }
    memset(m->page_order, -1, m->cpages + 1);
    for (unsigned i = 0; i < m->nslabs; i++) {
        unsigned a = m->segsize - io_tlb_offset(m, i), b = m->nslabs - i;
        m->slots[i].list = a < b ? a : b;
        m->slots[i].orig_addr = INVALID_PHYS_ADDR;
        m->slots[i].alloc_size = 0;
    }
    return m;
}

static void destroy(void *h) { struct mem *m = h; free(m->slots); free(m->areas); free(m->page_order); free(m); }

/* swiotlb_search_pool_area, as in mainline */
static int search_pool_area(struct mem *m, unsigned area_index, uint64_t orig_addr, uint64_t alloc_size, unsigned alloc_align_mask) {
    struct area *area = &m->areas[area_index];
    uint64_t tbl_dma_addr = m->cfg.pool_base;
    unsigned iotlb_align_mask = (unsigned)m->cfg.min_align_mask;
    unsigned nslots = nr_slots(alloc_size), stride;
    unsigned offset = align_offset(m, 0, orig_addr);
    unsigned index, slots_checked, count = 0, i, slot_base, slot_index;

    if (!alloc_align_mask && !iotlb_align_mask && alloc_size >= PAGE_SIZE) alloc_align_mask = PAGE_SIZE - 1;
    alloc_align_mask |= (IO_TLB_SIZE - 1);
    iotlb_align_mask &= ~alloc_align_mask;
    stride = (unsigned)get_max_slots(alloc_align_mask > iotlb_align_mask ? alloc_align_mask : iotlb_align_mask);

    if (nslots > m->area_nslabs - area->used) return -1;
    slot_base = area_index * m->area_nslabs;
    index = area->index;
    for (slots_checked = 0; slots_checked < m->area_nslabs;) {
        slot_index = slot_base + index;
        uint64_t tlb_addr = slot_addr(tbl_dma_addr, slot_index);
        if ((tlb_addr & alloc_align_mask) || (orig_addr && (tlb_addr & iotlb_align_mask) != (orig_addr & iotlb_align_mask))) {
            index = wrap_area_index(m, index + 1);
            slots_checked++;
            continue;
        }
        /* no seg boundary (dma_get_seg_boundary: 4G) */
        if (m->slots[slot_index].list >= nslots) goto found;
        index = wrap_area_index(m, index + stride);
        slots_checked += stride;
    }
#ifdef EXHAUSTIVE_RETRY
    for (index = 0; index < m->area_nslabs; index++) {
        slot_index = slot_base + index;
        uint64_t tlb_addr = slot_addr(tbl_dma_addr, slot_index);
        if ((tlb_addr & alloc_align_mask) || (orig_addr && (tlb_addr & iotlb_align_mask) != (orig_addr & iotlb_align_mask))) continue;
        if (m->slots[slot_index].list >= nslots) goto found;
    }
#endif
    return -1;
found:
    for (i = slot_index; i < slot_index + nslots; i++) {
        m->slots[i].list = 0;
        m->slots[i].alloc_size = alloc_size - (offset + ((uint64_t)(i - slot_index) << IO_TLB_SHIFT));
    }
    for (i = slot_index - 1; slot_index > 0 && io_tlb_offset(m, i) != m->segsize - 1 && m->slots[i].list; i--) {
        m->slots[i].list = ++count;
        if (i == 0) break;
    }
    area->index = wrap_area_index(m, index + nslots);
    area->used += nslots;
    return (int)slot_index;
}

static int find_slots(struct mem *m, uint64_t orig_addr, uint64_t alloc_size, unsigned alloc_align_mask) {
    unsigned start = (m->cpu++) & (m->nareas - 1), i = start;
    if (alloc_size > (uint64_t)m->segsize * IO_TLB_SIZE) return -1;
    do {
        int index = search_pool_area(m, i, orig_addr, alloc_size, alloc_align_mask);
        if (index >= 0) return index;
        if (++i >= m->nareas) i = 0;
    } while (i != start);
    return -1;
}

/* swiotlb_bounce: dir_to_device 1 = DMA_TO_DEVICE (orig -> tlb), else tlb -> orig */
static void bounce(struct mem *m, uint64_t tlb_addr, uint64_t size, int to_device) {
    if (tlb_addr < m->cfg.pool_base) return;
    uint64_t index = (tlb_addr - m->cfg.pool_base) >> IO_TLB_SHIFT;
    if (index >= m->nslabs) return;
    uint64_t orig_addr = m->slots[index].orig_addr;
    uint64_t alloc_size = m->slots[index].alloc_size;
    if (orig_addr == INVALID_PHYS_ADDR) return;
    int64_t tlb_offset = (int64_t)(tlb_addr & (IO_TLB_SIZE - 1)) - (int64_t)align_offset(m, 0, orig_addr);
    orig_addr += (uint64_t)tlb_offset;
    alloc_size -= (uint64_t)tlb_offset;
    if (size > alloc_size) size = alloc_size; /* dev_WARN_ONCE("Buffer overflow detected") */
    if (!size) return;
    if (to_device) m->gm->copy(m->gm->context, tlb_addr, orig_addr, size);
    else m->gm->copy(m->gm->context, orig_addr, tlb_addr, size);
}

static uint64_t map(void *h, uint64_t paddr, uint64_t mapping_size, uint32_t dir) {
    struct mem *m = h;
    unsigned alloc_align_mask = 0;
    unsigned offset = align_offset(m, alloc_align_mask, paddr);
    uint64_t size = mapping_size + offset; /* ALIGN(x, 1) */
    int index = find_slots(m, paddr, size, alloc_align_mask);
    (void)dir;
    if (index == -1) return IOMMU_CHECK_DMA_MAPPING_ERROR;
    offset &= (IO_TLB_SIZE - 1);
    for (unsigned i = 0; i < nr_slots(size); i++)
        m->slots[index + i].orig_addr = slot_addr(paddr, i);
    uint64_t tlb_addr = slot_addr(m->cfg.pool_base, (uint64_t)index) + offset;
    bounce(m, tlb_addr, mapping_size, 1); /* for every direction (ddbd89deb7d3, 901c7280ca0d) */
    return tlb_addr;
}

static void release_slots(struct mem *m, uint64_t tlb_addr) {
    unsigned offset = align_offset(m, 0, tlb_addr);
    unsigned index = (unsigned)((tlb_addr - offset - m->cfg.pool_base) >> IO_TLB_SHIFT);
    unsigned nslots = nr_slots(m->slots[index].alloc_size + offset);
    unsigned aindex = index / m->area_nslabs;
    struct area *area = &m->areas[aindex];
    unsigned count;
    int i;
    if (index + nslots < ((index + 1 + m->segsize - 1) / m->segsize) * m->segsize) count = m->slots[index + nslots].list;
    else count = 0;
    for (i = (int)(index + nslots - 1); i >= (int)index; i--) {
        m->slots[i].list = ++count;
        m->slots[i].orig_addr = INVALID_PHYS_ADDR;
        m->slots[i].alloc_size = 0;
    }
    for (i = (int)index - 1; i >= 0 && io_tlb_offset(m, (unsigned)i) != m->segsize - 1 && m->slots[i].list; i--)
        m->slots[i].list = ++count;
    area->used -= nslots;
}

static void sync_for_cpu(void *h, uint64_t dma, uint64_t size, uint32_t dir) {
    if (dir == IOMMU_CHECK_DMA_FROM_DEVICE || dir == IOMMU_CHECK_DMA_BIDIRECTIONAL) bounce(h, dma, size, 0);
}
static void sync_for_device(void *h, uint64_t dma, uint64_t size, uint32_t dir) {
    if (dir == IOMMU_CHECK_DMA_TO_DEVICE || dir == IOMMU_CHECK_DMA_BIDIRECTIONAL) bounce(h, dma, size, 1);
}
static void unmap(void *h, uint64_t dma, uint64_t size, uint32_t dir) {
    /* dma_direct_unmap_page: sync_single_for_cpu, then swiotlb_tbl_unmap_single(SKIP_CPU_SYNC) */
    sync_for_cpu(h, dma, size, dir);
    release_slots(h, dma);
}

static unsigned get_order(uint64_t size) {
    unsigned o = 0;
    while (((uint64_t)PAGE_SIZE << o) < size) o++;
    return o;
}

static int32_t alloc_coherent(void *h, uint64_t size, uint64_t *cpu, uint64_t *dma) {
    struct mem *m = h;
    if (!size) return 1;
    size = (size + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);
#ifdef EXACT_PAGES
    unsigned need = (unsigned)(size / PAGE_SIZE), step = 1u << get_order(size);
#else
    unsigned need = 1u << get_order(size), step = need;
#endif
    for (unsigned first = 0; first + need <= m->cpages; first += step) {
        unsigned i;
        for (i = first; i < first + need; i++) if (m->page_order[i] != -1) break;
        if (i < first + need) continue;
        for (i = first; i < first + need; i++) m->page_order[i] = -2;
        m->page_order[first] = (signed char)get_order(size);
        uint64_t addr = m->cfg.coherent_base + (uint64_t)first * PAGE_SIZE;
        if (m->gm->share(m->gm->context, addr, size / PAGE_SIZE)) return 1; /* out_leak_pages */
        m->gm->fill(m->gm->context, addr, 0, size);
        *cpu = *dma = addr;
        return 0;
    }
    return 1;
}

static void free_coherent(void *h, uint64_t cpu, uint64_t dma, uint64_t size) {
    struct mem *m = h;
    (void)dma;
    size = (size + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);
    if (m->gm->unshare(m->gm->context, cpu, size / PAGE_SIZE)) return; /* leak */
    unsigned first = (unsigned)((cpu - m->cfg.coherent_base) / PAGE_SIZE);
#ifdef EXACT_PAGES
    unsigned n = (unsigned)(size / PAGE_SIZE);
#else
    unsigned n = 1u << get_order(size);
#endif
    for (unsigned i = first; i < first + n && i < m->cpages; i++) m->page_order[i] = -1;
}

static int32_t setup_virtqueue(void *h, uint64_t size, uint64_t *cpu, uint64_t *dma) {
    struct mem *m = h;
    if (m->cfg.virtio != IOMMU_CHECK_VIRTIO_ACCESS_PLATFORM) return 1; /* -ENODEV / no device */
    return alloc_coherent(h, size, cpu, dma);
}

static const struct iommu_check_protected_dma_ops ops = {
    .create = create, .destroy = destroy, .map = map, .unmap = unmap,
    .sync_for_device = sync_for_device, .sync_for_cpu = sync_for_cpu,
    .alloc_coherent = alloc_coherent, .free_coherent = free_coherent, .setup_virtqueue = setup_virtqueue,
};
static const struct iommu_check_plugin plugin = {
    .abi_version = IOMMU_CHECK_ABI_VERSION, .abi_revision = IOMMU_CHECK_ABI_REVISION,
    .name = "kernel-swiotlb", .protected_dma = &ops,
};
const struct iommu_check_plugin *iommu_check_plugin_v2(void) { return &plugin; }
