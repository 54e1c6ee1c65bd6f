// x Wᵀ (+ b) for a few rows of x (decoding: one row per prompt), float32 CPU.
//
// At M ≤ 32 rows MKL runs at about its single-thread speed on two threads (its threads cost more
// than they bring on products this small: [16, 256] · [256, 704] took 152 µs on 2 threads and
// 82 µs on one) and oneDNN's inner product is no better. Here each thread takes a range of W's
// rows and computes every output of those rows, four x rows × three W rows at a time in twelve
// eight-lane accumulators: x stays in cache, each W row is read once. On a 2-core AMD EPYC (Zen 3)
// that is 2-3x MKL on the tiny model's decode products and 1.3-2x on Qwen2.5-0.5B's (measured
// in docs/benchmarks.md). Each output is summed by one thread in a fixed order: deterministic.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <cstdlib>
#include <cstring>

#include "kernels/cpu_loops.h"
#include "kernels/few_rows_gemm.h"

namespace cn::kernels {
namespace {

using cpu::Lanes8;
using cpu::load8;

// Σ_k x[k] w[k] over the tail [k0, K) the eight-lane loop left
inline float tail(const float* x, const float* w, int64_t k0, int64_t K) {
  float s = 0.f;
  for (int64_t k = k0; k < K; ++k) s += x[k] * w[k];
  return s;
}

// y[m, n] = Σ_k x[m, k] w[n, k] + bias[n] for every m < M and n in [n0, n1).
CN_CPU_CLONES void fewRowsRange(const float* x, const float* w, const float* bias, float* y, int64_t M, int64_t K, int64_t N,
                                int64_t n0, int64_t n1) {
  const int64_t K8 = K / 8 * 8;
  // While a group's three W rows are multiplied (M / 4 blocks of x rows; only the first block
  // finds them outside the cache), the group two ahead is prefetched, its 3 K floats spread
  // evenly over those iterations: the weight stream from memory then overlaps the arithmetic
  // instead of stalling each group's first block. On the Zen 3 VM: Qwen2.5-0.5B's LM head at
  // 16 rows 100-106 -> 123-144 GFLOP/s; one group ahead gained less, three or four were erratic.
  constexpr int64_t kPrefetchGroupsAhead = 2;
  const int64_t iters = (M / 4) * (K8 / 8);
  const int64_t pfStride = iters > 0 ? (3 * K + iters - 1) / iters : 0;
  int64_t n = n0;
  for (; n + 3 <= n1; n += 3) {
    const float* w0 = w + n * K;
    const float* w1 = w0 + K;
    const float* w2 = w1 + K;
    // past the range's end it prefetches w0 again (in cache already) rather than branch in the loop
    const bool ahead = n + 3 * (kPrefetchGroupsAhead + 1) <= n1;
    const float* pf = ahead ? w0 + 3 * kPrefetchGroupsAhead * K : w0;
    const int64_t pfStep = ahead ? pfStride : 0;
    int64_t it = 0;
    const float b0 = bias ? bias[n] : 0.f, b1 = bias ? bias[n + 1] : 0.f, b2 = bias ? bias[n + 2] : 0.f;
    int64_t m = 0;
    for (; m + 4 <= M; m += 4) {
      const float* x0 = x + m * K;
      const float* x1 = x0 + K;
      const float* x2 = x1 + K;
      const float* x3 = x2 + K;
      Lanes8 a00 = {}, a01 = {}, a02 = {}, a10 = {}, a11 = {}, a12 = {}, a20 = {}, a21 = {}, a22 = {}, a30 = {}, a31 = {}, a32 = {};
      for (int64_t k = 0; k < K8; k += 8, ++it) {
        __builtin_prefetch(pf + it * pfStep);
        const Lanes8 v0 = load8(w0 + k), v1 = load8(w1 + k), v2 = load8(w2 + k);
        Lanes8 u = load8(x0 + k);
        a00 += u * v0, a01 += u * v1, a02 += u * v2;
        u = load8(x1 + k);
        a10 += u * v0, a11 += u * v1, a12 += u * v2;
        u = load8(x2 + k);
        a20 += u * v0, a21 += u * v1, a22 += u * v2;
        u = load8(x3 + k);
        a30 += u * v0, a31 += u * v1, a32 += u * v2;
      }
      const Lanes8* acc[4][3] = {{&a00, &a01, &a02}, {&a10, &a11, &a12}, {&a20, &a21, &a22}, {&a30, &a31, &a32}};
      const float* xs[4] = {x0, x1, x2, x3};
      const float* ws[3] = {w0, w1, w2};
      const float bs[3] = {b0, b1, b2};
      for (int i = 0; i < 4; ++i) {
        float* yr = y + (m + i) * N + n;
        for (int j = 0; j < 3; ++j) yr[j] = (cpu::sumLanes(*acc[i][j]) + tail(xs[i], ws[j], K8, K)) + bs[j];
      }
    }
    for (; m < M; ++m) {
      const float* xr = x + m * K;
      float* yr = y + m * N + n;
      yr[0] = cpu::dot(xr, w0, K) + b0;
      yr[1] = cpu::dot(xr, w1, K) + b1;
      yr[2] = cpu::dot(xr, w2, K) + b2;
    }
  }
  for (; n < n1; ++n) {
    for (int64_t m = 0; m < M; ++m) y[m * N + n] = cpu::dot(x + m * K, w + n * K, K) + (bias ? bias[n] : 0.f);
  }
}

}  // namespace

bool fewRowsGemmEnabled() {
  static const bool on = [] {
    const char* v = std::getenv("CN_FEW_ROWS_GEMM");
    return v == nullptr || std::strcmp(v, "0") != 0;
  }();
  return on;
}

bool fewRowsGemmApplies(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias) {
  return fewRowsGemmEnabled() && x.device().is_cpu() && x.scalar_type() == at::kFloat && w.scalar_type() == at::kFloat && x.dim() == 2 &&
         w.dim() == 2 && x.size(0) > 0 && x.size(0) <= kFewRowsMax && x.size(1) == w.size(1) && w.is_contiguous() && w.size(0) > 0 &&
         (!bias.defined() || (bias.scalar_type() == at::kFloat && bias.is_contiguous() && bias.numel() == w.size(0)));
}

at::Tensor fewRowsGemm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias) {
  RECORD_FUNCTION("cn::gemm (few rows)", std::vector<c10::IValue>());
  const at::Tensor xc = x.contiguous();
  const int64_t M = xc.size(0), K = xc.size(1), N = w.size(0);
  at::Tensor y = at::empty({M, N}, xc.options());
  const float* xp = xc.const_data_ptr<float>();
  const float* wp = w.const_data_ptr<float>();
  const float* bp = bias.defined() ? bias.const_data_ptr<float>() : nullptr;
  float* yp = y.mutable_data_ptr<float>();
  // a thread's share is at least ~64k multiply-adds: below that waking a second thread costs more
  const int64_t grain = std::max<int64_t>(3, (int64_t{1} << 16) / std::max<int64_t>(1, M * K));
  at::parallel_for(0, N, grain, [&](int64_t b, int64_t e) { fewRowsRange(xp, wp, bp, yp, M, K, N, b, e); });
  return y;
}

}  // namespace cn::kernels
