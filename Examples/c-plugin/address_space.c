/*
 * A small C implementation of the AddressSpace surface of iommu-conformance, as a plug-in.
 * A sorted array of mappings; every rule of docs/SEMANTICS.md ("Address space"), for every
 * policy the checker can configure (the switches of struct iommu_check_as_config).
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
 *   -DLEGACY_V1            builds the plug-in against ABI version 1 (iommu_check_plugin_v1)
 */
#include "iommu_check.h"

#include <stdlib.h>
#include <string.h>

#ifndef ABI_VERSION
#ifdef LEGACY_V1
#define ABI_VERSION 1u
#else
#define ABI_VERSION IOMMU_CHECK_ABI_VERSION
#endif
#endif

struct space {
    uint64_t page_mask;
    uint64_t aperture_first, aperture_last;
    uint64_t mapping_limit;
    struct iommu_check_reserved_region *reserved;
    uint32_t reserved_count;
    uint32_t partial_unmap, empty_unmap, permission_required, phys_wrap, write_only_reads, unmap_all, bytes;
    uint32_t unmap_alignment, ulong_max_overflow, has_aperture, msi_doorbell;
    struct iommu_check_extent *maps; /* sorted by iova, disjoint */
    size_t count;
    size_t capacity;
};

static uint64_t last_of(const struct iommu_check_extent *e) { return e->iova + (e->length - 1); }

static int overlaps(const struct iommu_check_extent *e, uint64_t first, uint64_t last) {
    return e->iova <= last && first <= last_of(e);
}

static struct space *new_space(uint64_t page_size, uint32_t reserved_count) {
    if (page_size == 0 || (page_size & (page_size - 1)) != 0) return NULL;
    struct space *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->page_mask = page_size - 1;
    s->reserved_count = reserved_count;
    if (reserved_count) {
        s->reserved = calloc(reserved_count, sizeof *s->reserved);
        if (!s->reserved) { free(s); return NULL; }
    }
    return s;
}

#ifdef LEGACY_V1
static void *as_create(const struct iommu_check_as_config_v1 *config) {
    if (config->page_size < 4096 || config->address_width == 0 || config->address_width > 64 || config->partial_unmap > 3) return NULL;
    struct space *s = new_space(config->page_size, config->reserved_count);
    if (!s) return NULL;
    s->aperture_first = 0;
    s->aperture_last = config->address_width >= 64 ? UINT64_MAX : (UINT64_C(1) << config->address_width) - 1;
    s->mapping_limit = config->mapping_limit;
    for (uint32_t i = 0; i < config->reserved_count; i++) {
        s->reserved[i].first = config->reserved[i].first;
        s->reserved[i].last = config->reserved[i].last;
    }
    /* Version 1 states only the two halves of the unmap policy; the rest is what version 1
     * plug-ins were told for every policy. */
    s->partial_unmap = config->partial_unmap;
    s->empty_unmap = config->empty_unmap;
    s->permission_required = config->partial_unmap == IOMMU_CHECK_REJECT_PARTIAL ? IOMMU_CHECK_RULE_ABSENT : IOMMU_CHECK_RULE_ENFORCED;
    s->phys_wrap = config->partial_unmap == IOMMU_CHECK_REJECT_PARTIAL ? IOMMU_CHECK_PHYS_UNSPECIFIED
                 : config->partial_unmap == IOMMU_CHECK_REMOVE_OVERLAPPING ? IOMMU_CHECK_PHYS_ABSENT : IOMMU_CHECK_PHYS_INCLUSIVE_END;
    s->unmap_alignment = config->partial_unmap == IOMMU_CHECK_REJECT_BISECT || config->partial_unmap == IOMMU_CHECK_SPLIT;
    s->has_aperture = config->partial_unmap != IOMMU_CHECK_REMOVE_OVERLAPPING;
    s->unmap_all = config->partial_unmap == IOMMU_CHECK_REJECT_BISECT ? IOMMU_CHECK_UNMAP_ALL_FLAG : IOMMU_CHECK_UNMAP_ALL_RESET;
    s->bytes = IOMMU_CHECK_BYTES_ON_SUCCESS;
    return s;
}
#else
static void *as_create(const struct iommu_check_as_config *config) {
    if (config->partial_unmap > IOMMU_CHECK_CUT_AT_EDGES) return NULL;
    struct space *s = new_space(config->page_size, config->reserved_count);
    if (!s) return NULL;
    s->aperture_first = config->aperture_first;
    s->aperture_last = config->aperture_last;
    s->mapping_limit = config->mapping_limit;
    if (config->reserved_count) memcpy(s->reserved, config->reserved, config->reserved_count * sizeof *s->reserved);
    s->partial_unmap = config->partial_unmap;
    s->empty_unmap = config->empty_unmap;
    s->permission_required = config->permission_required;
    s->phys_wrap = config->phys_wrap;
    s->write_only_reads = config->write_only_reads;
    s->unmap_all = config->unmap_all;
    s->bytes = config->bytes;
    s->unmap_alignment = config->unmap_alignment;
    s->ulong_max_overflow = config->ulong_max_overflow;
    s->has_aperture = config->has_aperture;
    s->msi_doorbell = config->msi_doorbell;
    return s;
}
#endif

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

static void remove_at(struct space *s, size_t at) {
    memmove(&s->maps[at], &s->maps[at + 1], (s->count - at - 1) * sizeof *s->maps);
    s->count--;
}

static int32_t as_map(void *handle, uint64_t iova, uint64_t length, uint64_t phys, uint32_t permissions) {
    struct space *s = handle;
    if (s->ulong_max_overflow && (iova == UINT64_MAX || length == UINT64_MAX)) return IOMMU_CHECK_AS_OVERFLOW;
    if ((permissions & 3) == 0 && s->permission_required == IOMMU_CHECK_RULE_ENFORCED) return IOMMU_CHECK_AS_NO_PERMISSION;
    if (length == 0) return IOMMU_CHECK_AS_ZERO_LENGTH;
    if (((iova | length | phys) & s->page_mask) != 0) return IOMMU_CHECK_AS_MISALIGNED;
    if (iova > UINT64_MAX - (length - 1)) return IOMMU_CHECK_AS_OVERFLOW;
    if (s->phys_wrap == IOMMU_CHECK_PHYS_INCLUSIVE_END && phys > UINT64_MAX - (length - 1)) return IOMMU_CHECK_AS_OVERFLOW;
    if (s->phys_wrap == IOMMU_CHECK_PHYS_EXCLUSIVE_END && (phys > UINT64_MAX - length || length > UINT64_MAX - 4096)) return IOMMU_CHECK_AS_OVERFLOW;
#ifdef BAD_STATUS
    if (length == 3 * (s->page_mask + 1)) return 42;
#endif
    uint64_t last = iova + (length - 1);
    for (size_t i = 0; i < s->count; i++)
        if (overlaps(&s->maps[i], iova, last)) return IOMMU_CHECK_AS_OVERLAP;
    if (s->count >= s->mapping_limit) return IOMMU_CHECK_AS_MAPPING_LIMIT;
    if (s->has_aperture) {
        if (iova < s->aperture_first || last > s->aperture_last) return IOMMU_CHECK_AS_OUTSIDE_APERTURE;
        for (uint32_t i = 0; i < s->reserved_count; i++)
            if (s->reserved[i].first <= last && iova <= s->reserved[i].last) return IOMMU_CHECK_AS_RESERVED_REGION;
    }
    struct iommu_check_extent e = { iova, length, phys, permissions & 3, 0 };
    return insert(s, e) == 0 ? IOMMU_CHECK_AS_OK : IOMMU_CHECK_AS_MAPPING_LIMIT;
}

static int32_t remove_all(struct space *s, uint64_t *bytes) {
    uint64_t removed = 0;
    for (size_t i = 0; i < s->count; i++) removed += s->maps[i].length; /* wraps, as size_t does */
    s->count = 0;
    *bytes = removed;
    return IOMMU_CHECK_AS_OK;
}

/* iopt_cut_iova: split the mapping holding address so that address ends a mapping. */
static int32_t cut(struct space *s, uint64_t address) {
    for (size_t i = 0; i < s->count; i++) {
        struct iommu_check_extent e = s->maps[i];
        if (address < e.iova || address > last_of(&e)) continue;
        if (address == e.iova || address == last_of(&e)) return IOMMU_CHECK_AS_OK;
        if (((address + 1) & s->page_mask) != 0) return IOMMU_CHECK_AS_MISALIGNED;
        s->maps[i].length = address - e.iova + 1;
        struct iommu_check_extent upper = { address + 1, last_of(&e) - address, e.phys + (address + 1 - e.iova), e.permissions, 0 };
        return insert(s, upper) == 0 ? IOMMU_CHECK_AS_OK : IOMMU_CHECK_AS_MAPPING_LIMIT;
    }
    return IOMMU_CHECK_AS_OK;
}

static int32_t as_unmap(void *handle, uint64_t iova, uint64_t length, uint64_t *bytes) {
    struct space *s = handle;
    if (s->unmap_all == IOMMU_CHECK_UNMAP_ALL_SENTINEL && iova == 0 && length == UINT64_MAX) return remove_all(s, bytes);
    if (s->ulong_max_overflow && (iova == UINT64_MAX || length == UINT64_MAX)) return IOMMU_CHECK_AS_OVERFLOW;
    if (s->partial_unmap == IOMMU_CHECK_CUT_AT_EDGES) {
        int32_t status = cut(s, iova + length - 1);
        if (status == IOMMU_CHECK_AS_OK && iova != 0) status = cut(s, iova - 1);
        if (status != IOMMU_CHECK_AS_OK) return status;
    }
    if (length == 0) return IOMMU_CHECK_AS_ZERO_LENGTH;
    if (s->unmap_alignment && ((iova | length) & s->page_mask) != 0) return IOMMU_CHECK_AS_MISALIGNED;
    if (iova > UINT64_MAX - (length - 1)) return IOMMU_CHECK_AS_OVERFLOW;
#if defined(CRASH_ON_LONG_UNMAP)
    if (length > (UINT64_C(1) << 30)) *(volatile int *)0 = 1;
#elif defined(HANG_ON_LONG_UNMAP)
    if (length > (UINT64_C(1) << 30)) for (;;) {}
#endif
    uint64_t last = iova + (length - 1);
    size_t touched = 0;
    int straddles = 0, starts_inside = 0;
    for (size_t i = 0; i < s->count; i++) {
        if (!overlaps(&s->maps[i], iova, last)) continue;
        if (touched++ == 0 && s->maps[i].iova < iova) starts_inside = 1;
        if (s->maps[i].iova < iova || last_of(&s->maps[i]) > last) straddles = 1;
    }
#ifdef PLANT_BUG
    straddles = 0;
#endif
    if (straddles && s->partial_unmap == IOMMU_CHECK_REJECT_BISECT) return IOMMU_CHECK_AS_BISECTS_MAPPING;
    if (straddles && s->partial_unmap == IOMMU_CHECK_REJECT_PARTIAL) return IOMMU_CHECK_AS_PARTIAL_UNMAP;
    if (starts_inside && s->partial_unmap == IOMMU_CHECK_REMOVE_STARTING_INSIDE) return IOMMU_CHECK_AS_OK; /* *bytes stays 0 */
    if (touched == 0 && s->empty_unmap == IOMMU_CHECK_EMPTY_FAILS) return IOMMU_CHECK_AS_NOTHING_TO_UNMAP;

    uint64_t removed = 0;
    size_t i = 0;
    while (i < s->count) {
        struct iommu_check_extent e = s->maps[i];
        if (!overlaps(&e, iova, last)) { i++; continue; }
        int covered = e.iova >= iova && last_of(&e) <= last;
        if (!covered) {
#ifdef PLANT_BUG
            i++;
            continue;
#else
            if (s->partial_unmap == IOMMU_CHECK_REMOVE_UNTIL_PARTIAL || s->partial_unmap == IOMMU_CHECK_CUT_AT_EDGES) {
                /* iopt_unmap_iova_range: the areas below it are already gone */
                if (s->bytes == IOMMU_CHECK_BYTES_EVEN_ON_FAILURE) *bytes = removed;
                return IOMMU_CHECK_AS_PARTIAL_UNMAP;
            }
            if (s->partial_unmap == IOMMU_CHECK_SPLIT) {
                uint64_t first_cut = e.iova > iova ? e.iova : iova;
                uint64_t last_cut = last_of(&e) < last ? last_of(&e) : last;
                removed += last_cut - first_cut + 1;
                remove_at(s, i);
                if (e.iova < iova) {
                    struct iommu_check_extent before = { e.iova, iova - e.iova, e.phys, e.permissions, 0 };
                    insert(s, before);
                    i++;
                }
                if (last_of(&e) > last) {
                    struct iommu_check_extent after = { last + 1, last_of(&e) - last, e.phys + (last + 1 - e.iova), e.permissions, 0 };
                    insert(s, after);
                    i++;
                }
                continue;
            }
#endif
        }
        removed += e.length;
        remove_at(s, i);
    }
    if (removed == 0 && touched == 0 && s->empty_unmap == IOMMU_CHECK_EMPTY_FAILS) return IOMMU_CHECK_AS_NOTHING_TO_UNMAP;
    *bytes = removed;
    return IOMMU_CHECK_AS_OK;
}

#ifdef LEGACY_V1
static uint64_t as_unmap_all(void *handle) {
    uint64_t bytes = 0;
    remove_all(handle, &bytes);
    return bytes;
}
#else
static int32_t as_unmap_all(void *handle, uint64_t iova, uint64_t length, uint64_t *bytes) {
    struct space *s = handle;
    if (s->unmap_all == IOMMU_CHECK_UNMAP_ALL_FLAG && (iova != 0 || length != 0)) return IOMMU_CHECK_AS_UNMAP_ALL_ARGUMENTS;
    return remove_all(s, bytes);
}
#endif

static int32_t as_translate(void *handle, uint64_t iova, uint32_t access, uint64_t *phys) {
    struct space *s = handle;
    if (s->has_aperture && (iova < s->aperture_first || iova > s->aperture_last)) return IOMMU_CHECK_FAULT_OUTSIDE_APERTURE;
    for (uint32_t i = 0; i < s->reserved_count; i++) {
        if (iova < s->reserved[i].first || iova > s->reserved[i].last) continue;
        if (s->msi_doorbell && s->reserved[i].kind == IOMMU_CHECK_RESERVED_MSI) { *phys = iova; return IOMMU_CHECK_FAULT_NONE; }
        return IOMMU_CHECK_FAULT_NOT_MAPPED;
    }
    for (size_t i = 0; i < s->count; i++) {
        const struct iommu_check_extent *e = &s->maps[i];
        if (iova < e->iova || iova > last_of(e)) continue;
        uint32_t allowed = e->permissions;
        if (allowed == IOMMU_CHECK_WRITE && s->write_only_reads != IOMMU_CHECK_WRITE_ONLY_DENIED) allowed |= IOMMU_CHECK_READ;
        if ((allowed & access) == 0) return IOMMU_CHECK_FAULT_PERMISSION_DENIED;
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

#ifdef LEGACY_V1
static const struct iommu_check_address_space_ops_v1 address_space_ops = {
#else
static const struct iommu_check_address_space_ops address_space_ops = {
#endif
    .create = as_create,
    .destroy = as_destroy,
    .map = as_map,
    .unmap = as_unmap,
    .unmap_all = as_unmap_all,
    .translate = as_translate,
    .mappings = as_mappings,
};

#ifdef LEGACY_V1
static const struct iommu_check_plugin_v1 plugin = {
    .abi_version = ABI_VERSION,
    .name = "c-example-address-space-v1",
    .address_space = &address_space_ops,
};

const struct iommu_check_plugin_v1 *iommu_check_plugin_v1(void) { return &plugin; }
#else
static const struct iommu_check_plugin plugin = {
    .abi_version = ABI_VERSION,
    .abi_revision = IOMMU_CHECK_ABI_REVISION,
    .name = "c-example-address-space",
    .address_space = &address_space_ops,
};

const struct iommu_check_plugin *iommu_check_plugin_v2(void) { return &plugin; }
#endif
