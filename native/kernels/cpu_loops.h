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

// Float sums over a row in eight-lane partial sums (GCC vector types; 256-bit where the clone has
// AVX2). A plain `s += a[i] * b[i]` loop stays scalar: without -ffast-math GCC may not reorder a
// float sum. The order is fixed, so results are deterministic.
typedef float Lanes8 __attribute__((vector_size(8 * sizeof(float))));
typedef float Lanes8At __attribute__((vector_size(8 * sizeof(float)), aligned(alignof(float)), may_alias));

// (references, not vector values, cross these helpers: no vector ABI between clones and callers)
__attribute__((always_inline)) inline const Lanes8At& load8(const float* p) { return *reinterpret_cast<const Lanes8At*>(p); }

__attribute__((always_inline)) inline float sumLanes(const Lanes8& v) {
  return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}

// Σ a[i] · b[i]
__attribute__((always_inline)) inline float dot(const float* a, const float* b, int64_t n) {
  Lanes8 s0 = {}, s1 = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 += load8(a + i) * load8(b + i);
    s1 += load8(a + i + 8) * load8(b + i + 8);
  }
  for (; i + 8 <= n; i += 8) s0 += load8(a + i) * load8(b + i);
  s0 += s1;
  float s = sumLanes(s0);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// Σ a[i] · b[i] · c[i]
__attribute__((always_inline)) inline float dot3(const float* a, const float* b, const float* c, int64_t n) {
  Lanes8 s0 = {}, s1 = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 += load8(a + i) * load8(b + i) * load8(c + i);
    s1 += load8(a + i + 8) * load8(b + i + 8) * load8(c + i + 8);
  }
  for (; i + 8 <= n; i += 8) s0 += load8(a + i) * load8(b + i) * load8(c + i);
  s0 += s1;
  float s = sumLanes(s0);
  for (; i < n; ++i) s += a[i] * b[i] * c[i];
  return s;
}


// cpu::expf on eight lanes, the same steps (for loops that reduce: GCC vectorises cpu::expf only
// in element-wise loops). x and y may be the same.
typedef int32_t IntLanes8 __attribute__((vector_size(8 * sizeof(int32_t))));

__attribute__((always_inline)) inline void exp8(const Lanes8& x, Lanes8& y) {
  const Lanes8 lo = Lanes8{} - 87.3f, hi = Lanes8{} + 88.0f;
  Lanes8 c = x < lo ? lo : x;
  c = c > hi ? hi : c;
  const Lanes8 n = (c * 1.44269504088896341f + 12582912.f) - 12582912.f;
  const Lanes8 r = (c - n * 0.693145751953125f) - n * 1.428606765330187045e-06f;
  Lanes8 p = Lanes8{} + 1.f / 720.f;
  p = p * r + 1.f / 120.f;
  p = p * r + 1.f / 24.f;
  p = p * r + 1.f / 6.f;
  p = p * r + 0.5f;
  p = p * r + 1.f;
  p = p * r + 1.f;
  const IntLanes8 bits = (__builtin_convertvector(n, IntLanes8) + 127) << 23;
  Lanes8 v = p * (Lanes8)bits;  // a vector cast keeps the bits
  v = x < lo ? Lanes8{} : v;
  v = x > hi ? Lanes8{} + __builtin_inff() : v;
  y = x != x ? x : v;
}

// max over x[0, n) (−inf for n = 0); four running maxima, as one chain of vmaxps waited on its
// latency (a quarter of a log-sum-exp's time in perf annotate)
__attribute__((always_inline)) inline float maxOf(const float* x, int64_t n) {
  const float ninf = -__builtin_inff();
  Lanes8 m0 = Lanes8{} + ninf, m1 = m0, m2 = m0, m3 = m0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const Lanes8 a = load8(x + i), b = load8(x + i + 8), c = load8(x + i + 16), d = load8(x + i + 24);
    m0 = a > m0 ? a : m0;
    m1 = b > m1 ? b : m1;
    m2 = c > m2 ? c : m2;
    m3 = d > m3 ? d : m3;
  }
  for (; i + 8 <= n; i += 8) {
    const Lanes8 a = load8(x + i);
    m0 = a > m0 ? a : m0;
  }
  m0 = m1 > m0 ? m1 : m0;
  m2 = m3 > m2 ? m3 : m2;
  m0 = m2 > m0 ? m2 : m0;
  float out = ninf;
  for (int j = 0; j < 8; ++j) out = m0[j] > out ? m0[j] : out;
  for (; i < n; ++i) out = x[i] > out ? x[i] : out;
  return out;
}

// Σ e^((x[i] − m) · k): with m the row max, the log of it plus m · k is the row's log-sum-exp of x · k.
__attribute__((always_inline)) inline float sumExp(const float* x, int64_t n, float k, float m) {
  Lanes8 s = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    Lanes8 e = (load8(x + i) - m) * k;
    exp8(e, e);
    s += e;
  }
  float out = sumLanes(s);
  for (; i < n; ++i) out += expf((x[i] - m) * k);
  return out;
}

}  // namespace cn::kernels::cpu
