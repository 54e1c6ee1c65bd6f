// Helpers of the CPU kernels (<op>_cpu.cc): the inner loops compiled for AVX-512, AVX2 and plain
// x86-64 with the best picked at load (the addon itself is built for generic x86-64), and an exp
// that vectorises.
#pragma once
#include <ATen/Parallel.h>

#include <cstdint>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#define CN_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CN_CPU_CLONES
#endif

namespace cn::kernels::cpu {

// exp(x) for float32 that the compiler can vectorise (std::exp is a libm call per element):
// 2^n · p(r), n = round(x / ln 2), r = x − n ln 2 in two parts, p a degree-6 Taylor polynomial
// (|relative error| < 2e-7 on [−ln2/2, ln2/2]). The range tests vectorise only without
// trapping math (CMakeLists.txt sets -fno-trapping-math). Underflows to 0 below −87.3, overflows to +inf
// above 88 (the float range ends at 88.7; sigmoid does not care); NaN stays NaN.
inline float expf(float x) {
  const float clamped = x < -87.3f ? -87.3f : (x > 88.0f ? 88.0f : x);
  // round to nearest by adding and removing 1.5·2^23 (plain arithmetic: vectorises everywhere)
  const float n = (clamped * 1.44269504088896341f + 12582912.f) - 12582912.f;
  const float r = (clamped - n * 0.693145751953125f) - n * 1.428606765330187045e-06f;
  float p = 1.f / 720.f;
  p = p * r + 1.f / 120.f;
  p = p * r + 1.f / 24.f;
  p = p * r + 1.f / 6.f;
  p = p * r + 0.5f;
  p = p * r + 1.f;
  p = p * r + 1.f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  float y = p * scale;
  if (x < -87.3f) y = 0.f;
  if (x > 88.0f) y = __builtin_inff();
  return x != x ? x : y;
}

// 1 / (1 + e^−x), exact at the ends (0 and 1) as ATen's.
inline float sigmoid(float x) { return 1.f / (1.f + expf(-x)); }

}  // namespace cn::kernels::cpu
