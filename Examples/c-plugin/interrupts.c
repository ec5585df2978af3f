/*
 * A small C implementation of the Interrupts surface of iommu-conformance, as a plug-in: MSI-X
 * virtualization over the checker's VFIO-like host (docs/SEMANTICS.md, "Interrupts"). Masking
 * and pending bits are emulated in software; host vectors are allocated lazily, up to the
 * highest vector the guest unmasked, grown in place where the host allows and otherwise torn
 * down and re-enabled, after which the raises the host latched in the gap are replayed.
 *
 * Build:  cc -shared -fPIC -O2 -I ../../Sources/CIOMMUCheck/include interrupts.c -o libinterrupts.so
 * Check:  swift run -c release iommu-check run --surface interrupts --plugin ./libinterrupts.so
 *
 *   -DPLANT_BUG   never reads back what the host latched while vectors were reallocated
 *                 (the lost interrupt of seed 003)
 */
#include "iommu_check.h"

#include <stdlib.h>

struct entry {
    uint64_t address;
    uint32_t data;
    int masked;
};

struct vmm {
    struct iommu_check_interrupt_config config;
    const struct iommu_check_interrupt_host *host;
    int enabled;
    int function_mask;
    uint64_t pending;
    struct entry entries[64];
};

static void host_triggered(void *handle, uint32_t vector);

static void *create(const struct iommu_check_interrupt_config *config, const struct iommu_check_interrupt_host *host) {
    if (config->vectors < 1 || config->vectors > 64) return NULL;
    struct vmm *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->config = *config;
    m->host = host;
    for (uint32_t v = 0; v < config->vectors; v++) m->entries[v].masked = 1; /* PCI reset state */
    return m;
}

static void destroy(void *handle) { free(handle); }

static int is_masked(const struct vmm *m, uint32_t v) { return !m->enabled || m->function_mask || m->entries[v].masked; }
static uint64_t bit(uint32_t v) { return UINT64_C(1) << v; }

static void deliver(struct vmm *m, uint32_t v) {
    m->host->deliver(m->host->context, v, m->entries[v].address, m->entries[v].data);
}

/* Fires every unmasked vector whose pending bit is set, once. */
static void deliver_pending(struct vmm *m) {
    for (uint32_t v = 0; v < m->config.vectors; v++) {
        if ((m->pending & bit(v)) && !is_masked(m, v)) {
            m->pending &= ~bit(v);
            deliver(m, v);
        }
    }
}

/* Raises latched while vectors were masked coalesce into one pending bit each. */
static void absorb_latched_as_pending(struct vmm *m) {
    for (uint32_t v = 0; v < m->config.vectors; v++)
        if (m->host->take_latched(m->host->context, v) > 0) m->pending |= bit(v);
}

/* Raises latched during a reallocation gap (a bit per vector), replayed as if they had just fired. */
static void replay_latched(struct vmm *m) {
    for (uint32_t v = 0; v < m->config.vectors; v++) {
        uint32_t n = m->host->take_latched(m->host->context, v);
        for (uint32_t i = 0; i < n; i++) host_triggered(m, v);
    }
}

/* Makes host vectors 0 ... vector exist. */
static void allocate(struct vmm *m, uint32_t vector) {
    const struct iommu_check_interrupt_host *h = m->host;
    uint32_t allocated = h->allocated(h->context);
    if (vector < allocated) return;
    if (allocated > 0 && m->config.dynamic_allocation) {
        h->grow(h->context, vector + 1);
    } else {
        if (allocated > 0) h->disable(h->context);
        h->enable(h->context, vector + 1);
    }
#ifdef PLANT_BUG
    (void)replay_latched;
#else
    replay_latched(m);
#endif
}

static void unmasked_through(struct vmm *m, uint32_t vector) {
    absorb_latched_as_pending(m);
    deliver_pending(m);
    allocate(m, vector);
    deliver_pending(m);
}

static uint32_t highest_unmasked(const struct vmm *m) {
    for (uint32_t v = m->config.vectors; v > 0; v--)
        if (!m->entries[v - 1].masked) return v - 1;
    return 0;
}

static void set_enabled(void *handle, uint32_t on) {
    struct vmm *m = handle;
    m->enabled = on != 0;
    if (m->enabled) unmasked_through(m, highest_unmasked(m));
    else m->host->disable(m->host->context); /* raises latch in the host until re-enabled */
}

static void set_function_mask(void *handle, uint32_t masked) {
    struct vmm *m = handle;
    m->function_mask = masked != 0;
    if (!m->function_mask && m->enabled) unmasked_through(m, highest_unmasked(m));
}

static void write_entry(void *handle, uint32_t v, uint64_t address, uint32_t data) {
    struct vmm *m = handle;
    if (v >= m->config.vectors) return;
    m->entries[v].address = address;
    m->entries[v].data = data;
}

static void set_vector_mask(void *handle, uint32_t v, uint32_t masked) {
    struct vmm *m = handle;
    if (v >= m->config.vectors) return;
    m->entries[v].masked = masked != 0;
    if (!masked && m->enabled && !m->function_mask) unmasked_through(m, v);
}

static void set_pasid(void *handle, uint32_t v, uint32_t has_pasid, uint32_t pasid) {
    struct vmm *m = handle;
    if (v >= m->config.vectors) return;
    m->host->set_pasid(m->host->context, v, has_pasid, pasid); /* the host's IMS entry filters */
}

static uint64_t pending_bits(void *handle) {
    struct vmm *m = handle;
    return m->pending | m->host->latched_bits(m->host->context);
}

static void host_triggered(void *handle, uint32_t v) {
    struct vmm *m = handle;
    if (v >= m->config.vectors) return;
    if (is_masked(m, v)) m->pending |= bit(v);
    else deliver(m, v);
}

static const struct iommu_check_interrupt_ops interrupt_ops = {
    .create = create,
    .destroy = destroy,
    .set_enabled = set_enabled,
    .set_function_mask = set_function_mask,
    .write_entry = write_entry,
    .set_vector_mask = set_vector_mask,
    .set_pasid = set_pasid,
    .pending_bits = pending_bits,
    .host_triggered = host_triggered,
};

static const struct iommu_check_plugin plugin = {
    .abi_version = IOMMU_CHECK_ABI_VERSION,
    .abi_revision = IOMMU_CHECK_ABI_REVISION,
    .name = "c-example-interrupts",
    .interrupts = &interrupt_ops,
};

const struct iommu_check_plugin *iommu_check_plugin_v2(void) { return &plugin; }
