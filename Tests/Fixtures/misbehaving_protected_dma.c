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
#ifdef MISBEHAVE_LEAK_NEIGHBOUR
    /* Bounces a byte past the buffer too: private data the driver never mapped. */
    uint64_t dma = map(handle, address, size, direction);
    if (dma != IOMMU_CHECK_DMA_MAPPING_ERROR && address + size < l->config.buffer_base + l->config.buffer_bytes)
        l->memory->copy(l->memory->context, dma + size, address + size, 1);
    return dma;
#endif
    return map(handle, address, size, direction);
}

/* The example's tables with map replaced. */
static struct iommu_check_protected_dma_ops misbehaving_ops;
static struct iommu_check_plugin misbehaving_plugin;

const struct iommu_check_plugin *iommu_check_plugin_v2(void) {
    misbehaving_ops = protected_dma_ops;
    misbehaving_ops.map = misbehaving_map;
    misbehaving_plugin = plugin;
    misbehaving_plugin.name = "misbehaving-protected-dma";
    misbehaving_plugin.protected_dma = &misbehaving_ops;
    return &misbehaving_plugin;
}
