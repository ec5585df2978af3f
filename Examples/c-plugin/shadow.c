/*
 * A small C implementation of the Shadow surface of iommu-conformance, as a plug-in: on every
 * invalidation it reads the guest's present leaves on the invalidated range, translates them
 * to host-physical, and installs them with one atomic replace (docs/SEMANTICS.md, "Shadow").
 *
 * Build:  cc -shared -fPIC -O2 -I ../../Sources/CIOMMUCheck/include shadow.c -o libshadow.so
 * Check:  swift run -c release iommu-check run --surface shadow --plugin ./libshadow.so
 *
 *   -DPLANT_BUG   resyncs with unmap then map instead of replace: a page that keeps its
 *                 translation is absent between the two calls (seed 004's DMA window)
 */
#include "iommu_check.h"

#include <stdlib.h>

struct layer {
    struct iommu_check_shadow_config config;
    const struct iommu_check_shadow_host *host;
};

static void *shadow_create(const struct iommu_check_shadow_config *config, const struct iommu_check_shadow_host *host) {
    if (config->address_width < 12 || config->address_width > 64) return NULL;
    struct layer *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->config = *config;
    l->host = host;
    return l;
}

static void shadow_destroy(void *handle) { free(handle); }

/* The host extents the guest asks for on [first, last] of domain; *count set, caller frees. */
static struct iommu_check_extent *target(struct layer *l, uint32_t domain, uint64_t first, uint64_t last, size_t *count) {
    const struct iommu_check_shadow_host *h = l->host;
    size_t n = h->guest_leaves(h->context, domain, first, last, NULL, 0);
    struct iommu_check_guest_leaf *leaves = calloc(n ? n : 1, sizeof *leaves);
    struct iommu_check_extent *out = calloc(n ? n : 1, sizeof *out);
    if (!leaves || !out) { free(leaves); free(out); *count = 0; return NULL; }
    n = h->guest_leaves(h->context, domain, first, last, leaves, n);
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        const struct iommu_check_guest_leaf *leaf = &leaves[i];
        uint64_t base = h->guest_to_host(h->context, leaf->gpa);
        /* A leaf outside guest RAM, or straddling two RAM regions, has nothing to shadow. */
        if (base == 0 || h->guest_to_host(h->context, leaf->gpa + (leaf->size - 1)) != base + (leaf->size - 1)) continue;
        uint64_t lo = leaf->iova > first ? leaf->iova : first;
        uint64_t leaf_last = leaf->iova + (leaf->size - 1);
        uint64_t hi = leaf_last < last ? leaf_last : last;
        out[used++] = (struct iommu_check_extent){ .iova = lo, .length = hi - lo + 1, .phys = base + (lo - leaf->iova), .permissions = leaf->permissions };
    }
    free(leaves);
    *count = used;
    return out;
}

static void resync(struct layer *l, uint32_t domain, uint64_t first, uint64_t last) {
    const struct iommu_check_shadow_host *h = l->host;
    size_t count = 0;
    struct iommu_check_extent *extents = target(l, domain, first, last, &count);
    uint64_t length = last - first + 1; /* 0 means the whole 2^64 space; widths here are below 64 */
#ifdef PLANT_BUG
    h->unmap(h->context, domain, first, length);
    for (size_t i = 0; i < count; i++) h->map(h->context, domain, extents[i].iova, extents[i].length, extents[i].phys, extents[i].permissions);
#else
    h->replace(h->context, domain, first, length, extents, count);
#endif
    h->notify_unmap(h->context, domain, first, length);
    free(extents);
}

static void shadow_invalidate(void *handle, uint32_t kind, uint32_t domain, uint64_t iova, uint32_t order) {
    struct layer *l = handle;
    uint64_t aperture_last = l->config.address_width >= 64 ? UINT64_MAX : (UINT64_C(1) << l->config.address_width) - 1;
    switch (kind) {
    case IOMMU_CHECK_INVALIDATE_PAGE_SELECTIVE: {
        /* 2^order pages from iova, clipped to the IOVA space; order above 52 names nothing. */
        if (order > 52 || iova > aperture_last || domain >= l->config.domain_count) return;
        uint64_t last = iova + ((UINT64_C(4096) << order) - 1);
        if (last < iova || last > aperture_last) last = aperture_last;
        resync(l, domain, iova, last);
        break;
    }
    case IOMMU_CHECK_INVALIDATE_DOMAIN:
    case IOMMU_CHECK_INVALIDATE_CONTEXT:
        if (domain < l->config.domain_count) resync(l, domain, 0, aperture_last);
        break;
    case IOMMU_CHECK_INVALIDATE_GLOBAL:
        for (uint32_t d = 0; d < l->config.domain_count; d++) resync(l, d, 0, aperture_last);
        break;
    }
}

static const struct iommu_check_shadow_ops shadow_ops = {
    .create = shadow_create,
    .destroy = shadow_destroy,
    .invalidate = shadow_invalidate,
};

static const struct iommu_check_plugin plugin = {
    .abi_version = IOMMU_CHECK_ABI_VERSION,
    .abi_revision = IOMMU_CHECK_ABI_REVISION,
    .name = "c-example-shadow",
    .shadow = &shadow_ops,
};

const struct iommu_check_plugin *iommu_check_plugin_v2(void) { return &plugin; }
