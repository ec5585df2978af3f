// Keeps freed memory in the process: see IOMMUConformance/AllocatorTuning.swift for why.
#ifndef ALLOCATOR_TUNING_H
#define ALLOCATOR_TUNING_H

#if defined(__GLIBC__)
#include <malloc.h>
#endif

static inline void allocator_keep_freed_memory(void) {
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
#endif
}

#endif
