/*
 * A small C implementation of the Protected DMA surface of iommu-conformance, as a plug-in:
 * the DMA layer of a protected guest (docs/SEMANTICS.md, "Protected DMA"). Every streaming
 * mapping bounces through the swiotlb pool the checker describes: a first-fit search over a
 * table of slots, one segment per buffer, the device's min_align_mask kept by the offset in the
 * first slot and by the slot chosen. Coherent memory comes from the coherent area's pages,
 * shared with the host before it is zeroed and made private again before it is freed. A virtio
 * device without VIRTIO_F_ACCESS_PLATFORM is refused.
 *
 * Build:  cc -shared -fPIC -O2 -I ../../Sources/CIOMMUCheck/include protected_dma.c -o libprotected_dma.so
 * Check:  swift run -c release iommu-check run --surface protected-dma --plugin ./libprotected_dma.so
 *
 *   -DPLANT_BUG   map copies the buffer into the bounce buffer only for to-device and
 *                 bidirectional mappings (swiotlb before ddbd89deb7d3, CVE-2022-0854): what the
 *                 device does not overwrite of a from-device buffer comes back stale
 */
#include "iommu_check.h"

#include <stdlib.h>

#define PAGE 4096u
#define SLOT IOMMU_CHECK_SLOT_SIZE

struct mapping {
    uint64_t dma;   /* as returned; 0: unused entry */
    uint64_t orig;
    uint64_t size;
    uint32_t first; /* first slot */
    uint32_t slots;
};

struct layer {
    struct iommu_check_protected_dma_config config;
    const struct iommu_check_guest_memory *memory;
    unsigned char *slot_used;   /* per slot */
    unsigned char *page_used;   /* per coherent page */
    struct mapping *mappings;   /* at most one per slot */
};

static void *create(const struct iommu_check_protected_dma_config *config, const struct iommu_check_guest_memory *memory) {
    struct layer *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->config = *config;
    l->memory = memory;
    l->slot_used = calloc(config->pool_slots + 1, 1);
    l->page_used = calloc(config->coherent_bytes / PAGE + 1, 1);
    l->mappings = calloc(config->pool_slots + 1, sizeof *l->mappings);
    if (!l->slot_used || !l->page_used || !l->mappings) {
        free(l->slot_used); free(l->page_used); free(l->mappings); free(l);
        return NULL;
    }
    return l;
}

static void destroy(void *handle) {
    struct layer *l = handle;
    free(l->slot_used); free(l->page_used); free(l->mappings); free(l);
}

static uint64_t slot_address(const struct layer *l, uint32_t slot) { return l->config.pool_base + (uint64_t)slot * SLOT; }

/* A run of `count` free slots inside one segment starting at `first`, whose address keeps the
 * min_align_mask bits of `orig` (page-aligned for a page or more without a mask). */
static int fits(const struct layer *l, uint32_t first, uint32_t count, uint64_t orig, uint64_t offset, uint64_t size) {
    uint32_t segment = l->config.segment_slots;
    if (first + count > l->config.pool_slots || first / segment != (first + count - 1) / segment) return 0;
    uint64_t address = slot_address(l, first) + offset;
    if ((address ^ orig) & l->config.min_align_mask) return 0;
    if (l->config.min_align_mask == 0 && offset + size >= PAGE && address % PAGE) return 0;
    for (uint32_t i = first; i < first + count; i++)
        if (l->slot_used[i]) return 0;
    return 1;
}

static struct mapping *find(struct layer *l, uint64_t dma) {
    for (uint32_t i = 0; i < l->config.pool_slots; i++) {
        struct mapping *m = &l->mappings[i];
        if (m->dma && dma >= m->dma && dma - m->dma < m->size) return m;
    }
    return NULL;
}

/* Copies size bytes at dma (inside its mapping) to or from the original buffer. */
static void bounce(struct layer *l, uint64_t dma, uint64_t size, int to_device) {
    struct mapping *m = find(l, dma);
    if (!m) return;
    uint64_t offset = dma - m->dma;
    if (size > m->size - offset) size = m->size - offset;
    if (to_device) l->memory->copy(l->memory->context, dma, m->orig + offset, size);
    else l->memory->copy(l->memory->context, m->orig + offset, dma, size);
}

static uint64_t map(void *handle, uint64_t address, uint64_t size, uint32_t direction) {
    struct layer *l = handle;
    uint64_t offset = address & l->config.min_align_mask & (SLOT - 1);
    if (size == 0 || offset + size > (uint64_t)l->config.segment_slots * SLOT) return IOMMU_CHECK_DMA_MAPPING_ERROR;
    uint32_t count = (uint32_t)((offset + size + SLOT - 1) / SLOT);
    for (uint32_t first = 0; first + count <= l->config.pool_slots; first++) {
        if (!fits(l, first, count, address, offset, size)) continue;
        struct mapping *m = NULL;
        for (uint32_t i = 0; i < l->config.pool_slots && !m; i++)
            if (!l->mappings[i].dma) m = &l->mappings[i];
        if (!m) return IOMMU_CHECK_DMA_MAPPING_ERROR;
        /* Slots are taken before any copy: another CPU's map may run during it. */
        for (uint32_t i = first; i < first + count; i++) l->slot_used[i] = 1;
        *m = (struct mapping){ .dma = slot_address(l, first) + offset, .orig = address, .size = size, .first = first, .slots = count };
#ifdef PLANT_BUG
        if (direction != IOMMU_CHECK_DMA_FROM_DEVICE)
#endif
        bounce(l, m->dma, size, 1);
        return m->dma;
    }
    return IOMMU_CHECK_DMA_MAPPING_ERROR;
}

static void unmap(void *handle, uint64_t dma, uint64_t size, uint32_t direction) {
    struct layer *l = handle;
    struct mapping *m = find(l, dma);
    if (!m) return;
    if (direction != IOMMU_CHECK_DMA_TO_DEVICE) bounce(l, m->dma, m->size, 0);
    /* Released only after the copy back. */
    for (uint32_t i = m->first; i < m->first + m->slots; i++) l->slot_used[i] = 0;
    m->dma = 0;
    (void)size;
}

static void sync_for_device(void *handle, uint64_t dma, uint64_t size, uint32_t direction) {
    if (direction != IOMMU_CHECK_DMA_FROM_DEVICE) bounce(handle, dma, size, 1);
}

static void sync_for_cpu(void *handle, uint64_t dma, uint64_t size, uint32_t direction) {
    if (direction != IOMMU_CHECK_DMA_TO_DEVICE) bounce(handle, dma, size, 0);
}

static int32_t alloc_coherent(void *handle, uint64_t size, uint64_t *cpu, uint64_t *dma) {
    struct layer *l = handle;
    uint64_t pages = (size + PAGE - 1) / PAGE, total = l->config.coherent_bytes / PAGE;
    for (uint64_t first = 0; pages && first + pages <= total; first++) {
        uint64_t i = first;
        while (i < first + pages && !l->page_used[i]) i++;
        if (i < first + pages) continue;
        uint64_t address = l->config.coherent_base + first * PAGE;
        /* Shared first, then zeroed: sharing keeps whatever the pages held. */
        if (l->memory->share(l->memory->context, address, pages)) return 1;
        for (i = first; i < first + pages; i++) l->page_used[i] = 1;
        l->memory->fill(l->memory->context, address, 0, pages * PAGE);
        *cpu = *dma = address;
        return 0;
    }
    return 1;
}

static void free_coherent(void *handle, uint64_t cpu, uint64_t dma, uint64_t size) {
    struct layer *l = handle;
    uint64_t pages = (size + PAGE - 1) / PAGE, first = (cpu - l->config.coherent_base) / PAGE;
    /* Private again before the pages are reused; if that fails they are never reused. */
    if (l->memory->unshare(l->memory->context, cpu, pages)) return;
    for (uint64_t i = first; i < first + pages; i++) l->page_used[i] = 0;
    (void)dma;
}

static int32_t setup_virtqueue(void *handle, uint64_t size, uint64_t *cpu, uint64_t *dma) {
    struct layer *l = handle;
    if (l->config.virtio != IOMMU_CHECK_VIRTIO_ACCESS_PLATFORM) return 1; /* -ENODEV */
    return alloc_coherent(l, size, cpu, dma);
}

static const struct iommu_check_protected_dma_ops protected_dma_ops = {
    .create = create,
    .destroy = destroy,
    .map = map,
    .unmap = unmap,
    .sync_for_device = sync_for_device,
    .sync_for_cpu = sync_for_cpu,
    .alloc_coherent = alloc_coherent,
    .free_coherent = free_coherent,
    .setup_virtqueue = setup_virtqueue,
};

static const struct iommu_check_plugin plugin = {
    .abi_version = IOMMU_CHECK_ABI_VERSION,
    .abi_revision = IOMMU_CHECK_ABI_REVISION,
    .name = "c-example-protected-dma",
    .protected_dma = &protected_dma_ops,
};

const struct iommu_check_plugin *iommu_check_plugin_v2(void) { return &plugin; }
