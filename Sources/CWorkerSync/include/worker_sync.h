// Atomic loads, stores and fences on memory two processes share (the plug-in worker's frame
// slots), and a spin-wait hint. Swift's own atomics cannot be placed at an address in a mapping.
#ifndef WORKER_SYNC_H
#define WORKER_SYNC_H

#include <stdint.h>

static inline uint64_t worker_sync_load(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void worker_sync_store(uint64_t *p, uint64_t value) { __atomic_store_n(p, value, __ATOMIC_RELEASE); }
static inline void worker_sync_fence(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

static inline void worker_sync_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
