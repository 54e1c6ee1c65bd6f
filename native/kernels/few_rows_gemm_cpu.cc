// x Wᵀ (+ b) for a few rows of x (decoding: one row per prompt), float32 CPU.
//
// At M ≤ 32 rows MKL runs at about its single-thread speed on two threads (its threads cost more
// than they bring on products this small: [16, 256] · [256, 704] took 152 µs on 2 threads and
// 82 µs on one) and oneDNN's inner product is no better. The product is bound by reading W once
// from memory, so the kernel is built around that stream:
//  - x is transposed first into xt [K][8·V] (V = ⌈M / 8⌉, zero-padded), so one eight-lane load
//    holds eight rows' k-th value and the lanes run over rows, not over k;
//  - each thread takes a range of W's rows, NR = 12 / V at a time, and walks them along k: every
//    W value is read once, as a scalar broadcast, and multiplied into V vectors of rows
//    (12 accumulators, no horizontal sums); W is read in its stored [N, K] layout, no packed copy;
//  - the memory a fixed distance ahead is prefetched at the rate it is consumed (one line per
//    row every 16 k), so the stream from memory overlaps the arithmetic.
// On the 2-core AMD EPYC (Zen 3) VM, 16 rows, weights cycled through memory as decoding does
// (bench/few-rows-gemm.ts): 94-153 GFLOP/s on Qwen2.5-0.5B's gate/up, down and LM head against
// 32-57 for at::linear, and about 2x the previous kernel (4 x rows × 3 W rows of k-lane dot
// products) in a standalone copy of both. Each output is one thread's sum in k order:
// deterministic.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <vector>

#include "kernels/cpu_loops.h"
#include "kernels/kernels.h"
#include "kernels/few_rows_gemm.h"

namespace cn::kernels {
namespace {

using cpu::Lanes8;
using cpu::load8;

// How far ahead of the rows being multiplied W is prefetched, in floats (24 KiB): on the Zen 3
// VM 4-8 Ki floats were best on every Qwen2.5-0.5B shape, 0-2 Ki gave 10-30 % less.
constexpr int64_t kPrefetchAhead = 6144;

// W rows a step takes with V row vectors: V · NR = 12 accumulators, of AVX2's 16 registers.
template <int V>
constexpr int kWRows = 12 / V;

// y[m, n + j] = Σ_k xt[k][m] w[n + j, k] + bias[n + j] for m < M, j < NR (a range's last rows,
// fewer than a step, go one at a time: NR = 1).
template <int V, int NR>
__attribute__((always_inline)) inline void rowsOfW(const float* xt, const float* w, const float* bias, float* y, int64_t M,
                                                   int64_t K, int64_t N, int64_t n, const float* wEnd) {
  Lanes8 acc[NR][V] = {};
  const float* wr = w + n * K;
  // The prefetch walks the same span as these rows, kPrefetchAhead floats further on; near the
  // range's end it starts at its last row (it may run past it: prefetches never fault).
  const float* pf = std::min(wr + kPrefetchAhead, wEnd);
  const int64_t pfStep = pf < wEnd ? 16 : 0;
  for (int64_t k = 0; k < K; ++k) {
    if ((k & 15) == 0) {
      for (int j = 0; j < NR; ++j, pf += pfStep) __builtin_prefetch(pf);
    }
    Lanes8 u[V];
    for (int v = 0; v < V; ++v) u[v] = load8(xt + (k * V + v) * 8);
    for (int j = 0; j < NR; ++j) {
      const float s = wr[j * K + k];
      for (int v = 0; v < V; ++v) acc[j][v] += s * u[v];
    }
  }
  for (int j = 0; j < NR; ++j) {
    const float b = bias ? bias[n + j] : 0.f;
    for (int64_t m = 0; m < M; ++m) y[m * N + n + j] = acc[j][m / 8][m % 8] + b;
  }
}

// y[:, n0..n1) for every row of x.
template <int V>
CN_CPU_CLONES void fewRowsRange(const float* xt, const float* w, const float* bias, float* y, int64_t M, int64_t K, int64_t N,
                                int64_t n0, int64_t n1) {
  constexpr int NR = kWRows<V>;
  const float* wEnd = w + (n1 - 1) * K;
  int64_t n = n0;
  for (; n + NR <= n1; n += NR) rowsOfW<V, NR>(xt, w, bias, y, M, K, N, n, wEnd);
  for (; n < n1; ++n) rowsOfW<V, 1>(xt, w, bias, y, M, K, N, n, wEnd);
}

template <int V>
void fewRows(const float* x, const float* w, const float* bias, float* y, int64_t M, int64_t K, int64_t N) {
  constexpr int NR = kWRows<V>;
  // xt [K][8V]: x transposed, rows M..8V zero
  std::vector<float> xt(static_cast<size_t>(K) * 8 * V, 0.f);
  for (int64_t m = 0; m < M; ++m) {
    const float* xr = x + m * K;
    for (int64_t k = 0; k < K; ++k) xt[k * 8 * V + m] = xr[k];
  }
  // a thread's share is at least ~64k multiply-adds: below that waking a second thread costs more
  const int64_t groups = (N + NR - 1) / NR;
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(1, 8 * V * K * NR));
  at::parallel_for(0, groups, grain, [&](int64_t g0, int64_t g1) {
    fewRowsRange<V>(xt.data(), w, bias, y, M, K, N, g0 * NR, std::min(N, g1 * NR));
  });
}

}  // namespace

bool fewRowsGemmEnabled() {
  static const bool on = switchedOn("CN_FEW_ROWS_GEMM");
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
  static_assert(kFewRowsMax <= 32, "rows go in at most four eight-lane vectors");
  switch ((M + 7) / 8) {
    case 1: fewRows<1>(xp, wp, bp, yp, M, K, N); break;
    case 2: fewRows<2>(xp, wp, bp, yp, M, K, N); break;
    case 3: fewRows<3>(xp, wp, bp, yp, M, K, N); break;
    default: fewRows<4>(xp, wp, bp, yp, M, K, N); break;
  }
  return y;
}

}  // namespace cn::kernels
