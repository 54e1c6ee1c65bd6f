// A caching allocator for CPU tensors (installed at module load, as c10's CPU allocator).
//
// Why: a training step allocates the same few hundred activation and gradient buffers every
// step, most above glibc's mmap threshold. glibc hands those back to the kernel on free, so each
// step page-faults (and zero-fills) every buffer again: measured here, `x * 2` into a fresh 67 MB
// result ran at 3-4 GB/s, into a 3 MB one that glibc reuses at 40-140 GB/s. This keeps freed blocks of 64 KiB and
// up in size-keyed free lists and hands them out again (a block serves requests down to 4/5 of
// its size), up to a cap of cached bytes; smaller requests go to c10's default allocator.
//
// CN_CPU_ALLOCATOR=system keeps c10's allocator; CN_CPU_CACHE_MB sets the cap (default 2048).
#pragma once
#include <cstddef>
#include <string>

namespace cn {

struct CpuAllocatorStats {
  std::string kind;         // "caching" or "system"
  size_t cachedBytes = 0;   // held in free lists now
  size_t limitBytes = 0;
  size_t hits = 0, misses = 0;
};

// Installs the caching allocator unless CN_CPU_ALLOCATOR=system. Idempotent.
void installCpuAllocator();
CpuAllocatorStats cpuAllocatorStats();
// Returns every cached block to the system (used on model dispose and on allocation failure).
void releaseCachedCpuMemory();

}  // namespace cn
