/*
 * A small C implementation of the AddressSpace surface of iommu-conformance, as a plug-in.
 * A sorted array of mappings; every rule of docs/SEMANTICS.md ("Address space").
 *
 * Build (see README.md):   cc -shared -fPIC -O2 -I ../../Sources/CIOMMUCheck/include address_space.c -o libaddress_space.so
 * Check:                   swift run -c release iommu-check run --surface address-space --plugin ./libaddress_space.so
 *
 * Variants selected by a macro, for the test suite and for trying the checker:
 *   -DPLANT_BUG            an unmap keeps the mappings it covers only in part (instead of
 *                          applying the policy): the checker must catch it
 *   -DCRASH_ON_LONG_UNMAP  dereferences NULL when asked to unmap more than 1 GiB
 *   -DHANG_ON_LONG_UNMAP   loops forever in the same place
 *   -DBAD_STATUS           map answers status 42 for a 3-page mapping
 *   -DABI_VERSION=N        claims ABI version N
 */
#include "iommu_check.h"

#include <stdlib.h>
#include <string.h>

#ifndef ABI_VERSION
#define ABI_VERSION IOMMU_CHECK_ABI_VERSION
#endif

struct space {
    uint64_t page_mask;
    uint64_t aperture_last;
    uint32_t partial_unmap;
    uint32_t empty_unmap;
    uint64_t mapping_limit;
    struct iommu_check_range *reserved;
    uint32_t reserved_count;
    struct iommu_check_extent *maps; /* sorted by iova, disjoint */
    size_t count;
    size_t capacity;
};

static uint64_t last_of(const struct iommu_check_extent *e) { return e->iova + (e->length - 1); }

static int overlaps(const struct iommu_check_extent *e, uint64_t first, uint64_t last) {
    return e->iova <= last && first <= last_of(e);
}

static void *as_create(const struct iommu_check_as_config *config) {
    if (config->page_size < 4096 || (config->page_size & (config->page_size - 1)) != 0) return NULL;
    if (config->address_width == 0 || config->address_width > 64 || config->partial_unmap > 3) return NULL;
    struct space *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->page_mask = config->page_size - 1;
    s->aperture_last = config->address_width >= 64 ? UINT64_MAX : (UINT64_C(1) << config->address_width) - 1;
    s->partial_unmap = config->partial_unmap;
    s->empty_unmap = config->empty_unmap;
    s->mapping_limit = config->mapping_limit;
    s->reserved_count = config->reserved_count;
    if (config->reserved_count) {
        s->reserved = malloc(config->reserved_count * sizeof *s->reserved);
        if (!s->reserved) { free(s); return NULL; }
        memcpy(s->reserved, config->reserved, config->reserved_count * sizeof *s->reserved);
    }
    return s;
}

static void as_destroy(void *handle) {
    struct space *s = handle;
    free(s->reserved);
    free(s->maps);
    free(s);
}

static int insert(struct space *s, struct iommu_check_extent e) {
    if (s->count == s->capacity) {
        size_t capacity = s->capacity ? s->capacity * 2 : 16;
        struct iommu_check_extent *grown = realloc(s->maps, capacity * sizeof *grown);
        if (!grown) return -1;
        s->maps = grown;
        s->capacity = capacity;
    }
    size_t at = 0;
    while (at < s->count && s->maps[at].iova < e.iova) at++;
    memmove(&s->maps[at + 1], &s->maps[at], (s->count - at) * sizeof *s->maps);
    s->maps[at] = e;
    s->count++;
    return 0;
}

static int32_t as_map(void *handle, uint64_t iova, uint64_t length, uint64_t phys, uint32_t permissions) {
    struct space *s = handle;
    if ((permissions & 3) == 0) return IOMMU_CHECK_AS_NO_PERMISSION;
    if (length == 0) return IOMMU_CHECK_AS_ZERO_LENGTH;
    if (((iova | length | phys) & s->page_mask) != 0) return IOMMU_CHECK_AS_MISALIGNED;
    if (iova > UINT64_MAX - (length - 1) || phys > UINT64_MAX - (length - 1)) return IOMMU_CHECK_AS_OVERFLOW;
#ifdef BAD_STATUS
    if (length == 3 * (s->page_mask + 1)) return 42;
#endif
    uint64_t last = iova + (length - 1);
    for (size_t i = 0; i < s->count; i++)
        if (overlaps(&s->maps[i], iova, last)) return IOMMU_CHECK_AS_OVERLAP;
    if (s->count >= s->mapping_limit) return IOMMU_CHECK_AS_MAPPING_LIMIT;
    if (last > s->aperture_last) return IOMMU_CHECK_AS_OUTSIDE_APERTURE;
    for (uint32_t i = 0; i < s->reserved_count; i++)
        if (s->reserved[i].first <= last && iova <= s->reserved[i].last) return IOMMU_CHECK_AS_RESERVED_REGION;
    struct iommu_check_extent e = { iova, length, phys, permissions & 3, 0 };
    return insert(s, e) == 0 ? IOMMU_CHECK_AS_OK : IOMMU_CHECK_AS_MAPPING_LIMIT;
}

static int32_t as_unmap(void *handle, uint64_t iova, uint64_t length, uint64_t *bytes) {
    struct space *s = handle;
    if (length == 0) return IOMMU_CHECK_AS_ZERO_LENGTH;
    if (((iova | length) & s->page_mask) != 0) return IOMMU_CHECK_AS_MISALIGNED;
    if (iova > UINT64_MAX - (length - 1)) return IOMMU_CHECK_AS_OVERFLOW;
#if defined(CRASH_ON_LONG_UNMAP)
    if (length > (UINT64_C(1) << 30)) *(volatile int *)0 = 1;
#elif defined(HANG_ON_LONG_UNMAP)
    if (length > (UINT64_C(1) << 30)) for (;;) {}
#endif
    uint64_t last = iova + (length - 1);
    size_t touched = 0;
    int straddles = 0;
    for (size_t i = 0; i < s->count; i++) {
        if (!overlaps(&s->maps[i], iova, last)) continue;
        touched++;
        if (s->maps[i].iova < iova || last_of(&s->maps[i]) > last) straddles = 1;
    }
#ifdef PLANT_BUG
    (void)straddles;
#else
    if (straddles && s->partial_unmap == IOMMU_CHECK_REJECT_BISECT) return IOMMU_CHECK_AS_BISECTS_MAPPING;
    if (straddles && s->partial_unmap == IOMMU_CHECK_REJECT_PARTIAL) return IOMMU_CHECK_AS_PARTIAL_UNMAP;
#endif
    if (touched == 0 && s->empty_unmap == IOMMU_CHECK_EMPTY_FAILS) return IOMMU_CHECK_AS_NOTHING_TO_UNMAP;

    uint64_t removed = 0;
    struct iommu_check_extent *old = s->maps;
    size_t old_count = s->count;
    s->maps = NULL;
    s->count = s->capacity = 0;
    for (size_t i = 0; i < old_count; i++) {
        struct iommu_check_extent e = old[i];
        if (!overlaps(&e, iova, last)) { insert(s, e); continue; }
        int covered = e.iova >= iova && last_of(&e) <= last;
#ifdef PLANT_BUG
        if (!covered) { insert(s, e); continue; }
#endif
        if (covered || s->partial_unmap != IOMMU_CHECK_SPLIT) {
            removed = removed > UINT64_MAX - e.length ? UINT64_MAX : removed + e.length;
            continue;
        }
        /* split: the covered part goes; what sticks out keeps its translation */
        uint64_t first_cut = e.iova > iova ? e.iova : iova;
        uint64_t last_cut = last_of(&e) < last ? last_of(&e) : last;
        removed += last_cut - first_cut + 1;
        if (e.iova < iova) {
            struct iommu_check_extent before = { e.iova, iova - e.iova, e.phys, e.permissions, 0 };
            insert(s, before);
        }
        if (last_of(&e) > last) {
            struct iommu_check_extent after = { last + 1, last_of(&e) - last, e.phys + (last + 1 - e.iova), e.permissions, 0 };
            insert(s, after);
        }
    }
    free(old);
    *bytes = removed;
    return IOMMU_CHECK_AS_OK;
}

static uint64_t as_unmap_all(void *handle) {
    struct space *s = handle;
    uint64_t removed = 0;
    for (size_t i = 0; i < s->count; i++)
        removed = removed > UINT64_MAX - s->maps[i].length ? UINT64_MAX : removed + s->maps[i].length;
    s->count = 0;
    return removed;
}

static int32_t as_translate(void *handle, uint64_t iova, uint32_t access, uint64_t *phys) {
    struct space *s = handle;
    if (iova > s->aperture_last) return IOMMU_CHECK_FAULT_OUTSIDE_APERTURE;
    for (size_t i = 0; i < s->count; i++) {
        const struct iommu_check_extent *e = &s->maps[i];
        if (iova < e->iova || iova > last_of(e)) continue;
        if ((e->permissions & access) == 0) return IOMMU_CHECK_FAULT_PERMISSION_DENIED;
        *phys = e->phys + (iova - e->iova);
        return IOMMU_CHECK_FAULT_NONE;
    }
    return IOMMU_CHECK_FAULT_NOT_MAPPED;
}

static size_t as_mappings(void *handle, uint64_t first, uint64_t last, struct iommu_check_extent *out, size_t capacity) {
    struct space *s = handle;
    size_t found = 0;
    for (size_t i = 0; i < s->count; i++) {
        if (!overlaps(&s->maps[i], first, last)) continue;
        if (found < capacity) out[found] = s->maps[i];
        found++;
    }
    return found;
}

static const struct iommu_check_address_space_ops address_space_ops = {
    .create = as_create,
    .destroy = as_destroy,
    .map = as_map,
    .unmap = as_unmap,
    .unmap_all = as_unmap_all,
    .translate = as_translate,
    .mappings = as_mappings,
};

static const struct iommu_check_plugin plugin = {
    .abi_version = ABI_VERSION,
    .name = "c-example-address-space",
    .address_space = &address_space_ops,
};

const struct iommu_check_plugin *iommu_check_plugin_v1(void) { return &plugin; }
