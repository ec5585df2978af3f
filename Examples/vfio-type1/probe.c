/* What the real VFIO type1 driver answers, seen from a guest: the container's IOMMU info (page
 * sizes, IOVA ranges, DMA mappings available) and a few map and unmap requests whose answers the
 * address-space model predicts (docs/SEMANTICS.md, vfio-type1). Built static; run inside the VM
 * by scripts/vfio-vm with the group's number. Prints one "name: value" line per fact.
 *
 *   probe GROUP */
#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
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

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: probe GROUP\n"); return 2; }
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
    return 0;
}
