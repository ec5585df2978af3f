import CAllocatorTuning

/// A campaign builds and drops the same per-case structures (page-table buffers, models) a
/// hundred thousand times a second. glibc's defaults hand a freed heap top back to the kernel
/// (`M_TRIM_THRESHOLD`) and serve large blocks with mmap (`M_MMAP_THRESHOLD`), so each case
/// faulted its pages in again: 15% of an isolation run. The command line and the fuzz targets
/// call this once; a user's own process keeps its settings unless it calls it. A no-op off glibc.
public enum AllocatorTuning {
    public static func keepFreedMemory() { allocator_keep_freed_memory() }
}
