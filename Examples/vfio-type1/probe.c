/* What the real VFIO type1 driver answers, seen from a guest: the container's IOMMU info (page
 * sizes, IOVA ranges, DMA mappings available) and a few map and unmap requests whose answers the
 * address-space model predicts (docs/SEMANTICS.md, vfio-type1). Built static; run inside the VM
 * by scripts/vfio-vm with the group's number. Prints one "name: value" line per fact.
 *
 * With the device's PCI address it also observes translation: QEMU's edu device (hw/misc/edu.c)
 * DMAs through the vIOMMU (registers 0x80 source, 0x88 destination, 0x90 count, 0x98 command:
 * bit 0 runs, bit 1 is the direction, 1 toward memory; a transfer fires 100 ms of virtual time
 * later and clears bit 0). Each page of a buffer standing for memory holds its own tag; edu reads
 * at an IOVA and writes what it read to a readback page, so the tag names the page reached. A
 * sentinel loaded into edu's buffer first stays there when the read faults.
 *
 *   probe GROUP [BDF] */
#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static int container;
static char *memory;

static int map(uint64_t iova, uint64_t size, uint64_t offset, uint32_t flags) {
    struct vfio_iommu_type1_dma_map request = {.argsz = sizeof request, .flags = flags,
                                               .vaddr = (uintptr_t)(memory + offset), .iova = iova, .size = size};
    return ioctl(container, VFIO_IOMMU_MAP_DMA, &request) == 0 ? 0 : errno;
}

static int unmap(uint64_t iova, uint64_t size, uint32_t flags, uint64_t *removed) {
    struct vfio_iommu_type1_dma_unmap request = {.argsz = sizeof request, .flags = flags, .iova = iova, .size = size};
    int status = ioctl(container, VFIO_IOMMU_UNMAP_DMA, &request) == 0 ? 0 : errno;
    *removed = request.size;
    return status;
}

static void report(const char *what, int status) { printf("%s: %s\n", what, status ? strerror(status) : "ok"); }

static void report_unmap(const char *what, uint64_t iova, uint64_t size, uint32_t flags) {
    uint64_t removed = 0;
    int status = unmap(iova, size, flags, &removed);
    printf("%s: %s size 0x%llx\n", what, status ? strerror(status) : "ok", (unsigned long long)removed);
}

static volatile uint64_t *edu;

static uint64_t edu_read(unsigned offset) { return edu[offset / 8]; }

/* One edu transfer of 8 bytes; 0 when it completed. */
static int edu_dma(uint64_t source, uint64_t destination, int to_memory) {
    edu[0x80 / 8] = source;
    edu[0x88 / 8] = destination;
    edu[0x90 / 8] = 8;
    edu[0x98 / 8] = 1 | (to_memory ? 2 : 0);
    for (int i = 0; i < 5000; i++) {
        struct timespec wait = {0, 1000000};
        nanosleep(&wait, NULL);
        if (!(edu_read(0x98) & 1)) return 0;
    }
    return -1;
}

enum { SENTINEL_IOVA = 0x300000, READBACK_IOVA = 0x301000, EDU_BUFFER = 0x40000 };
static const uint64_t sentinel = 0x5e47196e15e47196ULL;

/* What a device read at iova reaches: the tag of the page, or the sentinel (a fault). */
static uint64_t device_read(uint64_t iova) {
    volatile uint64_t *readback = (volatile uint64_t *)(memory + (1 << 23) + 0x1000);
    if (edu_dma(SENTINEL_IOVA, EDU_BUFFER, 0) || edu_dma(iova, EDU_BUFFER, 0) || edu_dma(EDU_BUFFER, READBACK_IOVA, 1)) return 0;
    return *readback;
}

static void describe_read(const char *what, uint64_t iova) {
    uint64_t seen = device_read(iova);
    /* A read that faults leaves edu's buffer zeroed (QEMU fills a failed DMA read with zeros)
     * or, where it does not, the sentinel. */
    if (seen == sentinel || seen == 0) printf("%s: fault\n", what);
    else if ((seen >> 32) == 0x7a9) printf("%s: page %llu\n", what, (unsigned long long)(seen & 0xffffffff));
    else printf("%s: 0x%llx\n", what, (unsigned long long)seen);
}

static void observe_translation(int group, const char *bdf) {
    int device = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, bdf);
    if (device < 0) { perror("VFIO_GROUP_GET_DEVICE_FD"); return; }
    struct vfio_region_info bar = {.argsz = sizeof bar, .index = VFIO_PCI_BAR0_REGION_INDEX};
    struct vfio_region_info config = {.argsz = sizeof config, .index = VFIO_PCI_CONFIG_REGION_INDEX};
    if (ioctl(device, VFIO_DEVICE_GET_REGION_INFO, &bar) || ioctl(device, VFIO_DEVICE_GET_REGION_INFO, &config)) { perror("GET_REGION_INFO"); return; }
    edu = mmap(NULL, bar.size, PROT_READ | PROT_WRITE, MAP_SHARED, device, bar.offset);
    if (edu == MAP_FAILED) { perror("mmap BAR0"); return; }
    printf("edu-id: 0x%x\n", ((volatile uint32_t *)edu)[0]); /* 4-byte registers below 0x80 */
    uint16_t command = 0;
    pread(device, &command, 2, config.offset + 4);
    command |= 4; /* PCI_COMMAND_MASTER: vfio-pci leaves DMA to the user */
    pwrite(device, &command, 2, config.offset + 4);

    /* Pages 0 ... 2047 of the first 8 MiB of the buffer are "memory"; the next pages hold the
     * sentinel and the readback word. */
    for (uint64_t word = 0; word < (1 << 23) / 8; word++) ((uint64_t *)memory)[word] = (0x7a9ULL << 32) | (word / 512);
    *(uint64_t *)(memory + (1 << 23)) = sentinel;
    uint32_t r = VFIO_DMA_MAP_FLAG_READ, rw = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
    uint64_t removed = 0;
    unmap(0, 0, VFIO_DMA_UNMAP_FLAG_ALL, &removed);
    if (map(SENTINEL_IOVA, 0x1000, 1 << 23, r) || map(READBACK_IOVA, 0x1000, (1 << 23) + 0x1000, rw)) { printf("translate: the probe's own maps failed\n"); return; }
    report("map 0x100000+0x4000 -> page 3", map(0x100000, 0x4000, 3 * 0x1000, r));
    describe_read("device read 0x100000", 0x100000);
    describe_read("device read 0x103ff8", 0x103ff8);
    describe_read("device read 0x104000 (unmapped)", 0x104000);
    report("map 0x7fff000000+0x1000 -> page 9", map(0x7fff000000ULL, 0x1000, 9 * 0x1000, r));
    describe_read("device read 0x7fff000000", 0x7fff000000ULL);
    /* A device write through a read-only mapping must not land. */
    map(0x500000, 0x1000, 5 * 0x1000, r);
    int failed = edu_dma(SENTINEL_IOVA, EDU_BUFFER, 0) || edu_dma(EDU_BUFFER, 0x500000, 1);
    printf("device write 0x500000 (read-only): %s\n", failed ? "timed out" : (*(uint64_t *)(memory + 5 * 0x1000) == sentinel ? "landed" : "refused"));
    /* The disagreements of docs/REAL-SYSTEMS.md, pinned so a fixed kernel or QEMU shows. */
    report("map 0x600000+0x1000 -> page 7, write-only", map(0x600000, 0x1000, 7 * 0x1000, VFIO_DMA_MAP_FLAG_WRITE));
    describe_read("device read 0x600000 (write-only)", 0x600000);
    describe_read("device read 0x8000000000100000 (unmapped)", 0x8000000000100000ULL);
    unmap(0x100000, 0x4000, 0, &removed);
    describe_read("device read 0x100000 after unmap", 0x100000);
}

int main(int argc, char **argv) {
    if (argc != 2 && argc != 3) { fprintf(stderr, "usage: probe GROUP [BDF]\n"); return 2; }
    container = open("/dev/vfio/vfio", O_RDWR);
    if (container < 0) { perror("/dev/vfio/vfio"); return 1; }
    printf("api: %d\n", ioctl(container, VFIO_GET_API_VERSION));
    printf("type1v2: %s\n", ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0 ? "yes" : "no");
    char path[64];
    snprintf(path, sizeof path, "/dev/vfio/%s", argv[1]);
    int group = open(path, O_RDWR);
    if (group < 0) { perror(path); return 1; }
    struct vfio_group_status status = {.argsz = sizeof status};
    ioctl(group, VFIO_GROUP_GET_STATUS, &status);
    printf("viable: %s\n", status.flags & VFIO_GROUP_FLAGS_VIABLE ? "yes" : "no");
    if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container) || ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)) { perror("set container / iommu"); return 1; }

    char buffer[4096] = {0};
    struct vfio_iommu_type1_info *info = (void *)buffer;
    info->argsz = sizeof buffer;
    if (ioctl(container, VFIO_IOMMU_GET_INFO, info)) { perror("VFIO_IOMMU_GET_INFO"); return 1; }
    printf("page-sizes: 0x%llx\n", (unsigned long long)info->iova_pgsizes);
    for (uint32_t offset = (info->flags & VFIO_IOMMU_INFO_CAPS) ? info->cap_offset : 0; offset; ) {
        struct vfio_info_cap_header *cap = (void *)(buffer + offset);
        if (cap->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
            struct vfio_iommu_type1_info_cap_iova_range *ranges = (void *)cap;
            for (uint32_t i = 0; i < ranges->nr_iovas; i++)
                printf("iova-range: 0x%llx-0x%llx\n", (unsigned long long)ranges->iova_ranges[i].start, (unsigned long long)ranges->iova_ranges[i].end);
        } else if (cap->id == VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL) {
            printf("dma-available: %u\n", ((struct vfio_iommu_type1_info_dma_avail *)cap)->avail);
        }
        offset = cap->next;
    }

    memory = mmap(NULL, 1 << 24, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) { perror("mmap"); return 1; }
    uint32_t rw = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
    report("map 0x100000+0x4000", map(0x100000, 0x4000, 0, rw));
    report("map 0x100000+0x4000 again", map(0x100000, 0x4000, 0, rw));
    report("map 0x102000+0x4000 (overlaps)", map(0x102000, 0x4000, 0x8000, rw));
    report_unmap("unmap 0x101000+0x1000 (bisects)", 0x101000, 0x1000, 0);
    report_unmap("unmap 0x800000+0x1000 (empty)", 0x800000, 0x1000, 0);
    report_unmap("unmap 0x100000+0x4000 (covers)", 0x100000, 0x4000, 0);
    report("map 0xfee00000+0x1000 (MSI window)", map(0xfee00000, 0x1000, 0, rw));
    report("map 0x7ffffff000+0x1000 (top page)", map(0x7ffffff000ULL, 0x1000, 0, rw));
    report("map 0x8000000000+0x1000 (beyond)", map(0x8000000000ULL, 0x1000, 0, rw));
    report("map 0x200000+0x1000 no permission", map(0x200000, 0x1000, 0, 0));
    report("map 0x200800+0x1000 misaligned", map(0x200800, 0x1000, 0, rw));
    report("map 0x300000+0", map(0x300000, 0, 0, rw));
    map(0x400000, 0x2000, 0, rw);
    map(0x402000, 0x2000, 0x2000, rw);
    report_unmap("unmap-all 0+0", 0, 0, VFIO_DMA_UNMAP_FLAG_ALL);
    report_unmap("unmap-all 0x1000+0", 0x1000, 0, VFIO_DMA_UNMAP_FLAG_ALL);
    if (argc == 3) observe_translation(group, argv[2]);
    /* An unmap whose range ends at 2^64 - 1 (vfio_dma_do_unmap's `iova + size` wraps to 0 before
     * 6.18): it should remove every mapping from 0x1000 up, which unmap-all then counts. */
    report("map 0xfffffffffffff000+0x1000 (ends at 2^64 - 1)", map(0xfffffffffffff000ULL, 0x1000, 0, rw));
    report_unmap("unmap 0x1000+0xfffffffffffff000 (up to 2^64 - 1)", 0x1000, 0xfffffffffffff000ULL, 0);
    report_unmap("unmap-all after it", 0, 0, VFIO_DMA_UNMAP_FLAG_ALL);
    return 0;
}
