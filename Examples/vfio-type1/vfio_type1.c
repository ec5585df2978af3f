/* An address-space plug-in over the real Linux VFIO type1 driver (issue 16; docs/REAL-SYSTEMS.md).
 * It runs in the guest scripts/vfio-vm boots, where QEMU's edu device is bound to vfio-pci and
 * VFIO_GROUP and VFIO_DEVICE name its group and PCI address.
 *
 * Each address space is a new container holding edu's group (type1 v2). Map and unmap are the
 * kernel's own VFIO_IOMMU_MAP_DMA and VFIO_IOMMU_UNMAP_DMA; their errno becomes a status by the
 * order of the checks in vfio_dma_do_map and vfio_dma_do_unmap (the table in REAL-SYSTEMS.md).
 * Translation is observed: edu DMAs through the vIOMMU (hw/misc/edu.c), and every word of the
 * memory behind a mapping holds a tag naming itself, so what a device read returns, or where a
 * device write lands, names the page the IOMMU reached.
 *
 * What the kernel does not show, the plug-in says it cannot show (capabilities->unobservable):
 * there is no ioctl that lists mappings, and a DMA that faults says nothing of why. The ABI's
 * "phys" stands for the user virtual address VFIO pins: a map the kernel accepts is backed by a
 * new buffer (at most BUDGET bytes per address space); past that it is given an address nothing
 * is mapped at, so the kernel still makes every check and fails only in pinning, and the map
 * answers IOMMU_CHECK_AS_UNOBSERVABLE. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "iommu_check.h"

enum { PAGE = 0x1000, BUDGET = 128 << 20, MOST_RANGES = 16, SLOTS = 256, EDU_BUFFER = 0x40000, DMA_IRQ = 0x100 };
#define TAG_MAGIC 0xa5ULL
#define WRITE_MAGIC 0x5a00000000000000ULL
#define SENTINEL 0x5e47196e15e47100ULL
#define READBACK_MARK 0x3eadbacc3eadbaccULL

/* Memory behind one accepted map: the word at offset o holds tag(chunk, o). */
struct chunk {
    char *memory;
    uint64_t length;
    uint64_t phys; /* the request's phys at memory[0] */
};

/* What the plug-in believes is mapped: only to place its readback page and to look first where
 * a device write should land. Every answer comes from the kernel or the device. */
struct belief {
    uint64_t iova, last;
    int chunk;
};

struct space {
    int container, device, irq;
    volatile uint64_t *edu;
    size_t bar_size;
    char *readback; /* one page, mapped at an IOVA no probe names while probes run */
    struct vfio_iova_range ranges[MOST_RANGES];
    uint32_t range_count;
    struct chunk *chunks;
    int chunk_count;
    uint64_t pinned;
    struct belief *beliefs;
    int belief_count;
    uint64_t writes; /* a counter: every device write carries a value never written before */
};

static int group = -1;

static void complain(const char *what) { fprintf(stderr, "vfio-type1 plug-in: %s\n", what); }

/* A value a device write carries: unique per space, and harmless where it lands in the MSI
 * window, where each 32-bit half is an interrupt message's data: the low 16 bits are zero, so
 * vector 0 with fixed delivery (another delivery mode there sent the guest NMIs and an INIT). */
static uint64_t write_value(uint64_t n) { return WRITE_MAGIC | (n & 0xffff) << 16 | (n >> 16 & 0xff) << 48; }

static uint64_t tag(int chunk, uint64_t offset) { return TAG_MAGIC << 56 | (uint64_t)chunk << 32 | offset / 8; }

static void forget(struct space *s, uint64_t first, uint64_t last) {
    for (int i = 0; i < s->belief_count;) {
        if (s->beliefs[i].iova >= first && s->beliefs[i].last <= last) s->beliefs[i] = s->beliefs[--s->belief_count];
        else i++;
    }
}

static void destroy(void *handle) {
    struct space *s = handle;
    if (s->edu) munmap((void *)s->edu, s->bar_size);
    if (s->irq >= 0) close(s->irq);
    if (s->device >= 0) close(s->device);
    if (group >= 0) ioctl(group, VFIO_GROUP_UNSET_CONTAINER);
    if (s->container >= 0) close(s->container);
    for (int i = 0; i < s->chunk_count; i++) munmap(s->chunks[i].memory, s->chunks[i].length);
    if (s->readback) munmap(s->readback, PAGE);
    free(s->chunks);
    free(s->beliefs);
    free(s);
}

/* The container's page sizes and IOVA ranges (VFIO_IOMMU_GET_INFO and its capability chain). */
static int read_info(struct space *s) {
    char buffer[4096] = {0};
    struct vfio_iommu_type1_info *info = (void *)buffer;
    info->argsz = sizeof buffer;
    if (ioctl(s->container, VFIO_IOMMU_GET_INFO, info)) return -1;
    if ((info->iova_pgsizes & -info->iova_pgsizes) != PAGE) return complain("the smallest IOMMU page is not 4 KiB"), -1;
    for (uint32_t offset = (info->flags & VFIO_IOMMU_INFO_CAPS) ? info->cap_offset : 0; offset && offset < sizeof buffer;) {
        struct vfio_info_cap_header *cap = (void *)(buffer + offset);
        if (cap->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
            struct vfio_iommu_type1_info_cap_iova_range *r = (void *)cap;
            for (uint32_t i = 0; i < r->nr_iovas && s->range_count < MOST_RANGES; i++) s->ranges[s->range_count++] = r->iova_ranges[i];
        }
        offset = cap->next;
    }
    return s->range_count ? 0 : (complain("no IOVA ranges capability"), -1);
}

/* The run's aperture and reserved regions must be what the kernel has, or every answer would
 * differ for a reason that is not the kernel's. */
static int configuration_matches(const struct space *s, const struct iommu_check_as_config *c) {
    if (c->page_size != PAGE || !c->has_aperture) return 0;
    /* The type1 v2 contract; only write_only_reads may differ (VT-d's bug, REAL-SYSTEMS.md). */
    if (c->mapping_limit != 65535 || c->partial_unmap != IOMMU_CHECK_REJECT_BISECT || c->empty_unmap != IOMMU_CHECK_EMPTY_SUCCEEDS ||
        c->permission_required != IOMMU_CHECK_RULE_ENFORCED || c->phys_wrap != IOMMU_CHECK_PHYS_INCLUSIVE_END ||
        c->unmap_all != IOMMU_CHECK_UNMAP_ALL_FLAG || c->bytes != IOMMU_CHECK_BYTES_ON_SUCCESS || !c->unmap_alignment ||
        c->ulong_max_overflow || c->msi_doorbell || c->driver_requirements) return 0;
    if (c->aperture_first != s->ranges[0].start || c->aperture_last != s->ranges[s->range_count - 1].end) return 0;
    if (c->reserved_count != s->range_count - 1) return 0;
    for (uint32_t i = 0; i + 1 < s->range_count; i++)
        if (c->reserved[i].first != s->ranges[i].end + 1 || c->reserved[i].last != s->ranges[i + 1].start - 1) return 0;
    return 1;
}

/* VFIO_TYPE1_DEEP_TABLE=1: one page mapped at 2^63 and unmapped again before the case, so the
 * AMD-Vi driver's page table has all its levels (increase_address_space never lowers the mode).
 * QEMU's AMD-Vi otherwise lets an IOVA above the table's reach alias a low one (docs/REAL-SYSTEMS.md,
 * disagreement 2); with this, a campaign gets past that known bug to others. */
static int deepen(struct space *s) {
    struct vfio_iommu_type1_dma_map map = {.argsz = sizeof map, .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
                                           .vaddr = (uintptr_t)s->readback, .iova = 1ULL << 63, .size = PAGE};
    struct vfio_iommu_type1_dma_unmap unmap = {.argsz = sizeof unmap, .iova = 1ULL << 63, .size = PAGE};
    if (ioctl(s->container, VFIO_IOMMU_MAP_DMA, &map) || ioctl(s->container, VFIO_IOMMU_UNMAP_DMA, &unmap) || unmap.size != PAGE)
        return complain("VFIO_TYPE1_DEEP_TABLE: cannot map and unmap a page at 2^63"), -1;
    return 0;
}

static void *create(const struct iommu_check_as_config *config) {
    const char *group_name = getenv("VFIO_GROUP"), *device_name = getenv("VFIO_DEVICE");
    if (!group_name || !device_name) return complain("VFIO_GROUP and VFIO_DEVICE are not set (run it in scripts/vfio-vm)"), NULL;
    if (group < 0) {
        char path[64];
        snprintf(path, sizeof path, "/dev/vfio/%s", group_name);
        if ((group = open(path, O_RDWR)) < 0) return complain("cannot open the VFIO group"), NULL;
    }
    struct space *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->device = s->irq = -1;
    s->container = open("/dev/vfio/vfio", O_RDWR);
    if (s->container < 0 || ioctl(group, VFIO_GROUP_SET_CONTAINER, &s->container) || ioctl(s->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) || read_info(s)) {
        complain("cannot set up a type1 v2 container with the group");
        destroy(s);
        return NULL;
    }
    if (!configuration_matches(s, config)) {
        complain("the run's page size, aperture, reserved regions, mapping limit or policy are not the kernel's type1 v2 (scripts/vfio-vm-campaign passes them)");
        destroy(s);
        return NULL;
    }
    s->device = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, device_name);
    struct vfio_region_info bar = {.argsz = sizeof bar, .index = VFIO_PCI_BAR0_REGION_INDEX};
    struct vfio_region_info config_space = {.argsz = sizeof config_space, .index = VFIO_PCI_CONFIG_REGION_INDEX};
    if (s->device < 0 || ioctl(s->device, VFIO_DEVICE_GET_REGION_INFO, &bar) || ioctl(s->device, VFIO_DEVICE_GET_REGION_INFO, &config_space)) {
        complain("cannot open the device");
        destroy(s);
        return NULL;
    }
    void *mapped = mmap(NULL, bar.size, PROT_READ | PROT_WRITE, MAP_SHARED, s->device, bar.offset);
    if (mapped != MAP_FAILED) s->edu = mapped, s->bar_size = bar.size;
    s->readback = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (s->readback == MAP_FAILED) s->readback = NULL;
    s->irq = eventfd(0, 0);
    if (!s->edu || !s->readback || s->irq < 0) {
        complain("cannot map edu's registers or the readback page");
        destroy(s);
        return NULL;
    }
    if (getenv("VFIO_TYPE1_DEEP_TABLE") && deepen(s)) {
        destroy(s);
        return NULL;
    }
    uint16_t command = 0;
    /* PCI_COMMAND_MASTER: vfio-pci leaves DMA to the user. */
    if (pread(s->device, &command, 2, config_space.offset + 4) != 2 || (command |= 4, pwrite(s->device, &command, 2, config_space.offset + 4) != 2)) {
        complain("cannot enable bus mastering");
        destroy(s);
        return NULL;
    }
    /* edu's MSI, as an eventfd: a transfer's end is waited for asleep, so a guest clock that
     * jumps while the CPU idles (-icount sleep=off) skips edu's 100 ms timer. */
    char set_buffer[sizeof(struct vfio_irq_set) + sizeof(int)];
    struct vfio_irq_set *set = (void *)set_buffer;
    *set = (struct vfio_irq_set){.argsz = sizeof set_buffer, .flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, .index = VFIO_PCI_MSI_IRQ_INDEX, .count = 1};
    memcpy(set->data, &s->irq, sizeof(int));
    if (ioctl(s->device, VFIO_DEVICE_SET_IRQS, set)) {
        complain("cannot route edu's MSI to an eventfd");
        destroy(s);
        return NULL;
    }
    return s;
}

/* The status of a refused map: errno, then the request, in the order vfio_dma_do_map tests it. */
static int32_t map_status(const struct space *s, int error, uint64_t iova, uint64_t length, uint64_t vaddr, uint32_t permissions) {
    switch (error) {
    case EEXIST: return IOMMU_CHECK_AS_OVERLAP;
    case ENOSPC: return IOMMU_CHECK_AS_MAPPING_LIMIT;
    case EFAULT:
    case ENOMEM: return IOMMU_CHECK_AS_UNOBSERVABLE; /* pinning, after every check passed */
    case EINVAL:
        if (!permissions) return IOMMU_CHECK_AS_NO_PERMISSION;
        if (!length) return IOMMU_CHECK_AS_ZERO_LENGTH;
        if ((length | iova | vaddr) & (PAGE - 1)) return IOMMU_CHECK_AS_MISALIGNED;
        if (iova + length - 1 < iova || vaddr + length - 1 < vaddr) return IOMMU_CHECK_AS_OVERFLOW;
        /* vfio_iommu_iova_dma_valid: the iova list is the aperture without its holes. */
        if (iova < s->ranges[0].start || iova + length - 1 > s->ranges[s->range_count - 1].end) return IOMMU_CHECK_AS_OUTSIDE_APERTURE;
        return IOMMU_CHECK_AS_RESERVED_REGION;
    default:
        fprintf(stderr, "vfio-type1 plug-in: VFIO_IOMMU_MAP_DMA failed with %s, which no check of vfio_dma_do_map returns\n", strerror(error));
        return -1;
    }
}

static int32_t map(void *handle, uint64_t iova, uint64_t length, uint64_t phys, uint32_t permissions) {
    struct space *s = handle;
    uint64_t offset = phys & (PAGE - 1), vaddr;
    int chunk = -1;
    if (length && phys + (length - 1) < phys) {
        vaddr = phys; /* wraps as phys does: the kernel's own test refuses it */
    } else if (length && length <= BUDGET - s->pinned && !offset) {
        /* Populated: a read-only pin of an untouched page would pin the shared zero page. */
        struct chunk *grown = realloc(s->chunks, (s->chunk_count + 1) * sizeof *grown);
        if (!grown) return complain("out of memory for the buffer table"), -1;
        s->chunks = grown;
        char *memory = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (memory == MAP_FAILED) return complain("out of memory for a buffer"), -1;
        chunk = s->chunk_count++;
        s->chunks[chunk] = (struct chunk){memory, length, phys};
        vaddr = (uintptr_t)memory;
    } else {
        vaddr = offset; /* page 0, where nothing is ever mapped: pinning fails if every check passes */
    }
    uint32_t flags = (permissions & IOMMU_CHECK_READ ? VFIO_DMA_MAP_FLAG_READ : 0) | (permissions & IOMMU_CHECK_WRITE ? VFIO_DMA_MAP_FLAG_WRITE : 0);
    struct vfio_iommu_type1_dma_map request = {.argsz = sizeof request, .flags = flags, .vaddr = vaddr, .iova = iova, .size = length};
    int failed = ioctl(s->container, VFIO_IOMMU_MAP_DMA, &request) ? errno : 0;
    if (chunk >= 0 && !failed) s->pinned += length;
    if (failed) {
        if (chunk == s->chunk_count - 1 && chunk >= 0) munmap(s->chunks[--s->chunk_count].memory, length);
        return map_status(s, failed, iova, length, vaddr, flags);
    }
    if (chunk < 0) {
        /* Accepted with nothing behind it: impossible for page 0, but never leave it mapped. */
        struct vfio_iommu_type1_dma_unmap undo = {.argsz = sizeof undo, .iova = iova, .size = length};
        ioctl(s->container, VFIO_IOMMU_UNMAP_DMA, &undo);
        return IOMMU_CHECK_AS_UNOBSERVABLE;
    }
    /* Tagged once the kernel pinned it (the same pages: they were populated before). */
    for (uint64_t o = 0; o < length; o += 8) *(uint64_t *)(s->chunks[chunk].memory + o) = tag(chunk, o);
    struct belief *grown = realloc(s->beliefs, (s->belief_count + 1) * sizeof *grown);
    if (!grown) return -1;
    s->beliefs = grown;
    s->beliefs[s->belief_count++] = (struct belief){iova, iova + length - 1, chunk};
    return IOMMU_CHECK_AS_OK;
}

/* The status of a refused unmap, in the order vfio_dma_do_unmap tests it. */
static int32_t unmap_status(int error, uint64_t iova, uint64_t length, int all) {
    if (error != EINVAL) {
        fprintf(stderr, "vfio-type1 plug-in: VFIO_IOMMU_UNMAP_DMA failed with %s, which no check of vfio_dma_do_unmap returns\n", strerror(error));
        return -1;
    }
    if (all) return IOMMU_CHECK_AS_UNMAP_ALL_ARGUMENTS; /* a misaligned iova is a non-zero one */
    if (iova & (PAGE - 1)) return IOMMU_CHECK_AS_MISALIGNED;
    if (!length) return IOMMU_CHECK_AS_ZERO_LENGTH;
    if (length & (PAGE - 1)) return IOMMU_CHECK_AS_MISALIGNED;
    if (iova + length - 1 < iova) return IOMMU_CHECK_AS_OVERFLOW;
    return IOMMU_CHECK_AS_BISECTS_MAPPING; /* v2: "there must not be any previous mappings bisected by the range" */
}

static int32_t unmap_request(struct space *s, uint64_t iova, uint64_t length, uint32_t flags, uint64_t *bytes) {
    struct vfio_iommu_type1_dma_unmap request = {.argsz = sizeof request, .flags = flags, .iova = iova, .size = length};
    if (ioctl(s->container, VFIO_IOMMU_UNMAP_DMA, &request)) return unmap_status(errno, iova, length, flags != 0);
    *bytes = request.size;
    if (flags) s->belief_count = 0;
    else forget(s, iova, iova + (length - 1));
    return IOMMU_CHECK_AS_OK;
}

static int32_t unmap(void *handle, uint64_t iova, uint64_t length, uint64_t *bytes) { return unmap_request(handle, iova, length, 0, bytes); }

static int32_t unmap_all(void *handle, uint64_t iova, uint64_t length, uint64_t *bytes) {
    return unmap_request(handle, iova, length, VFIO_DMA_UNMAP_FLAG_ALL, bytes);
}

/* One edu transfer of count bytes (registers 0x80 source, 0x88 destination, 0x90 count, 0x98
 * command: 1 runs, 2 is toward memory, 4 raises the interrupt at the end); 0 when it ended. */
static int transfer(struct space *s, uint64_t source, uint64_t destination, uint64_t count, int to_memory) {
    s->edu[0x80 / 8] = source;
    s->edu[0x88 / 8] = destination;
    s->edu[0x90 / 8] = count;
    s->edu[0x98 / 8] = 1 | (to_memory ? 2 : 0) | 4;
    struct pollfd wait = {.fd = s->irq, .events = POLLIN};
    uint64_t fired;
    if (poll(&wait, 1, 60000) != 1 || read(s->irq, &fired, sizeof fired) != sizeof fired) return complain("an edu transfer did not end"), -1;
    ((volatile uint32_t *)s->edu)[0x64 / 4] = DMA_IRQ; /* acknowledge */
    return (s->edu[0x98 / 8] & 1) ? -1 : 0;
}

static int overlaps_any(uint64_t first, uint64_t last, const struct space *s, size_t count, const uint64_t *iovas) {
    for (int i = 0; i < s->belief_count; i++)
        if (s->beliefs[i].iova <= last && first <= s->beliefs[i].last) return 1;
    for (size_t i = 0; i < count; i++)
        if (iovas[i] >= first && iovas[i] <= last) return 1;
    return 0;
}

/* Maps the readback page where nothing is believed mapped and no probe looks; its IOVA, or 1. */
static uint64_t place_readback(struct space *s, size_t count, const uint64_t *iovas) {
    for (uint32_t r = 0; r < s->range_count; r++) {
        uint64_t first = s->ranges[r].start, span = s->ranges[r].end - first;
        for (int k = 1; k < 16; k++) {
            uint64_t iova = (first + span / 16 * k) & ~(uint64_t)(PAGE - 1);
            if (iova < first || iova + PAGE - 1 > s->ranges[r].end || overlaps_any(iova, iova + PAGE - 1, s, count, iovas)) continue;
            struct vfio_iommu_type1_dma_map request = {.argsz = sizeof request, .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
                                                       .vaddr = (uintptr_t)s->readback, .iova = iova, .size = PAGE};
            if (ioctl(s->container, VFIO_IOMMU_MAP_DMA, &request) == 0) return iova;
        }
    }
    return complain("no free IOVA for the readback page"), 1;
}

/* Where the word at address sits in the buffers: its chunk and offset, or -1. */
static int locate(const struct space *s, const uint64_t *address, uint64_t *offset) {
    for (int c = 0; c < s->chunk_count; c++) {
        const char *p = (const char *)address;
        if (p >= s->chunks[c].memory && p < s->chunks[c].memory + s->chunks[c].length) {
            *offset = (uint64_t)(p - s->chunks[c].memory);
            return c;
        }
    }
    return -1;
}

/* Where a device write of value landed: the chunk's phys for it, restoring the tag; or 0. */
static int find_write(struct space *s, uint64_t iova, uint64_t value, uint64_t *phys) {
    uint64_t *found = NULL;
    for (int i = 0; i < s->belief_count && !found; i++) {
        /* Where it should land first, then everywhere. */
        if (iova < s->beliefs[i].iova || iova > s->beliefs[i].last) continue;
        struct chunk *c = &s->chunks[s->beliefs[i].chunk];
        uint64_t *word = (uint64_t *)(c->memory + ((iova - s->beliefs[i].iova) & ~7ULL));
        if (*word == value) found = word;
    }
    for (int c = 0; c < s->chunk_count && !found; c++)
        for (uint64_t o = 0; o < s->chunks[c].length && !found; o += 8)
            if (*(uint64_t *)(s->chunks[c].memory + o) == value) found = (uint64_t *)(s->chunks[c].memory + o);
    if (!found) return 0;
    uint64_t offset = 0;
    int c = locate(s, found, &offset);
    if (c < 0) return 0;
    *found = tag(c, offset);
    *phys = s->chunks[c].phys + offset + (iova & 7);
    return 1;
}

/* A device read's word: the phys it names, or a fault (zeros or the sentinel: QEMU fills a
 * failed DMA read with zeros). A word that is no tag, or the readback page's mark, is reported
 * as -1, an invalid answer, with what it was on stderr. */
static int32_t decode_read(const struct space *s, uint64_t iova, uint64_t word, uint64_t *phys) {
    if (word == 0 || word == SENTINEL) return IOMMU_CHECK_FAULT_NOT_MAPPED;
    int c = (int)(word >> 32 & 0xffffff);
    uint64_t offset = (word & 0xffffffff) * 8;
    if (word == READBACK_MARK) {
        fprintf(stderr, "vfio-type1 plug-in: a device read at 0x%llx reached the plug-in's readback page, which is mapped at another IOVA\n", (unsigned long long)iova);
        return -1;
    }
    if (word >> 56 != TAG_MAGIC || c >= s->chunk_count || offset >= s->chunks[c].length) {
        /* Not an iommu_check_fault: the checker reports it, rather than a phys the model might expect. */
        fprintf(stderr, "vfio-type1 plug-in: a device read at 0x%llx returned 0x%llx, which tags no buffer word\n", (unsigned long long)iova, (unsigned long long)word);
        return -1;
    }
    *phys = s->chunks[c].phys + offset + (iova & 7);
    return IOMMU_CHECK_FAULT_NONE;
}

/* Up to SLOTS probes: the readback page's words are loaded into edu's buffer (sentinels for
 * reads, fresh values for writes), each read fills its slot, then each write sends its slot, and
 * the buffer comes back to the readback page. Reads go first, so none sees a probe's write; a
 * probe of a word already probed with the same access shares that probe's transfer. */
static void translate_round(struct space *s, size_t count, const uint64_t *iovas, const uint32_t *accesses, int32_t *faults, uint64_t *phys) {
    uint64_t readback = place_readback(s, count, iovas);
    volatile uint64_t *slots = (volatile uint64_t *)s->readback;
    size_t first[SLOTS]; /* the probe whose transfer answers probe i */
    uint64_t values[SLOTS];
    for (size_t i = 0; i < count; i++) {
        first[i] = i;
        for (size_t j = 0; j < i; j++)
            if (accesses[j] == accesses[i] && (iovas[j] & ~7ULL) == (iovas[i] & ~7ULL)) { first[i] = j; break; }
        values[i] = slots[i] = accesses[i] == IOMMU_CHECK_WRITE ? write_value(++s->writes) : SENTINEL;
    }
    int broken = readback == 1 || transfer(s, readback, EDU_BUFFER, count * 8, 0);
    /* While the probes run, the readback page holds a mark: a probe the IOMMU sends there shows. */
    for (size_t w = 0; w < PAGE / 8; w++) slots[w] = READBACK_MARK;
    for (size_t i = 0; i < count && !broken; i++)
        if (first[i] == i && accesses[i] != IOMMU_CHECK_WRITE) broken = transfer(s, iovas[i] & ~7ULL, EDU_BUFFER + 8 * i, 8, 0);
    /* Each write is looked for before the next is sent: two IOVAs that reach one word (an
     * IOMMU that aliases them) must not hide the first. */
    for (size_t i = 0; i < count && !broken; i++) {
        if (first[i] != i || accesses[i] != IOMMU_CHECK_WRITE) continue;
        broken = transfer(s, EDU_BUFFER + 8 * i, iovas[i] & ~7ULL, 8, 1);
        faults[i] = find_write(s, iovas[i], values[i], &phys[i]) ? IOMMU_CHECK_FAULT_NONE : IOMMU_CHECK_FAULT_NOT_MAPPED;
        for (size_t w = 0; w < PAGE / 8; w++) {
            if (slots[w] != values[i]) continue;
            fprintf(stderr, "vfio-type1 plug-in: a device write at 0x%llx reached the plug-in's readback page, which is mapped at another IOVA\n", (unsigned long long)iovas[i]);
            faults[i] = -1;
            slots[w] = READBACK_MARK;
        }
    }
    if (!broken) broken = transfer(s, EDU_BUFFER, readback, count * 8, 1);
    for (size_t i = 0; i < count; i++) {
        size_t k = first[i];
        if (broken) faults[i] = -1; /* not an iommu_check_fault: the checker reports the plug-in */
        else if (k != i) { faults[i] = faults[k]; phys[i] = faults[k] ? 0 : phys[k] - (iovas[k] & 7) + (iovas[i] & 7); }
        else if (accesses[i] != IOMMU_CHECK_WRITE) faults[i] = decode_read(s, iovas[i], slots[i], &phys[i]);
    }
    if (readback != 1) {
        struct vfio_iommu_type1_dma_unmap request = {.argsz = sizeof request, .iova = readback, .size = PAGE};
        int failed = ioctl(s->container, VFIO_IOMMU_UNMAP_DMA, &request) ? errno : 0;
        if (failed || request.size != PAGE) {
            /* The kernel lost a mapping it had just made (Linux before 6.18, with a mapping that
             * ends at 2^64 - 1: vfio_find_dma_first_node's `dma->iova + dma->size` wraps). The
             * answers cannot be trusted: the round is reported broken. */
            fprintf(stderr, "vfio-type1 plug-in: the kernel did not unmap the readback page it had just mapped at 0x%llx (%s, size 0x%llx)\n",
                    (unsigned long long)readback, failed ? strerror(failed) : "ok", (unsigned long long)request.size);
            for (size_t i = 0; i < count; i++) faults[i] = -1;
        }
    }
}

static void translate_many(void *handle, size_t count, const uint64_t *iovas, const uint32_t *accesses, int32_t *faults, uint64_t *phys) {
    for (size_t done = 0; done < count; done += SLOTS) {
        size_t n = count - done < SLOTS ? count - done : SLOTS;
        translate_round(handle, n, iovas + done, accesses + done, faults + done, phys + done);
    }
}

static int32_t translate(void *handle, uint64_t iova, uint32_t access, uint64_t *phys) {
    int32_t fault = -1;
    translate_many(handle, 1, &iova, &access, &fault, phys);
    return fault;
}

static const struct iommu_check_address_space_ops ops = {
    .create = create,
    .destroy = destroy,
    .map = map,
    .unmap = unmap,
    .unmap_all = unmap_all,
    .translate = translate,
    .mappings = NULL, /* VFIO has no ioctl that lists mappings */
    .translate_many = translate_many,
};

static const struct iommu_check_capabilities capabilities = {
    .page_sizes = PAGE,
    .unobservable = IOMMU_CHECK_UNOBSERVABLE_MAPPINGS | IOMMU_CHECK_UNOBSERVABLE_FAULT_REASONS,
};

static const struct iommu_check_plugin plugin = {
    .abi_version = IOMMU_CHECK_ABI_VERSION,
    .abi_revision = IOMMU_CHECK_ABI_REVISION,
    .name = "linux-vfio-type1",
    .address_space = &ops,
    .capabilities = &capabilities,
};

const struct iommu_check_plugin *iommu_check_plugin_v2(void) { return &plugin; }
