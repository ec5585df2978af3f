/* Misbehaving plug-ins for the harness tests (issue 15): an example plug-in from
 * Examples/c-plugin, wrapped so that it breaks one rule. Build with -DEXAMPLE_ISOLATION (else the
 * address-space example) and one -DMISBEHAVE_... The wrapper forwards every call to the example
 * and adds the misbehaviour. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define iommu_check_plugin_v2 example_plugin_v2
#define iommu_check_plugin_v1 example_plugin_v1
#ifdef EXAMPLE_ISOLATION
#include "../../Examples/c-plugin/isolation.c"
#else
#include "../../Examples/c-plugin/address_space.c"
#endif
#undef iommu_check_plugin_v2
#undef iommu_check_plugin_v1

#ifdef MISBEHAVE_REVISION_1_WITH_TRANSLATE_MANY
static void crash_translate_many(void *handle, size_t count, const uint64_t *iovas, const uint32_t *accesses, int32_t *faults, uint64_t *phys) {
    (void)handle; (void)count; (void)iovas; (void)accesses; (void)faults; (void)phys;
    abort();
}
#endif
#ifdef MISBEHAVE_ABORT_IN_CONSTRUCTOR
__attribute__((constructor)) static void misbehave(void) { abort(); }
#endif
#ifdef MISBEHAVE_PRINT_IN_CONSTRUCTOR
__attribute__((constructor)) static void misbehave(void) { printf("hello from a constructor\n"); fflush(stdout); }
#endif
#ifdef MISBEHAVE_IGNORE_SIGCHLD
__attribute__((constructor)) static void misbehave(void) { signal(SIGCHLD, SIG_IGN); }
#endif

static struct iommu_check_plugin wrapped;
#ifndef EXAMPLE_ISOLATION
__attribute__((unused)) static int answered_unobservable; /* set by the opaque map: MISBEHAVE_OPAQUE_CRASH_IN_DESTROY_AFTER_UNOBSERVABLE */
#endif

#ifndef EXAMPLE_ISOLATION
static struct iommu_check_address_space_ops ops;

#ifdef MISBEHAVE_THREAD_CRASH_AFTER_CREATE
static void *thread_crash(void *unused) {
    (void)unused;
    usleep(20000);
    raise(SIGSEGV);
    return NULL;
}
#endif

static void *w_create(const struct iommu_check_as_config *config) {
#ifdef MISBEHAVE_THREAD_CRASH_AFTER_CREATE
    static int started;
    if (!started++) {
        pthread_t thread;
        pthread_create(&thread, NULL, thread_crash, NULL);
        pthread_detach(thread);
    }
#endif
#ifdef MISBEHAVE_FORK_CHILD
    static int forked;
    if (!forked++ && fork() == 0) { sleep(30); _exit(0); }
#endif
#ifdef MISBEHAVE_CLOSE_STDIN
    close(0);
#endif
#if defined(MISBEHAVE_ONLY_4K_40_BITS) || defined(MISBEHAVE_ONLY_4K_40_BITS_DECLARED)
    /* Not a misbehaviour: an implementation that supports one page size and one aperture. */
    if (config->page_size != 4096 || config->aperture_first != 0 || config->aperture_last != ((uint64_t)1 << 40) - 1) return NULL;
#endif
    return as_create(config);
}

static void w_destroy(void *handle) {
#ifdef MISBEHAVE_OPAQUE_CRASH_IN_DESTROY_AFTER_UNOBSERVABLE
    if (answered_unobservable) raise(SIGSEGV);
    as_destroy(handle);
#elif defined(MISBEHAVE_CRASH_IN_DESTROY)
    (void)handle;
    raise(SIGSEGV);
#elif defined(MISBEHAVE_DOUBLE_FREE_IN_DESTROY)
    as_destroy(handle);
    as_destroy(handle);
#else
    as_destroy(handle);
#endif
}

static int32_t w_map(void *handle, uint64_t iova, uint64_t length, uint64_t phys, uint32_t permissions) {
#if defined(MISBEHAVE_FORK_CHILD) || defined(MISBEHAVE_IGNORE_SIGCHLD)
    static int calls;
    if (++calls == 5) abort();
#endif
#ifdef MISBEHAVE_STATE_IN_GLOBALS
    /* Keeps a count across create and destroy: after 40 maps in one process, every map fails. */
    static int maps;
    if (++maps > 40) return IOMMU_CHECK_AS_OVERFLOW;
#endif
    return as_map(handle, iova, length, phys, permissions);
}

static size_t w_mappings(void *handle, uint64_t first, uint64_t last, struct iommu_check_extent *out, size_t capacity) {
#ifdef MISBEHAVE_MAPPINGS_SIZE_MAX
    (void)handle; (void)first; (void)last; (void)out; (void)capacity;
    return SIZE_MAX;
#elif defined(MISBEHAVE_MAPPINGS_HUGE)
    (void)handle; (void)first; (void)last; (void)out; (void)capacity;
    return (size_t)1 << 40;
#else
    return as_mappings(handle, first, last, out, capacity);
#endif
}

#if defined(MISBEHAVE_OPAQUE) || defined(MISBEHAVE_OPAQUE_STALE_UNMAP) || defined(MISBEHAVE_OPAQUE_UNOBSERVABLE_REFUSAL) || defined(MISBEHAVE_OPAQUE_UNOBSERVABLE_ALWAYS) || defined(MISBEHAVE_OPAQUE_CRASH_IN_DESTROY_AFTER_UNOBSERVABLE)
/* Not a misbehaviour by itself: an implementation seen the way a real kernel is seen from user
 * space (Examples/vfio-type1). It lists no mappings, shows a fault without its reason, and
 * cannot carry out a map longer than 16 MiB that it accepted (VFIO: pinning fails). */
#define OPAQUE 1
static int32_t opaque_map(void *handle, uint64_t iova, uint64_t length, uint64_t phys, uint32_t permissions) {
    int32_t status = as_map(handle, iova, length, phys, permissions);
#ifdef MISBEHAVE_OPAQUE_UNOBSERVABLE_REFUSAL
    /* Claims the interface accepted what it refused. */
    if (status == IOMMU_CHECK_AS_OUTSIDE_APERTURE) return IOMMU_CHECK_AS_UNOBSERVABLE;
#endif
#ifdef MISBEHAVE_OPAQUE_UNOBSERVABLE_ALWAYS
    const uint64_t most = 0;
#else
    const uint64_t most = 0x1000000;
#endif
    if (status == IOMMU_CHECK_AS_OK && length > most) {
        uint64_t bytes = 0;
        as_unmap(handle, iova, length, &bytes);
        answered_unobservable = 1;
        return IOMMU_CHECK_AS_UNOBSERVABLE;
    }
    return status;
}

static int32_t opaque_translate(void *handle, uint64_t iova, uint32_t access, uint64_t *phys) {
    int32_t fault = as_translate(handle, iova, access, phys);
    return fault == IOMMU_CHECK_FAULT_NONE ? fault : IOMMU_CHECK_FAULT_NOT_MAPPED;
}

static void opaque_translate_many(void *handle, size_t count, const uint64_t *iovas, const uint32_t *accesses, int32_t *faults, uint64_t *phys) {
    for (size_t i = 0; i < count; i++) faults[i] = opaque_translate(handle, iovas[i], accesses[i], &phys[i]);
}

#ifdef MISBEHAVE_OPAQUE_STALE_UNMAP
/* The planted bug: unmap reports the bytes and leaves the mappings in place, which only a
 * translation can show here. */
static int32_t opaque_unmap(void *handle, uint64_t iova, uint64_t length, uint64_t *bytes) {
    struct iommu_check_extent kept[64];
    uint64_t last = length ? iova + (length - 1) : iova;
    if (last < iova) last = UINT64_MAX;
    size_t count = as_mappings(handle, iova, last, kept, 64);
    int32_t status = as_unmap(handle, iova, length, bytes);
    if (status == IOMMU_CHECK_AS_OK && count <= 64)
        for (size_t i = 0; i < count; i++) as_map(handle, kept[i].iova, kept[i].length, kept[i].phys, kept[i].permissions);
    return status;
}
#endif
#endif
#else
static struct iommu_check_isolation_ops ops;
#ifdef MISBEHAVE_CHECKPOINT_FROM_THREAD
static void *late_checkpoint(void *system) {
    usleep(1000);
    checkpoint(system);
    return NULL;
}
#endif

static int32_t w_claim(void *handle, uint32_t context, uint32_t group) {
#ifdef MISBEHAVE_CHECKPOINT_FROM_THREAD
    pthread_t thread;
    pthread_create(&thread, NULL, late_checkpoint, handle);
    pthread_join(thread, NULL);
#endif
#ifdef MISBEHAVE_CHECKPOINT_STORM
    /* A loop gone wrong: far more checkpoints than any operation has. */
    for (int i = 0; i < 200000; i++) checkpoint(handle);
#endif
    return claim(handle, context, group);
}

static int32_t w_dma(void *handle, uint32_t device, uint32_t pasid, uint64_t iova, uint32_t access, uint32_t *domain, uint64_t *phys) {
#ifdef MISBEHAVE_REENTRANT_CHECKPOINT
    checkpoint(handle);
#endif
    return dma(handle, device, pasid, iova, access, domain, phys);
}

#ifdef MISBEHAVE_CHECKPOINT_AFTER_DESTROY
/* Keeps a copy of a destroyed system's host table, and calls it from the next create. */
static struct system stale;
static int has_stale;
#endif

static void *w_create(const struct iommu_check_topology *t, const struct iommu_check_isolation_host *host) {
#ifdef MISBEHAVE_CHECKPOINT_AFTER_DESTROY
    if (has_stale) checkpoint(&stale);
#endif
    return create(t, host);
}

static void w_destroy(void *handle) {
#ifdef MISBEHAVE_CHECKPOINT_AFTER_DESTROY
    stale = *(struct system *)handle;
    has_stale = 1;
#endif
    destroy(handle);
}
#endif

const struct iommu_check_plugin *iommu_check_plugin_v2(void) {
#ifdef MISBEHAVE_EXIT_IN_ENTRY
    exit(0);
#endif
#ifdef MISBEHAVE_HANG_IN_ENTRY
    for (;;) pause();
#endif
    wrapped = *example_plugin_v2();
#ifndef EXAMPLE_ISOLATION
    ops = *wrapped.address_space;
    ops.create = w_create;
    ops.destroy = w_destroy;
    ops.map = w_map;
    ops.mappings = w_mappings;
#ifdef OPAQUE
    ops.map = opaque_map;
    ops.translate = opaque_translate;
    ops.translate_many = opaque_translate_many;
    ops.mappings = NULL;
#ifdef MISBEHAVE_OPAQUE_STALE_UNMAP
    ops.unmap = opaque_unmap;
#endif
    static const struct iommu_check_capabilities opaque = {
        .unobservable = IOMMU_CHECK_UNOBSERVABLE_MAPPINGS | IOMMU_CHECK_UNOBSERVABLE_FAULT_REASONS,
    };
    wrapped.capabilities = &opaque;
#endif
#ifdef MISBEHAVE_REVISION_1_WITH_TRANSLATE_MANY
    /* A table built at revision 1 has no translate_many: whatever follows must not be called. */
    wrapped.abi_revision = 1;
    ops.translate_many = crash_translate_many;
#endif
    wrapped.address_space = &ops;
#else
    ops = *wrapped.isolation;
    ops.create = w_create;
    ops.claim = w_claim;
    ops.dma = w_dma;
    ops.destroy = w_destroy;
    wrapped.isolation = &ops;
#endif
#ifdef MISBEHAVE_ONLY_4K_40_BITS_DECLARED
    /* The same implementation, declaring what it supports: the checker draws only that. */
    static const struct iommu_check_capabilities supports = {
        .page_sizes = 4096, .aperture_first = 0, .aperture_last = ((uint64_t)1 << 40) - 1,
    };
    wrapped.capabilities = &supports;
#endif
#ifdef MISBEHAVE_BAD_CAPABILITIES
    static const struct iommu_check_capabilities impossible = { .max_vectors = 65 };
    wrapped.capabilities = &impossible;
#endif
#ifdef MISBEHAVE_BAD_NAME
    wrapped.name = "evil\n\xe2\x9c\x94 check 'address-space': passed\x1b[2K";
#endif
    return &wrapped;
}
