// LoRA's skinny products on CPU float32 (kernels/low_rank.h). Each loop keeps a block of rows'
// r-wide vectors in registers (R is a compile-time rank, so the k loops unroll into whole vector
// operations) and walks the long dimension once. Reductions over rows (dB, dA) are summed per
// thread and then across threads.
#include "kernels/low_rank.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/cpu_loops.h"

namespace cn::kernels {
namespace {

// A rank-R row is NV vectors of W floats (GCC vector extensions: whole vector operations in every
// clone, 256-bit where the CPU has AVX2; an auto-vectorised loop left these scalar).
template <int R>
struct Lanes {
  static constexpr int W = R < 8 ? R : 8;
  static constexpr int NV = R / W;
  typedef float V __attribute__((vector_size(W * sizeof(float))));
  // the same vector at any float's address: unaligned loads and stores that may alias floats
  typedef float U __attribute__((vector_size(W * sizeof(float)), aligned(alignof(float)), may_alias));
};

template <int R>
using Vec = typename Lanes<R>::V;

template <int R>
inline void load(Vec<R> (&v)[Lanes<R>::NV], const float* p) {
  using U = typename Lanes<R>::U;
  for (int i = 0; i < Lanes<R>::NV; ++i) v[i] = reinterpret_cast<const U*>(p)[i];
}

template <int R>
inline void store(float* p, const Vec<R> (&v)[Lanes<R>::NV]) {
  using U = typename Lanes<R>::U;
  for (int i = 0; i < Lanes<R>::NV; ++i) reinterpret_cast<U*>(p)[i] = v[i];
}

// Rows per block: as many r-wide accumulators as fit in 16 vector registers with room to spare.
template <int R>
constexpr int rowsPerBlock() {
  return R <= 8 ? 4 : (R <= 16 ? 2 : 1);
}

// down[n, :] = Σ_i h[n, i] · aT[i, :]   (aT [in, R] = Aᵀ)
template <int R, int RB>
inline void downBlock(const float* __restrict h, int64_t in, const float* __restrict aT, float* __restrict down, int64_t n) {
  constexpr int NV = Lanes<R>::NV;
  Vec<R> acc[RB][NV] = {};
  for (int64_t i = 0; i < in; ++i) {
    Vec<R> a[NV];
    load<R>(a, aT + i * R);
    for (int j = 0; j < RB; ++j) {
      const float hv = h[(n + j) * in + i];
      for (int v = 0; v < NV; ++v) acc[j][v] += hv * a[v];
    }
  }
  for (int j = 0; j < RB; ++j) store<R>(down + (n + j) * R, acc[j]);
}

// dDown[n, :] = s Σ_o g[n, o] · b[o, :]  and  dB[o, :] += Σ_n g[n, o] · down[n, :]
template <int R, int RB>
inline void gradOutputBlock(const float* __restrict g, int64_t out, const float* __restrict b, const float* __restrict down, float s,
                            float* __restrict dDown, float* __restrict dB, int64_t n) {
  constexpr int NV = Lanes<R>::NV;
  Vec<R> d[RB][NV];
  Vec<R> u[RB][NV] = {};
  for (int j = 0; j < RB; ++j) load<R>(d[j], down + (n + j) * R);
  for (int64_t o = 0; o < out; ++o) {
    Vec<R> bo[NV], acc[NV];
    load<R>(bo, b + o * R);
    load<R>(acc, dB + o * R);
    for (int j = 0; j < RB; ++j) {
      const float gv = g[(n + j) * out + o];
      for (int v = 0; v < NV; ++v) {
        u[j][v] += gv * bo[v];
        acc[v] += gv * d[j][v];
      }
    }
    store<R>(dB + o * R, acc);
  }
  for (int j = 0; j < RB; ++j) {
    for (int v = 0; v < NV; ++v) u[j][v] *= s;
    store<R>(dDown + (n + j) * R, u[j]);
  }
}

// daT[i, :] += Σ_n h[n, i] · dDown[n, :]
template <int R, int RB>
inline void gradABlock(const float* __restrict dDown, const float* __restrict h, int64_t in, float* __restrict daT, int64_t n) {
  constexpr int NV = Lanes<R>::NV;
  Vec<R> d[RB][NV];
  for (int j = 0; j < RB; ++j) load<R>(d[j], dDown + (n + j) * R);
  for (int64_t i = 0; i < in; ++i) {
    Vec<R> acc[NV];
    load<R>(acc, daT + i * R);
    for (int j = 0; j < RB; ++j) {
      const float hv = h[(n + j) * in + i];
      for (int v = 0; v < NV; ++v) acc[v] += hv * d[j][v];
    }
    store<R>(daT + i * R, acc);
  }
}

// y[n, :] += s Σ_k d[n, k] · w[k, :]   (w [R, M]: the up factor laid out by rows)
// The RB rows' R scaled coefficients stay in registers; each 8-column chunk of w is loaded once
// for the block. (RB rows: 2 up to rank 8, else 1: the coefficients fill the registers.)
template <int R, int RB>
inline void upAddBlock(float* __restrict y, int64_t M, const float* __restrict d, const float* __restrict w, float s, int64_t n) {
  float c[RB][R];
  for (int j = 0; j < RB; ++j) {
    for (int k = 0; k < R; ++k) c[j][k] = s * d[(n + j) * R + k];
  }
  int64_t m = 0;
  for (; m + 8 <= M; m += 8) {
    cpu::Lanes8 acc[RB];
    for (int j = 0; j < RB; ++j) acc[j] = cpu::load8(y + (n + j) * M + m);
    for (int k = 0; k < R; ++k) {
      const cpu::Lanes8 wk = cpu::load8(w + k * M + m);
      for (int j = 0; j < RB; ++j) acc[j] += c[j][k] * wk;
    }
    for (int j = 0; j < RB; ++j) *reinterpret_cast<cpu::Lanes8At*>(y + (n + j) * M + m) = acc[j];
  }
  for (; m < M; ++m) {
    for (int j = 0; j < RB; ++j) {
      float t = y[(n + j) * M + m];
      for (int k = 0; k < R; ++k) t += c[j][k] * w[k * M + m];
      y[(n + j) * M + m] = t;
    }
  }
}

// Rows [n0, n1) in blocks of RB (rowsPerBlock<R>() unless given), then one at a time: op(rows, n) with rows a
// compile-time constant (std::integral_constant), so each block size is its own unrolled loop.
template <int R, int RB = rowsPerBlock<R>(), typename Op>
inline void overRows(int64_t n0, int64_t n1, Op op) {
  int64_t n = n0;
  for (; n + RB <= n1; n += RB) op(std::integral_constant<int, RB>{}, n);
  for (; n < n1; ++n) op(std::integral_constant<int, 1>{}, n);
}

// The ranks with a kernel; lowRankCpuSupports() asks the same list.
constexpr bool fusedRank(int64_t r) { return r == 4 || r == 8 || r == 16 || r == 32 || r == 64; }

// One clone set per entry point; the switch on the rank sits inside so each clone inlines its
// own vector width. Callers check fusedRank() first.
#define CN_RANK_SWITCH(r, CALL) \
  switch (r) {                  \
    case 4: CALL(4); break;     \
    case 8: CALL(8); break;     \
    case 16: CALL(16); break;   \
    case 32: CALL(32); break;   \
    case 64: CALL(64); break;   \
    default: break;             \
  }

CN_CPU_CLONES void downRange(int64_t r, const float* h, int64_t in, const float* aT, float* down, int64_t n0, int64_t n1) {
#define CN_CALL(R) overRows<R>(n0, n1, [&](auto rows, int64_t n) { downBlock<R, decltype(rows)::value>(h, in, aT, down, n); })
  CN_RANK_SWITCH(r, CN_CALL)
#undef CN_CALL
}

CN_CPU_CLONES void gradOutputRange(int64_t r, const float* g, int64_t out, const float* b, const float* down, float s, float* dDown,
                                   float* dB, int64_t n0, int64_t n1) {
#define CN_CALL(R) \
  overRows<R>(n0, n1, [&](auto rows, int64_t n) { gradOutputBlock<R, decltype(rows)::value>(g, out, b, down, s, dDown, dB, n); })
  CN_RANK_SWITCH(r, CN_CALL)
#undef CN_CALL
}

CN_CPU_CLONES void gradARange(int64_t r, const float* dDown, const float* h, int64_t in, float* daT, int64_t n0, int64_t n1) {
#define CN_CALL(R) overRows<R>(n0, n1, [&](auto rows, int64_t n) { gradABlock<R, decltype(rows)::value>(dDown, h, in, daT, n); })
  CN_RANK_SWITCH(r, CN_CALL)
#undef CN_CALL
}

CN_CPU_CLONES void upAddRange(int64_t r, float* y, int64_t M, const float* d, const float* w, float s, int64_t n0, int64_t n1) {
#define CN_CALL(R) \
  overRows<R, (R <= 8 ? 2 : 1)>(n0, n1, [&](auto rows, int64_t n) { upAddBlock<R, decltype(rows)::value>(y, M, d, w, s, n); })
  CN_RANK_SWITCH(r, CN_CALL)
#undef CN_CALL
}

#undef CN_RANK_SWITCH

// Rows per task: enough work per thread that the fork is worth it.
int64_t rowGrain(int64_t longSide) { return std::max<int64_t>(8, 65536 / std::max<int64_t>(1, longSide)); }

// Per-thread partial sums of a [size] reduction over rows, then their total.
struct Partials {
  explicit Partials(int64_t size) : size(size), data(static_cast<size_t>(at::get_num_threads() * size), 0.f) {}
  float* mine() { return data.data() + at::get_thread_num() * size; }
  void sumInto(float* out, float scale) const {
    const int64_t parts = static_cast<int64_t>(data.size()) / size;
    for (int64_t e = 0; e < size; ++e) {
      float t = 0.f;
      for (int64_t p = 0; p < parts; ++p) t += data[p * size + e];
      out[e] = scale * t;
    }
  }
  int64_t size;
  std::vector<float> data;
};

bool switchedOff() {
  static const bool off = [] {
    const char* env = std::getenv("CN_CPU_LOW_RANK");
    return env != nullptr && std::strcmp(env, "aten") == 0;
  }();
  return off;
}

}  // namespace

bool lowRankCpuSupports(const at::Tensor& a) {
  if (switchedOff() || !a.defined() || a.dim() != 2 || !a.device().is_cpu() || a.scalar_type() != at::kFloat) return false;
  return fusedRank(a.size(0));
}

at::Tensor lowRankDownCpu(const at::Tensor& h, const at::Tensor& a) {
  const at::Tensor hc = h.contiguous();
  const at::Tensor aT = a.t().contiguous();  // [in, r]
  const int64_t N = hc.size(0), in = hc.size(1), r = a.size(0);
  at::Tensor down = at::empty({N, r}, hc.options());
  const float *hp = hc.const_data_ptr<float>(), *ap = aT.const_data_ptr<float>();
  float* dp = down.mutable_data_ptr<float>();
  at::parallel_for(0, N, rowGrain(in), [&](int64_t n0, int64_t n1) { downRange(r, hp, in, ap, dp, n0, n1); });
  return down;
}

void lowRankGradOutputCpu(const at::Tensor& g, const at::Tensor& b, const at::Tensor& down, double scaling, at::Tensor* dDown,
                          at::Tensor* dB) {
  const at::Tensor gc = g.contiguous(), bc = b.contiguous(), dc = down.contiguous();
  const int64_t N = gc.size(0), out = gc.size(1), r = bc.size(1);
  const float s = static_cast<float>(scaling);
  // Both come out of the same pass; one not asked for costs a few registers, not a pass.
  at::Tensor dd = at::empty({N, r}, gc.options());
  Partials partial(out * r);
  const float *gp = gc.const_data_ptr<float>(), *bp = bc.const_data_ptr<float>(), *dp = dc.const_data_ptr<float>();
  float* ddp = dd.mutable_data_ptr<float>();
  at::parallel_for(0, N, rowGrain(out), [&](int64_t n0, int64_t n1) { gradOutputRange(r, gp, out, bp, dp, s, ddp, partial.mine(), n0, n1); });
  if (dDown != nullptr) *dDown = dd;
  if (dB != nullptr) {
    *dB = at::empty({out, r}, gc.options());
    partial.sumInto(dB->mutable_data_ptr<float>(), s);
  }
}

void lowRankUpAddCpu(const at::Tensor& y, const at::Tensor& d, const at::Tensor& w, double scaling) {
  TORCH_CHECK(y.is_contiguous() && y.dim() == 2, "lowRankUpAddCpu: y must be a contiguous [N, M] tensor");
  const at::Tensor dc = d.contiguous(), wc = w.contiguous();
  const int64_t N = y.size(0), M = y.size(1), r = dc.size(1);
  const float *dp = dc.const_data_ptr<float>(), *wp = wc.const_data_ptr<float>();
  float* yp = y.mutable_data_ptr<float>();
  const float s = static_cast<float>(scaling);
  at::parallel_for(0, N, rowGrain(M), [&](int64_t n0, int64_t n1) { upAddRange(r, yp, M, dp, wp, s, n0, n1); });
}

at::Tensor lowRankGradACpu(const at::Tensor& dDown, const at::Tensor& h) {
  const at::Tensor dc = dDown.contiguous(), hc = h.contiguous();
  const int64_t N = hc.size(0), in = hc.size(1), r = dc.size(1);
  Partials partial(in * r);
  const float *dp = dc.const_data_ptr<float>(), *hp = hc.const_data_ptr<float>();
  at::parallel_for(0, N, rowGrain(in), [&](int64_t n0, int64_t n1) { gradARange(r, dp, hp, in, partial.mine(), n0, n1); });
  at::Tensor daT = at::empty({in, r}, hc.options());
  partial.sumInto(daT.mutable_data_ptr<float>(), 1.f);
  return daT.t().contiguous();
}

}  // namespace cn::kernels
