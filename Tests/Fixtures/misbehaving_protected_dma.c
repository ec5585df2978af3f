/*
 * The protected-DMA example plug-in with one misbehaviour, chosen by -DMISBEHAVE_...: what a
 * broken layer looks like to the checker: the example's table, with its map wrapped.
 */
/* The example's entry point is renamed; this file exports the real one. */
#define iommu_check_plugin_v2 example_protected_dma_plugin
#include "../../Examples/c-plugin/protected_dma.c"
#undef iommu_check_plugin_v2

static uint64_t misbehaving_map(void *handle, uint64_t address, uint64_t size, uint32_t direction) {
    __attribute__((unused)) struct layer *l = handle;
#ifdef MISBEHAVE_CRASH_IN_MAP
    if (size > 1000) abort();
#endif
#ifdef MISBEHAVE_WRITE_FROM_NULL
    l->memory->write(l->memory->context, address, NULL, (size_t)1 << 40);
#endif
#ifdef MISBEHAVE_SHARE_BUFFER
    l->memory->share(l->memory->context, l->config.buffer_base, 1);
#endif
#ifdef MISBEHAVE_FALSE_FULL
    /* Refuses small buffers as if the pool were full. */
    if (size < 64) return IOMMU_CHECK_DMA_MAPPING_ERROR;
#endif
#ifdef MISBEHAVE_FAILED_MAP_WRITES
    /* Scribbles on the pool, then fails. */
    if (size < 64) {
        l->memory->fill(l->memory->context, l->config.pool_base, 0xee, 16);
        return IOMMU_CHECK_DMA_MAPPING_ERROR;
    }
#endif
#ifdef MISBEHAVE_LEAK_NEIGHBOUR
    /* Bounces a byte past the buffer too: private data the driver never mapped. */
    uint64_t dma = map(handle, address, size, direction);
    if (dma != IOMMU_CHECK_DMA_MAPPING_ERROR && address + size < l->config.buffer_base + l->config.buffer_bytes)
        l->memory->copy(l->memory->context, dma + size, address + size, 1);
    return dma;
#endif
    return map(handle, address, size, direction);
}

/* Frees the pages but leaves them shared with the host. */
__attribute__((unused)) static void free_kept_shared(void *handle, uint64_t cpu, uint64_t dma, uint64_t size) {
    struct layer *l = handle;
    uint64_t first = (cpu - l->config.coherent_base) / PAGE;
    for (uint64_t i = first; i < first + (size + PAGE - 1) / PAGE; i++) l->page_used[i] = 0;
    (void)dma;
}

/* Shares the pages but hands out whatever they held. */
__attribute__((unused)) static int32_t alloc_not_zeroed(void *handle, uint64_t size, uint64_t *cpu, uint64_t *dma) {
    struct layer *l = handle;
    uint64_t pages = (size + PAGE - 1) / PAGE, total = l->config.coherent_bytes / PAGE;
    for (uint64_t first = 0; pages && first + pages <= total; first++) {
        uint64_t i = first;
        while (i < first + pages && !l->page_used[i]) i++;
        if (i < first + pages) continue;
        uint64_t address = l->config.coherent_base + first * PAGE;
        if (l->memory->share(l->memory->context, address, pages)) return 1;
        for (i = first; i < first + pages; i++) l->page_used[i] = 1;
        *cpu = *dma = address;
        return 0;
    }
    return 1;
}

/* Hands the device an address other than the buffer's guest-physical one. */
__attribute__((unused)) static int32_t alloc_dma_elsewhere(void *handle, uint64_t size, uint64_t *cpu, uint64_t *dma) {
    int32_t status = alloc_coherent(handle, size, cpu, dma);
    if (status == 0) *dma += PAGE;
    return status;
}

/* The example's tables with the misbehaving calls in place. */
static struct iommu_check_protected_dma_ops misbehaving_ops;
static struct iommu_check_plugin misbehaving_plugin;

const struct iommu_check_plugin *iommu_check_plugin_v2(void) {
    misbehaving_ops = protected_dma_ops;
    misbehaving_ops.map = misbehaving_map;
#ifdef MISBEHAVE_FREE_KEEPS_SHARED
    misbehaving_ops.free_coherent = free_kept_shared;
#endif
#ifdef MISBEHAVE_ALLOC_NOT_ZEROED
    misbehaving_ops.alloc_coherent = alloc_not_zeroed;
#endif
#ifdef MISBEHAVE_COHERENT_DMA_ELSEWHERE
    misbehaving_ops.alloc_coherent = alloc_dma_elsewhere;
#endif
    misbehaving_plugin = plugin;
    misbehaving_plugin.name = "misbehaving-protected-dma";
    misbehaving_plugin.protected_dma = &misbehaving_ops;
    return &misbehaving_plugin;
}
