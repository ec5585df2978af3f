/*
 * A small C implementation of the Isolation surface of iommu-conformance, as a plug-in, shaped
 * like Linux: ownership of a group counted as group->owner_cnt counts it (kernel DMA-API
 * drivers, a group claim, device claims of one owner), one context entry and one PASID table
 * per device (what an IOMMU reads), PASIDs attached per group and programmed on every
 * PASID-capable device of it (docs/SEMANTICS.md, "Isolation"). It calls the checker's
 * checkpoint after every hardware-visible change, so the checker can DMA in between.
 *
 * Build:  cc -shared -fPIC -O2 -I ../../Sources/CIOMMUCheck/include isolation.c -o libisolation.so
 * Check:  swift run -c release iommu-check run --surface isolation --plugin ./libisolation.so
 *
 *   -DPLANT_BUG   a claim records the owner before blocking the group's devices: for a moment
 *                 the new owner's group still DMAs through the kernel's domain (seed 002)
 *   -DBAD_DOMAIN  dma of an attached device claims to reach domain 1000, which does not exist
 *   -DLEGACY_V1   exports the table as ABI version 1, whose isolation contract the checker
 *                 refuses with a sentence saying how to update
 */
#include "iommu_check.h"

#include <stdlib.h>
#include <string.h>

enum { ENTRY_KERNEL = -3, ENTRY_BYPASS = -2, ENTRY_BLOCKED = -1 }; /* >= 0: attached to that domain */

/* A device's hardware PASID table, and a group's PASID attachments. */
struct pasid_entry { uint32_t pasid; int32_t domain; };
struct table { struct pasid_entry *entries; uint32_t count, capacity; };
struct slot { uint32_t pasid; uint32_t domain; uint64_t attachers; };

struct group {
    int64_t owner;       /* -1: the kernel */
    int64_t claim;       /* the holder through the group API, or -1 */
    uint32_t claims;     /* device claims (the device API's owner_cnt) */
    int32_t attached;    /* the domain of untagged DMA, or -1 */
    uint64_t attachers;  /* devices attached through the device API */
    struct slot *slots;
    uint32_t slot_count, slot_capacity;
};

struct system {
    struct iommu_check_isolation_host host;
    uint32_t devices, group_count, contexts, domains, max_pasid;
    uint32_t interface, pasid_support, detached, reattach;
    uint32_t group_of[64];
    uint8_t pasid_capable[64];
    uint32_t driver[64];
    int64_t claimed_by[64];
    int32_t entry[64];           /* the hardware context entry of each device */
    struct table tables[64];     /* the hardware PASID table of each device */
    struct group *groups;
    uint32_t *domain_owner;
};

static void checkpoint(struct system *s) { s->host.checkpoint(s->host.context); }
static uint64_t bit(uint32_t device) { return (uint64_t)1 << device; }
static int32_t detached_entry(struct system *s) { return s->detached == IOMMU_CHECK_DETACHED_BYPASS ? ENTRY_BYPASS : ENTRY_BLOCKED; }

static void *create(const struct iommu_check_topology *t, const struct iommu_check_isolation_host *host) {
    if (t->device_count == 0 || t->device_count > 64 || t->group_count == 0) return NULL;
    struct system *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->host = *host;
    s->devices = t->device_count;
    s->group_count = t->group_count;
    s->contexts = t->context_count;
    s->domains = t->domain_count;
    s->max_pasid = t->max_pasid;
    s->interface = t->interface;
    s->pasid_support = t->pasid_support;
    s->detached = t->detached;
    s->reattach = t->reattach;
    s->groups = calloc(t->group_count, sizeof *s->groups);
    s->domain_owner = calloc(t->domain_count ? t->domain_count : 1, sizeof *s->domain_owner);
    if (!s->groups || !s->domain_owner) {
        free(s->groups); free(s->domain_owner); free(s);
        return NULL;
    }
    for (uint32_t d = 0; d < s->devices; d++) {
        if (t->group_of[d] >= t->group_count) { free(s->groups); free(s->domain_owner); free(s); return NULL; }
        s->group_of[d] = t->group_of[d];
        s->pasid_capable[d] = t->pasid_capable[d];
        s->driver[d] = t->initial_driver[d];
        s->claimed_by[d] = -1;
        s->entry[d] = ENTRY_KERNEL;
    }
    for (uint32_t g = 0; g < s->group_count; g++) {
        s->groups[g].owner = -1;
        s->groups[g].claim = -1;
        s->groups[g].attached = -1;
    }
    for (uint32_t d = 0; d < s->domains; d++) s->domain_owner[d] = t->domain_owner[d];
    return s;
}

static void destroy(void *handle) {
    struct system *s = handle;
    for (uint32_t d = 0; d < s->devices; d++) free(s->tables[d].entries);
    for (uint32_t g = 0; g < s->group_count; g++) free(s->groups[g].slots);
    free(s->groups); free(s->domain_owner); free(s);
}

/* The hardware PASID table of a device: set (domain >= 0) or clear (domain < 0) one entry. */
static void table_write(struct system *s, uint32_t device, uint32_t pasid, int32_t domain) {
    struct table *t = &s->tables[device];
    for (uint32_t i = 0; i < t->count; i++) {
        if (t->entries[i].pasid != pasid) continue;
        if (domain >= 0) t->entries[i].domain = domain;
        else t->entries[i] = t->entries[--t->count];
        checkpoint(s);
        return;
    }
    if (domain < 0) return;
    if (t->count == t->capacity) {
        uint32_t capacity = t->capacity ? 2 * t->capacity : 8;
        struct pasid_entry *grown = realloc(t->entries, capacity * sizeof *grown);
        if (!grown) return;
        t->entries = grown;
        t->capacity = capacity;
    }
    t->entries[t->count++] = (struct pasid_entry){ pasid, domain };
    checkpoint(s);
}

static int32_t table_read(struct system *s, uint32_t device, uint32_t pasid) {
    struct table *t = &s->tables[device];
    for (uint32_t i = 0; i < t->count; i++)
        if (t->entries[i].pasid == pasid) return t->entries[i].domain;
    return -1;
}

/* Programs a PASID on every PASID-capable device of a group (or clears it). */
static void program_pasid(struct system *s, uint32_t group, uint32_t pasid, int32_t domain) {
    for (uint32_t d = 0; d < s->devices; d++)
        if (s->group_of[d] == group && s->pasid_capable[d]) table_write(s, d, pasid, domain);
}

static struct slot *find_slot(struct group *g, uint32_t pasid) {
    for (uint32_t i = 0; i < g->slot_count; i++)
        if (g->slots[i].pasid == pasid) return &g->slots[i];
    return NULL;
}

static void free_slot(struct system *s, uint32_t group, struct slot *slot) {
    struct group *g = &s->groups[group];
    program_pasid(s, group, slot->pasid, -1);
    *slot = g->slots[--g->slot_count];
}

/* Writes the context entry of every device of group, one at a time. */
static void program(struct system *s, uint32_t group, int32_t entry) {
    for (uint32_t d = 0; d < s->devices; d++) {
        if (s->group_of[d] != group) continue;
        s->entry[d] = entry;
        checkpoint(s);
    }
}

static int kernel_bound(struct system *s, uint32_t group) {
    for (uint32_t d = 0; d < s->devices; d++)
        if (s->group_of[d] == group && s->driver[d] == IOMMU_CHECK_DRIVER_KERNEL) return 1;
    return 0;
}

static int32_t bind(void *handle, uint32_t device, uint32_t driver) {
    struct system *s = handle;
    if (device >= s->devices || driver > IOMMU_CHECK_DRIVER_MANAGED) return IOMMU_CHECK_ISO_NO_SUCH_OBJECT;
    if (s->claimed_by[device] >= 0 && driver != s->driver[device]) return IOMMU_CHECK_ISO_DEVICE_IN_USE;
    /* iommu_device_use_default_domain: EBUSY while a user owns the group. */
    if (driver == IOMMU_CHECK_DRIVER_KERNEL && s->driver[device] != IOMMU_CHECK_DRIVER_KERNEL && s->groups[s->group_of[device]].owner >= 0)
        return IOMMU_CHECK_ISO_GROUP_OWNED;
    s->driver[device] = driver;
    return IOMMU_CHECK_ISO_OK;
}

/* __iommu_take_dma_ownership: block the devices first, then record the owner; a bypass policy
 * opens the identity path only once the group is the owner's. */
static void take(struct system *s, uint32_t group, uint32_t context) {
#ifdef PLANT_BUG
    s->groups[group].owner = context;
    checkpoint(s);
    program(s, group, ENTRY_BLOCKED);
#else
    program(s, group, ENTRY_BLOCKED);
    s->groups[group].owner = context;
    checkpoint(s);
#endif
    if (detached_entry(s) != ENTRY_BLOCKED) program(s, group, detached_entry(s));
    s->groups[group].attached = -1;
    s->groups[group].attachers = 0;
}

/* __iommu_release_dma_ownership: PASIDs and the domain go, then the default domain returns. */
static void give_back(struct system *s, uint32_t group) {
    struct group *g = &s->groups[group];
    program(s, group, ENTRY_BLOCKED);
    while (g->slot_count) free_slot(s, group, &g->slots[0]);
    g->owner = -1;
    g->attached = -1;
    g->attachers = 0;
    checkpoint(s);
    program(s, group, ENTRY_KERNEL);
}

static int32_t claim(void *handle, uint32_t context, uint32_t group) {
    struct system *s = handle;
    if (group >= s->group_count || context >= s->contexts) return IOMMU_CHECK_ISO_NO_SUCH_OBJECT;
    struct group *g = &s->groups[group];
    if (g->claims) return IOMMU_CHECK_ISO_OTHER_INTERFACE;
    if (g->claim == (int64_t)context) return IOMMU_CHECK_ISO_ALREADY_CLAIMED; /* "Only a single owner" */
    if (g->owner >= 0) return IOMMU_CHECK_ISO_OWNED_BY_OTHER;
    if (kernel_bound(s, group)) return IOMMU_CHECK_ISO_NOT_VIABLE;
    take(s, group, context);
    g->claim = context;
    return IOMMU_CHECK_ISO_OK;
}

static int32_t release(void *handle, uint32_t context, uint32_t group) {
    struct system *s = handle;
    if (group >= s->group_count || context >= s->contexts) return IOMMU_CHECK_ISO_NO_SUCH_OBJECT;
    if (s->groups[group].claim != (int64_t)context) return IOMMU_CHECK_ISO_NOT_OWNER;
    s->groups[group].claim = -1;
    give_back(s, group);
    return IOMMU_CHECK_ISO_OK;
}

static int32_t attach(void *handle, uint32_t context, uint32_t group, uint32_t domain) {
    struct system *s = handle;
    if (group >= s->group_count || context >= s->contexts || domain >= s->domains) return IOMMU_CHECK_ISO_NO_SUCH_OBJECT;
    struct group *g = &s->groups[group];
    if (g->claim != (int64_t)context) return IOMMU_CHECK_ISO_NOT_OWNER;
    if (s->domain_owner[domain] != context) return IOMMU_CHECK_ISO_DOMAIN_NOT_OWNED;
    if (s->reattach == IOMMU_CHECK_REATTACH_REFUSED && g->attached >= 0) return IOMMU_CHECK_ISO_ALREADY_ATTACHED;
    g->attached = (int32_t)domain;
    g->attachers = 0;
    program(s, group, (int32_t)domain);
    return IOMMU_CHECK_ISO_OK;
}

static int32_t detach(void *handle, uint32_t context, uint32_t group) {
    struct system *s = handle;
    if (group >= s->group_count || context >= s->contexts) return IOMMU_CHECK_ISO_NO_SUCH_OBJECT;
    struct group *g = &s->groups[group];
    if (g->claim != (int64_t)context) return IOMMU_CHECK_ISO_NOT_OWNER;
    g->attached = -1;
    g->attachers = 0;
    program(s, group, detached_entry(s));
    return IOMMU_CHECK_ISO_OK;
}

/* The group leaves its domain when its last attached device detaches. */
static void detach_rid(struct system *s, uint32_t device) {
    struct group *g = &s->groups[s->group_of[device]];
    if (!(g->attachers & bit(device))) return;
    g->attachers &= ~bit(device);
    if (g->attachers) return;
    g->attached = -1;
    program(s, s->group_of[device], detached_entry(s));
}

/* A PASID slot is freed with the last device that attached it. */
static void detach_pasid_of(struct system *s, uint32_t device, uint32_t pasid) {
    uint32_t group = s->group_of[device];
    struct slot *slot = find_slot(&s->groups[group], pasid);
    if (!slot || !(slot->attachers & bit(device))) return;
    slot->attachers &= ~bit(device);
    if (!slot->attachers) free_slot(s, group, slot);
}

static int32_t claim_device(void *handle, uint32_t context, uint32_t device) {
    struct system *s = handle;
    if (device >= s->devices || context >= s->contexts) return IOMMU_CHECK_ISO_NO_SUCH_OBJECT;
    uint32_t group = s->group_of[device];
    struct group *g = &s->groups[group];
    if (s->driver[device] != IOMMU_CHECK_DRIVER_USER_ACCESS) return IOMMU_CHECK_ISO_NOT_USER_ACCESS;
    if (s->claimed_by[device] >= 0) return IOMMU_CHECK_ISO_ALREADY_BOUND;
    if (g->claim >= 0) return IOMMU_CHECK_ISO_OTHER_INTERFACE;
    if (g->owner >= 0 && g->owner != (int64_t)context) return IOMMU_CHECK_ISO_OWNED_BY_OTHER;
    if (kernel_bound(s, group)) return IOMMU_CHECK_ISO_NOT_VIABLE;
    if (g->owner < 0) take(s, group, context);
    s->claimed_by[device] = context;
    g->claims++;
    return IOMMU_CHECK_ISO_OK;
}

static int32_t release_device(void *handle, uint32_t context, uint32_t device) {
    struct system *s = handle;
    if (device >= s->devices || context >= s->contexts) return IOMMU_CHECK_ISO_NO_SUCH_OBJECT;
    if (s->claimed_by[device] != (int64_t)context) return IOMMU_CHECK_ISO_NOT_OWNER;
    uint32_t group = s->group_of[device];
    struct group *g = &s->groups[group];
    /* vfio_iommufd_physical_unbind: the PASIDs, then the RID, then the ownership count. */
    for (uint32_t i = g->slot_count; i-- > 0;) detach_pasid_of(s, device, g->slots[i].pasid);
    detach_rid(s, device);
    s->claimed_by[device] = -1;
    if (--g->claims == 0) give_back(s, group);
    return IOMMU_CHECK_ISO_OK;
}

static int32_t attach_device(void *handle, uint32_t context, uint32_t device, uint32_t domain) {
    struct system *s = handle;
    if (device >= s->devices || context >= s->contexts || domain >= s->domains) return IOMMU_CHECK_ISO_NO_SUCH_OBJECT;
    if (s->claimed_by[device] != (int64_t)context) return IOMMU_CHECK_ISO_NOT_OWNER;
    if (s->domain_owner[domain] != context) return IOMMU_CHECK_ISO_DOMAIN_NOT_OWNED;
    struct group *g = &s->groups[s->group_of[device]];
    /* A second device joins the group's domain; an attached one moves the whole group. */
    if (!(g->attachers & bit(device)) && g->attached >= 0 && g->attached != (int32_t)domain) return IOMMU_CHECK_ISO_ATTACHED_ELSEWHERE;
    g->attachers |= bit(device);
    if (g->attached != (int32_t)domain) {
        g->attached = (int32_t)domain;
        program(s, s->group_of[device], (int32_t)domain);
    }
    return IOMMU_CHECK_ISO_OK;
}

static int32_t detach_device(void *handle, uint32_t context, uint32_t device) {
    struct system *s = handle;
    if (device >= s->devices || context >= s->contexts) return IOMMU_CHECK_ISO_NO_SUCH_OBJECT;
    if (s->claimed_by[device] != (int64_t)context) return IOMMU_CHECK_ISO_NOT_OWNER;
    detach_rid(s, device);
    return IOMMU_CHECK_ISO_OK;
}

static int holds(struct system *s, uint32_t context, uint32_t device) {
    return s->claimed_by[device] == (int64_t)context || s->groups[s->group_of[device]].claim == (int64_t)context;
}

static int32_t attach_pasid(void *handle, uint32_t context, uint32_t device, uint32_t pasid, uint32_t domain) {
    struct system *s = handle;
    if (device >= s->devices || context >= s->contexts || domain >= s->domains || pasid < 1 || pasid > s->max_pasid)
        return IOMMU_CHECK_ISO_NO_SUCH_OBJECT;
    if (!holds(s, context, device)) return IOMMU_CHECK_ISO_NOT_OWNER;
    if (s->pasid_support != IOMMU_CHECK_PASID_GROUP_WIDE || !s->pasid_capable[device]) return IOMMU_CHECK_ISO_NO_PASID_SUPPORT;
    if (s->domain_owner[domain] != context) return IOMMU_CHECK_ISO_DOMAIN_NOT_OWNED;
    uint32_t group = s->group_of[device];
    struct group *g = &s->groups[group];
    struct slot *slot = find_slot(g, pasid);
    if (slot) {
        /* iommufd: one domain per (group, PASID); an attacher replaces it group-wide. */
        if (!(slot->attachers & bit(device)) && slot->domain != domain) return IOMMU_CHECK_ISO_ATTACHED_ELSEWHERE;
        slot->attachers |= bit(device);
        if (slot->domain != domain) {
            slot->domain = domain;
            program_pasid(s, group, pasid, (int32_t)domain);
        }
        return IOMMU_CHECK_ISO_OK;
    }
    if (g->slot_count == g->slot_capacity) {
        uint32_t capacity = g->slot_capacity ? 2 * g->slot_capacity : 8;
        struct slot *grown = realloc(g->slots, capacity * sizeof *grown);
        if (!grown) return IOMMU_CHECK_ISO_NO_SUCH_OBJECT;
        g->slots = grown;
        g->slot_capacity = capacity;
    }
    g->slots[g->slot_count++] = (struct slot){ pasid, domain, bit(device) };
    program_pasid(s, group, pasid, (int32_t)domain);
    return IOMMU_CHECK_ISO_OK;
}

static int32_t detach_pasid(void *handle, uint32_t context, uint32_t device, uint32_t pasid) {
    struct system *s = handle;
    if (device >= s->devices || context >= s->contexts || pasid < 1 || pasid > s->max_pasid) return IOMMU_CHECK_ISO_NO_SUCH_OBJECT;
    if (!holds(s, context, device)) return IOMMU_CHECK_ISO_NOT_OWNER;
    if (s->pasid_support != IOMMU_CHECK_PASID_GROUP_WIDE || !s->pasid_capable[device]) return IOMMU_CHECK_ISO_NO_PASID_SUPPORT;
    detach_pasid_of(s, device, pasid);
    return IOMMU_CHECK_ISO_OK;
}

/* Every domain maps 16 pages read-write at 0x10000 and one read-only page at 0x20000, to
 * ((domain + 1) << 32) + iova, in a 48-bit aperture (iommu_check.h, struct iommu_check_topology). */
static int32_t translate(uint32_t domain, uint64_t iova, uint32_t access, uint64_t *phys) {
    if (iova >> 48) return IOMMU_CHECK_DMA_OUTSIDE_APERTURE;
    if (iova >= 0x10000 && iova < 0x20000) {
        *phys = ((uint64_t)(domain + 1) << 32) + iova;
        return IOMMU_CHECK_DMA_REACHED;
    }
    if (iova >= 0x20000 && iova < 0x21000) {
        if (access & IOMMU_CHECK_WRITE) return IOMMU_CHECK_DMA_PERMISSION_DENIED;
        *phys = ((uint64_t)(domain + 1) << 32) + iova;
        return IOMMU_CHECK_DMA_REACHED;
    }
    return IOMMU_CHECK_DMA_NOT_MAPPED;
}

static int32_t dma(void *handle, uint32_t device, uint32_t pasid, uint64_t iova, uint32_t access, uint32_t *domain, uint64_t *phys) {
    struct system *s = handle;
    if (device >= s->devices) return IOMMU_CHECK_DMA_NO_DOMAIN;
    if (s->entry[device] == ENTRY_KERNEL) return IOMMU_CHECK_DMA_KERNEL_DOMAIN;
    int32_t target;
    if (pasid != 0) {
        /* Tagged DMA reaches the PASID's domain only, never the group's. */
        target = table_read(s, device, pasid);
        if (target < 0) return IOMMU_CHECK_DMA_NO_DOMAIN;
    } else {
        if (s->entry[device] == ENTRY_BLOCKED) return IOMMU_CHECK_DMA_BLOCKED;
        if (s->entry[device] == ENTRY_BYPASS) return IOMMU_CHECK_DMA_BYPASS;
        target = s->entry[device];
    }
    *domain = (uint32_t)target;
#ifdef BAD_DOMAIN
    *domain = 1000;
#endif
    return translate((uint32_t)target, iova, access, phys);
}

static int64_t owner(void *handle, uint32_t group) {
    struct system *s = handle;
    return group < s->group_count ? s->groups[group].owner : -1;
}

static const struct iommu_check_isolation_ops isolation_ops = {
    .create = create,
    .destroy = destroy,
    .bind = bind,
    .claim = claim,
    .release = release,
    .attach = attach,
    .detach = detach,
    .attach_pasid = attach_pasid,
    .detach_pasid = detach_pasid,
    .dma = dma,
    .owner = owner,
    .claim_device = claim_device,
    .release_device = release_device,
    .attach_device = attach_device,
    .detach_device = detach_device,
};

#ifndef LEGACY_V1
static const struct iommu_check_plugin plugin = {
    .abi_version = IOMMU_CHECK_ABI_VERSION,
    .abi_revision = IOMMU_CHECK_ABI_REVISION,
    .name = "c-example-isolation",
    .isolation = &isolation_ops,
};
#endif

#ifdef LEGACY_V1
static const struct iommu_check_plugin_v1 plugin_v1 = {
    .abi_version = 1,
    .name = "c-example-isolation-v1",
    .isolation = (const struct iommu_check_isolation_ops_v1 *)&isolation_ops,
};

const struct iommu_check_plugin_v1 *iommu_check_plugin_v1(void) { return &plugin_v1; }
#else
const struct iommu_check_plugin *iommu_check_plugin_v2(void) { return &plugin; }
#endif
