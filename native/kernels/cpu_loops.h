// Helpers of the CPU kernels (<op>_cpu.cc): float32 rows, parallel over fixed chunks so results
// never depend on the thread count, and the inner loops compiled for AVX-512, AVX2 and plain
// x86-64 with the best picked at load (the addon itself is built for generic x86-64).
#pragma once
#include <ATen/Parallel.h>

#include <cstdint>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#define CN_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CN_CPU_CLONES
#endif

namespace cn::kernels::cpu {

// Rows [0, n) in chunks of `grain`, in parallel; fn(begin, end).
template <typename F>
void forRows(int64_t n, int64_t grain, const F& fn) {
  at::parallel_for(0, n, grain, fn);
}

}  // namespace cn::kernels::cpu
