/*
 * A small C implementation of the Shadow surface of iommu-conformance, as a plug-in. It keeps
 * a record of the host mappings it made (as the host stores them), and on every invalidation
 * reads the guest's leaves on the range once (each with its host-physical address), finds the
 * runs of pages whose translation differs from the record, and changes only those: by one
 * atomic replace per run where the policy asks for it, else by unmap and map. A host that
 * cannot split a mapping (VT-d's iommu API, a VFIO container, an iommufd IOAS) has each
 * mapping that holds a changing page unmapped whole, and what it held outside the range mapped
 * back. A map the host has no room for ends the resync with insufficient resources
 * (docs/SEMANTICS.md, "Shadow").
 *
 * Build:  cc -shared -fPIC -O2 -I ../../Sources/CIOMMUCheck/include shadow.c -o libshadow.so
 * Check:  swift run -c release iommu-check run --surface shadow --plugin ./libshadow.so
 *
 *   -DPLANT_BUG   resyncs with unmap of the whole range then map: a page that keeps its
 *                 translation is absent between the two calls (seed 004's DMA window)
 */
#include "iommu_check.h"

#include <stdlib.h>
#include <string.h>

struct extent { uint64_t iova, length, phys; uint32_t permissions; };
struct list { struct extent *items; size_t count, capacity; };

struct layer {
    struct iommu_check_shadow_config config;
    const struct iommu_check_shadow_host *host;
    struct list *record;                 /* per domain: host mappings made, sorted */
    struct iommu_check_guest_leaf *leaves;
    size_t leaf_capacity;
};

static uint64_t last_of(const struct extent *e) { return e->iova + (e->length - 1); }
static int same_translation(const struct extent *a, const struct extent *b) {
    return a->phys - a->iova == b->phys - b->iova && a->permissions == b->permissions;
}

static int push(struct list *l, struct extent e) {
    if (l->count == l->capacity) {
        size_t capacity = l->capacity ? 2 * l->capacity : 16;
        struct extent *grown = realloc(l->items, capacity * sizeof *grown);
        if (!grown) return 0;
        l->items = grown;
        l->capacity = capacity;
    }
    l->items[l->count++] = e;
    return 1;
}

/* Appends e, joined to the last item where it continues it. */
static void push_merged(struct list *l, struct extent e) {
    if (l->count) {
        struct extent *p = &l->items[l->count - 1];
        if (last_of(p) + 1 == e.iova && p->phys + p->length == e.phys && p->permissions == e.permissions) { p->length += e.length; return; }
    }
    push(l, e);
}

/* e cut to [first, last]; 0 if nothing is left. */
static int clip(struct extent e, uint64_t first, uint64_t last, struct extent *out) {
    uint64_t lo = e.iova > first ? e.iova : first, hi = last_of(&e) < last ? last_of(&e) : last;
    if (lo > hi) return 0;
    *out = (struct extent){ lo, hi - lo + 1, e.phys + (lo - e.iova), e.permissions };
    return 1;
}

static void *shadow_create(const struct iommu_check_shadow_config *config, const struct iommu_check_shadow_host *host) {
    if (config->address_width < 12 || config->address_width > 63 || config->domain_count == 0) return NULL;
    struct layer *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->config = *config;
    l->host = host;
    l->record = calloc(config->domain_count, sizeof *l->record);
    if (!l->record) { free(l); return NULL; }
    return l;
}

static void shadow_destroy(void *handle) {
    struct layer *l = handle;
    for (uint32_t d = 0; d < l->config.domain_count; d++) free(l->record[d].items);
    free(l->record);
    free(l->leaves);
    free(l);
}

/* The guest's wanted extents on [first, last], merged, from one read of its leaves. */
static void wanted_on(struct layer *l, uint32_t domain, uint64_t first, uint64_t last, struct list *out) {
    const struct iommu_check_shadow_host *h = l->host;
    size_t n = h->guest_leaves(h->context, domain, first, last, l->leaves, l->leaf_capacity);
    if (n > l->leaf_capacity) {
        struct iommu_check_guest_leaf *grown = realloc(l->leaves, n * sizeof *grown);
        if (!grown) return;
        l->leaves = grown;
        l->leaf_capacity = n;
        n = h->guest_leaves(h->context, domain, first, last, l->leaves, l->leaf_capacity);
    }
    for (size_t i = 0; i < n && i < l->leaf_capacity; i++) {
        const struct iommu_check_guest_leaf *leaf = &l->leaves[i];
        if (leaf->host_phys == 0) continue; /* MMIO, a hole, or straddling two RAM regions */
        struct extent e;
        if (clip((struct extent){ leaf->iova, leaf->size, leaf->host_phys, leaf->permissions }, first, last, &e)) push_merged(out, e);
    }
}

/* The item of a sorted list holding address, from *cursor on (advanced, monotonic). */
static const struct extent *at(const struct list *l, size_t *cursor, uint64_t address) {
    while (*cursor < l->count && last_of(&l->items[*cursor]) < address) (*cursor)++;
    return *cursor < l->count && l->items[*cursor].iova <= address ? &l->items[*cursor] : NULL;
}

/* The runs of [first, last] where the record and wanted translate differently. */
static void changed_runs(const struct list *have, const struct list *want, uint64_t first, uint64_t last, struct list *runs) {
    uint64_t address = first;
    size_t hc = 0, wc = 0;
    while (1) {
        const struct extent *a = at(have, &hc, address), *b = at(want, &wc, address);
        /* The next address where either list starts or ends an extent. */
        uint64_t next = last;
        if (a && last_of(a) < next) next = last_of(a);
        if (b && last_of(b) < next) next = last_of(b);
        if (!a && hc < have->count && have->items[hc].iova - 1 < next) next = have->items[hc].iova - 1;
        if (!b && wc < want->count && want->items[wc].iova - 1 < next) next = want->items[wc].iova - 1;
        int same = (!a && !b) || (a && b && same_translation(a, b));
        if (!same) {
            if (runs->count && last_of(&runs->items[runs->count - 1]) + 1 == address) runs->items[runs->count - 1].length += next - address + 1;
            else push(runs, (struct extent){ address, next - address + 1, 0, 0 });
        }
        if (next >= last) break;
        address = next + 1;
    }
}

/* The first item of a sorted list that ends at or after address (binary search). */
static size_t first_ending_at_or_after(const struct list *l, uint64_t address) {
    size_t low = 0, high = l->count;
    while (low < high) {
        size_t middle = (low + high) / 2;
        if (last_of(&l->items[middle]) < address) low = middle + 1; else high = middle;
    }
    return low;
}

/* How the host stores a map: VT-d as leaves of the largest size iova, phys and length allow. */
static void record_map(struct layer *l, uint32_t domain, struct extent e) {
    struct list *r = &l->record[domain];
    struct list stored = {0};
    if (l->config.host == IOMMU_CHECK_HOST_VTD && ((e.iova | e.length | e.phys) & 0xFFF) == 0) {
        for (uint64_t done = 0; done < e.length;) {
            uint64_t at_iova = e.iova + done, at_phys = e.phys + done, left = e.length - done, size = 4096;
            if (((at_iova | at_phys) & ((1ull << 30) - 1)) == 0 && left >= 1ull << 30) size = 1ull << 30;
            else if (((at_iova | at_phys) & ((1ull << 21) - 1)) == 0 && left >= 1ull << 21) size = 1ull << 21;
            push(&stored, (struct extent){ at_iova, size, at_phys, e.permissions });
            done += size;
        }
    } else {
        push(&stored, e);
    }
    size_t position = first_ending_at_or_after(r, e.iova);
    if (r->count + stored.count > r->capacity) {
        size_t capacity = 2 * (r->count + stored.count);
        struct extent *grown = realloc(r->items, capacity * sizeof *grown);
        if (!grown) { free(stored.items); return; }
        r->items = grown;
        r->capacity = capacity;
    }
    memmove(&r->items[position + stored.count], &r->items[position], (r->count - position) * sizeof *r->items);
    memcpy(&r->items[position], stored.items, stored.count * sizeof *r->items);
    r->count += stored.count;
    free(stored.items);
}

/* What an unmap of [first, last] removed: on a page table the parts outside stay. */
static void record_unmap(struct layer *l, uint32_t domain, uint64_t first, uint64_t last) {
    struct list *r = &l->record[domain];
    size_t from = first_ending_at_or_after(r, first), to = from;
    while (to < r->count && r->items[to].iova <= last) to++;
    if (from == to) return;
    struct extent kept[2], piece;
    size_t keep = 0;
    if (l->config.host == IOMMU_CHECK_HOST_PAGE_TABLE) {
        if (r->items[from].iova < first && clip(r->items[from], r->items[from].iova, first - 1, &piece)) kept[keep++] = piece;
        if (last_of(&r->items[to - 1]) > last && clip(r->items[to - 1], last + 1, last_of(&r->items[to - 1]), &piece)) kept[keep++] = piece;
    }
    /* keep <= to - from + 1: one mapping split in two needs one more slot. */
    if (keep > to - from) { if (!push(r, r->items[r->count - 1])) return; r->count--; }
    memmove(&r->items[from + keep], &r->items[to], (r->count - to) * sizeof *r->items);
    memcpy(&r->items[from], kept, keep * sizeof *kept);
    r->count = r->count - (to - from) + keep;
}

static int do_map(struct layer *l, uint32_t domain, struct extent e) {
    const struct iommu_check_shadow_host *h = l->host;
    int32_t status = h->map(h->context, domain, e.iova, e.length, e.phys, e.permissions);
    if (status == IOMMU_CHECK_AS_MAPPING_LIMIT) return 0;
    if (status == IOMMU_CHECK_AS_OK) record_map(l, domain, e);
    return 1;
}

static void do_unmap(struct layer *l, uint32_t domain, uint64_t first, uint64_t last) {
    const struct iommu_check_shadow_host *h = l->host;
    if (h->unmap(h->context, domain, first, last - first + 1) == IOMMU_CHECK_AS_OK) record_unmap(l, domain, first, last);
}

/* Brings [first, last] of domain in step; 0 if the host ran out of mappings. */
static int resync(struct layer *l, uint32_t domain, uint64_t first, uint64_t last) {
    const struct iommu_check_shadow_host *h = l->host;
    struct list want = {0}, have = {0}, runs = {0}, removed = {0};
    int ok = 1;
    wanted_on(l, domain, first, last, &want);
#ifdef PLANT_BUG
    do_unmap(l, domain, first, last);
    for (size_t i = 0; ok && i < want.count; i++) ok = do_map(l, domain, want.items[i]);
    free(want.items);
    return ok;
#endif
    struct list *r = &l->record[domain];
    for (size_t i = first_ending_at_or_after(r, first); i < r->count && r->items[i].iova <= last; i++) {
        struct extent piece;
        if (clip(r->items[i], first, last, &piece)) push(&have, piece);
    }
    changed_runs(&have, &want, first, last, &runs);
    if (l->config.host == IOMMU_CHECK_HOST_PAGE_TABLE) {
        for (size_t k = 0; ok && k < runs.count; k++) {
            uint64_t rf = runs.items[k].iova, rl = last_of(&runs.items[k]);
            struct list inside = {0};
            for (size_t i = 0; i < want.count; i++) {
                struct extent piece;
                if (clip(want.items[i], rf, rl, &piece)) push_merged(&inside, piece);
            }
            if (l->config.window == IOMMU_CHECK_WINDOW_NONE) {
                struct iommu_check_extent *list = calloc(inside.count ? inside.count : 1, sizeof *list);
                for (size_t i = 0; list && i < inside.count; i++)
                    list[i] = (struct iommu_check_extent){ .iova = inside.items[i].iova, .length = inside.items[i].length, .phys = inside.items[i].phys, .permissions = inside.items[i].permissions };
                if (list && h->replace(h->context, domain, rf, rl - rf + 1, list, inside.count) == IOMMU_CHECK_AS_OK) {
                    record_unmap(l, domain, rf, rl);
                    for (size_t i = 0; i < inside.count; i++) record_map(l, domain, inside.items[i]);
                }
                free(list);
            } else {
                size_t i = first_ending_at_or_after(r, rf);
                int mapped = i < r->count && r->items[i].iova <= rl;
                if (mapped) do_unmap(l, domain, rf, rl);
                for (size_t i = 0; ok && i < inside.count; i++) ok = do_map(l, domain, inside.items[i]);
            }
            free(inside.items);
        }
    } else {
        /* Whole mappings that hold a changing page go; their pages come back. */
        for (size_t k = 0; k < runs.count; k++) {
            for (size_t i = first_ending_at_or_after(r, runs.items[k].iova); i < r->count && r->items[i].iova <= last_of(&runs.items[k]); i++) {
                if (removed.count && removed.items[removed.count - 1].iova == r->items[i].iova) continue;
                push(&removed, r->items[i]);
            }
        }
        for (size_t m = 0; ok && m < removed.count; m++) {
            struct extent e = removed.items[m], piece;
            do_unmap(l, domain, e.iova, last_of(&e));
            if (e.iova < first && clip(e, e.iova, first - 1, &piece)) ok = do_map(l, domain, piece);
            struct list inside = {0};
            for (size_t i = 0; i < want.count; i++)
                if (clip(want.items[i], e.iova > first ? e.iova : first, last_of(&e) < last ? last_of(&e) : last, &piece)) push_merged(&inside, piece);
            for (size_t i = 0; ok && i < inside.count; i++) ok = do_map(l, domain, inside.items[i]);
            free(inside.items);
            if (ok && last_of(&e) > last && clip(e, last + 1, last_of(&e), &piece)) ok = do_map(l, domain, piece);
        }
        /* Pages that change and no removed mapping held: mapped as wanted. */
        for (size_t k = 0; ok && k < runs.count; k++) {
            uint64_t a = runs.items[k].iova, rl = last_of(&runs.items[k]);
            while (ok && a <= rl) {
                uint64_t b = rl;
                int covered = 0;
                for (size_t m = 0; m < removed.count; m++) {
                    struct extent *e = &removed.items[m];
                    if (e->iova <= a && a <= last_of(e)) { covered = 1; b = last_of(e) < rl ? last_of(e) : rl; break; }
                    if (e->iova > a && e->iova - 1 < b) b = e->iova - 1;
                }
                if (!covered) {
                    struct list inside = {0};
                    struct extent piece;
                    for (size_t i = 0; i < want.count; i++) if (clip(want.items[i], a, b, &piece)) push_merged(&inside, piece);
                    for (size_t i = 0; ok && i < inside.count; i++) ok = do_map(l, domain, inside.items[i]);
                    free(inside.items);
                }
                if (b == rl) break;
                a = b + 1;
            }
        }
    }
    free(want.items); free(have.items); free(runs.items); free(removed.items);
    return ok;
}

static int32_t shadow_invalidate(void *handle, uint32_t kind, uint32_t domain, uint64_t iova, uint32_t order) {
    struct layer *l = handle;
    const struct iommu_check_shadow_host *h = l->host;
    uint64_t aperture_last = (UINT64_C(1) << l->config.address_width) - 1;
    int ok = 1;
    uint32_t from = 0, to = 0;
    uint64_t first = 0, last = aperture_last;
    switch (kind) {
    case IOMMU_CHECK_INVALIDATE_PAGE_SELECTIVE:
        /* 2^order pages from iova, clipped to the IOVA space; order above 52 names nothing. */
        if (order > 52 || iova > aperture_last || domain >= l->config.domain_count) return IOMMU_CHECK_SHADOW_DONE;
        first = iova;
        last = iova + ((UINT64_C(4096) << order) - 1);
        if (last < iova || last > aperture_last) last = aperture_last;
        from = domain; to = domain + 1;
        break;
    case IOMMU_CHECK_INVALIDATE_DOMAIN:
    case IOMMU_CHECK_INVALIDATE_CONTEXT:
        if (domain >= l->config.domain_count) return IOMMU_CHECK_SHADOW_DONE;
        from = domain; to = domain + 1;
        break;
    case IOMMU_CHECK_INVALIDATE_GLOBAL:
        from = 0; to = l->config.domain_count;
        break;
    default:
        return IOMMU_CHECK_SHADOW_DONE;
    }
    for (uint32_t d = from; d < to; d++) {
        if (ok) ok = resync(l, d, first, last);
        h->notify_unmap(h->context, d, first, last - first + 1);
    }
    return ok ? IOMMU_CHECK_SHADOW_DONE : IOMMU_CHECK_SHADOW_INSUFFICIENT_RESOURCES;
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
