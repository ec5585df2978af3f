/*
 * A small C implementation of the Isolation surface of iommu-conformance, as a plug-in:
 * group ownership, attach and PASID attach over per-device context entries, the way an IOMMU
 * driver programs hardware one device at a time (docs/SEMANTICS.md, "Isolation"). It calls the
 * checker's checkpoint after every hardware-visible change, so the checker can DMA in between.
 *
 * Build:  cc -shared -fPIC -O2 -I ../../Sources/CIOMMUCheck/include isolation.c -o libisolation.so
 * Check:  swift run -c release iommu-check run --surface isolation --plugin ./libisolation.so
 *
 *   -DPLANT_BUG   claim records the owner before blocking the group's devices: for a moment
 *                 the new owner's group still DMAs through the kernel's domain (seed 002)
 *   -DBAD_DOMAIN  dma of an attached device claims to reach domain 1000, which does not exist
 */
#include "iommu_check.h"

#include <stdlib.h>
#include <string.h>

enum { ENTRY_KERNEL = -2, ENTRY_BLOCKED = -1 }; /* >= 0: attached to that domain */

struct system {
    struct iommu_check_isolation_host host;
    uint32_t devices, groups, contexts, domains, max_pasid;
    uint32_t group_of[64];
    uint8_t pasid_capable[64];
    uint32_t driver[64];
    int32_t entry[64];     /* the hardware context entry of each device */
    int64_t *owner;        /* per group; -1: the kernel */
    uint32_t *domain_owner;
    int32_t *pasid_domain; /* devices * (max_pasid + 1); -1: none */
};

static void checkpoint(struct system *s) { s->host.checkpoint(s->host.context); }

static void *create(const struct iommu_check_topology *t, const struct iommu_check_isolation_host *host) {
    if (t->device_count == 0 || t->device_count > 64 || t->max_pasid > 4096) return NULL;
    struct system *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->host = *host;
    s->devices = t->device_count;
    s->groups = t->group_count;
    s->contexts = t->context_count;
    s->domains = t->domain_count;
    s->max_pasid = t->max_pasid;
    s->owner = malloc(sizeof *s->owner * (t->group_count ? t->group_count : 1));
    s->domain_owner = malloc(sizeof *s->domain_owner * (t->domain_count ? t->domain_count : 1));
    s->pasid_domain = malloc(sizeof *s->pasid_domain * t->device_count * (t->max_pasid + 1));
    if (!s->owner || !s->domain_owner || !s->pasid_domain) {
        free(s->owner); free(s->domain_owner); free(s->pasid_domain); free(s);
        return NULL;
    }
    for (uint32_t d = 0; d < s->devices; d++) {
        s->group_of[d] = t->group_of[d];
        s->pasid_capable[d] = t->pasid_capable[d];
        s->driver[d] = t->initial_driver[d];
        s->entry[d] = ENTRY_KERNEL;
    }
    for (uint32_t g = 0; g < s->groups; g++) s->owner[g] = -1;
    for (uint32_t d = 0; d < s->domains; d++) s->domain_owner[d] = t->domain_owner[d];
    for (uint32_t i = 0; i < s->devices * (s->max_pasid + 1); i++) s->pasid_domain[i] = -1;
    return s;
}

static void destroy(void *handle) {
    struct system *s = handle;
    free(s->owner); free(s->domain_owner); free(s->pasid_domain); free(s);
}

static int32_t *pasid_slot(struct system *s, uint32_t device, uint32_t pasid) { return &s->pasid_domain[device * (s->max_pasid + 1) + pasid]; }

/* Writes the context entry of every device of group, one at a time. */
static void program(struct system *s, uint32_t group, int32_t entry) {
    for (uint32_t d = 0; d < s->devices; d++) {
        if (s->group_of[d] != group) continue;
        s->entry[d] = entry;
        checkpoint(s);
    }
}

static int32_t bind(void *handle, uint32_t device, uint32_t driver) {
    struct system *s = handle;
    if (device >= s->devices || driver > IOMMU_CHECK_DRIVER_USER_ACCESS) return IOMMU_CHECK_ISO_NO_SUCH_OBJECT;
    if (driver == IOMMU_CHECK_DRIVER_KERNEL && s->owner[s->group_of[device]] >= 0) return IOMMU_CHECK_ISO_GROUP_OWNED;
    s->driver[device] = driver;
    return IOMMU_CHECK_ISO_OK;
}

static int32_t claim(void *handle, uint32_t context, uint32_t group) {
    struct system *s = handle;
    if (group >= s->groups || context >= s->contexts) return IOMMU_CHECK_ISO_NO_SUCH_OBJECT;
    if (s->owner[group] == (int64_t)context) return IOMMU_CHECK_ISO_OK;
    if (s->owner[group] >= 0) return IOMMU_CHECK_ISO_OWNED_BY_OTHER;
    for (uint32_t d = 0; d < s->devices; d++)
        if (s->group_of[d] == group && s->driver[d] == IOMMU_CHECK_DRIVER_KERNEL) return IOMMU_CHECK_ISO_NOT_VIABLE;
#ifdef PLANT_BUG
    s->owner[group] = context;
    checkpoint(s);
    program(s, group, ENTRY_BLOCKED);
#else
    program(s, group, ENTRY_BLOCKED); /* no DMA window at handover: block first */
    s->owner[group] = context;
    checkpoint(s);
#endif
    return IOMMU_CHECK_ISO_OK;
}

static int32_t release(void *handle, uint32_t context, uint32_t group) {
    struct system *s = handle;
    if (group >= s->groups || context >= s->contexts) return IOMMU_CHECK_ISO_NO_SUCH_OBJECT;
    if (s->owner[group] != (int64_t)context) return IOMMU_CHECK_ISO_NOT_OWNER;
    program(s, group, ENTRY_BLOCKED);
    for (uint32_t d = 0; d < s->devices; d++)
        if (s->group_of[d] == group)
            for (uint32_t p = 0; p <= s->max_pasid; p++) *pasid_slot(s, d, p) = -1;
    checkpoint(s);
    s->owner[group] = -1;
    checkpoint(s);
    program(s, group, ENTRY_KERNEL);
    return IOMMU_CHECK_ISO_OK;
}

static int32_t attach(void *handle, uint32_t context, uint32_t group, uint32_t domain) {
    struct system *s = handle;
    if (group >= s->groups || context >= s->contexts || domain >= s->domains) return IOMMU_CHECK_ISO_NO_SUCH_OBJECT;
    if (s->owner[group] != (int64_t)context) return IOMMU_CHECK_ISO_NOT_OWNER;
    if (s->domain_owner[domain] != context) return IOMMU_CHECK_ISO_DOMAIN_NOT_OWNED;
    program(s, group, (int32_t)domain);
    return IOMMU_CHECK_ISO_OK;
}

static int32_t detach(void *handle, uint32_t context, uint32_t group) {
    struct system *s = handle;
    if (group >= s->groups || context >= s->contexts) return IOMMU_CHECK_ISO_NO_SUCH_OBJECT;
    if (s->owner[group] != (int64_t)context) return IOMMU_CHECK_ISO_NOT_OWNER;
    program(s, group, ENTRY_BLOCKED);
    return IOMMU_CHECK_ISO_OK;
}

static int32_t attach_pasid(void *handle, uint32_t context, uint32_t device, uint32_t pasid, uint32_t domain) {
    struct system *s = handle;
    if (device >= s->devices || context >= s->contexts || domain >= s->domains || pasid < 1 || pasid > s->max_pasid)
        return IOMMU_CHECK_ISO_NO_SUCH_OBJECT;
    if (s->owner[s->group_of[device]] != (int64_t)context) return IOMMU_CHECK_ISO_NOT_OWNER;
    if (!s->pasid_capable[device]) return IOMMU_CHECK_ISO_NO_PASID_SUPPORT;
    if (s->domain_owner[domain] != context) return IOMMU_CHECK_ISO_DOMAIN_NOT_OWNED;
    *pasid_slot(s, device, pasid) = (int32_t)domain;
    checkpoint(s);
    return IOMMU_CHECK_ISO_OK;
}

static int32_t detach_pasid(void *handle, uint32_t context, uint32_t device, uint32_t pasid) {
    struct system *s = handle;
    if (device >= s->devices || context >= s->contexts || pasid < 1 || pasid > s->max_pasid) return IOMMU_CHECK_ISO_NO_SUCH_OBJECT;
    if (s->owner[s->group_of[device]] != (int64_t)context) return IOMMU_CHECK_ISO_NOT_OWNER;
    if (!s->pasid_capable[device]) return IOMMU_CHECK_ISO_NO_PASID_SUPPORT;
    *pasid_slot(s, device, pasid) = -1;
    checkpoint(s);
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
        if (pasid > s->max_pasid || *pasid_slot(s, device, pasid) < 0) return IOMMU_CHECK_DMA_NO_DOMAIN;
        target = *pasid_slot(s, device, pasid);
    } else {
        if (s->entry[device] == ENTRY_BLOCKED) return IOMMU_CHECK_DMA_BLOCKED;
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
    return group < s->groups ? s->owner[group] : -1;
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
};

static const struct iommu_check_plugin plugin = {
    .abi_version = IOMMU_CHECK_ABI_VERSION,
    .abi_revision = IOMMU_CHECK_ABI_REVISION,
    .name = "c-example-isolation",
    .isolation = &isolation_ops,
};

const struct iommu_check_plugin *iommu_check_plugin_v2(void) { return &plugin; }
