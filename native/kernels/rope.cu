// RoPE forward and backward kernels (see rope.h; rope_ref.cc is the math they match).
// One work item = V consecutive pairs (i, i + D/2) of one (b, h, s) row: 128-bit loads of x's
// two halves and of cos/sin at the same offsets. Strided x/cos/sin/out (last dim contiguous),
// so the decoder's transposed q/k views and broadcast cos/sin need no copies.
//
// Forward:  o1 = round(round(x1 c1) - round(x2 s1));  o2 = round(round(x2 c2) + round(x1 s2))
// Backward: d1 = round(round(g1 c1) + round(g2 s2));  d2 = round(round(g2 c2) - round(g1 s1))
// (1 = first half, 2 = second half; round = to the storage dtype, identity in fp32), the same
// roundings as the reference's separate ATen ops.
#include "kernels/common.cuh"
#include "kernels/launch.h"

namespace cn::kernels::cuda {
namespace {

struct Strides3 {
  int64_t b, h, s;  // element strides of dims 0..2 (dim 3 has stride 1)
};

Strides3 stridesOf(const at::TensorBase& t) { return {t.stride(0), t.stride(1), t.stride(2)}; }

template <class T, int V, bool Backward>
__global__ void ropeKernel(const T* __restrict__ x, const T* __restrict__ cos, const T* __restrict__ sin,
                           T* __restrict__ out, Strides3 xs, Strides3 cs, Strides3 ss, Strides3 os, int64_t heads,
                           int64_t seq, int half, int64_t items) {
  const int chunks = half / V;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < items; idx += stride) {
    const int64_t row = idx / chunks;
    const int col = static_cast<int>(idx - row * chunks) * V;
    const int64_t s = row % seq, bh = row / seq, h = bh % heads, b = bh / heads;
    const T* xp = x + b * xs.b + h * xs.h + s * xs.s + col;
    const T* cp = cos + b * cs.b + h * cs.h + s * cs.s + col;
    const T* sp = sin + b * ss.b + h * ss.h + s * ss.s + col;
    T* op = out + b * os.b + h * os.h + s * os.s + col;
    const Vec<T, V> x1 = load<T, V>(xp), x2 = load<T, V>(xp + half);
    const Vec<T, V> c1 = load<T, V>(cp), c2 = load<T, V>(cp + half);
    const Vec<T, V> s1 = load<T, V>(sp), s2 = load<T, V>(sp + half);
    Vec<T, V> o1, o2;
#pragma unroll
    for (int i = 0; i < V; ++i) {
      const float a = toFloat(x1.v[i]), z = toFloat(x2.v[i]);
      const float ac = roundTo<T>(a * toFloat(c1.v[i])), zc = roundTo<T>(z * toFloat(c2.v[i]));
      if constexpr (Backward) {
        o1.v[i] = fromFloat<T>(ac + roundTo<T>(z * toFloat(s2.v[i])));
        o2.v[i] = fromFloat<T>(zc - roundTo<T>(a * toFloat(s1.v[i])));
      } else {
        o1.v[i] = fromFloat<T>(ac - roundTo<T>(z * toFloat(s1.v[i])));
        o2.v[i] = fromFloat<T>(zc + roundTo<T>(a * toFloat(s2.v[i])));
      }
    }
    store<T, V>(op, o1);
    store<T, V>(op + half, o2);
  }
}

constexpr int kThreads = 256;

template <class T>
bool vectorizable(int half, std::initializer_list<const at::TensorBase*> tensors) {
  constexpr int V = kVec128<T>;
  if (half % V != 0) return false;
  for (const at::TensorBase* t : tensors) {
    if (!aligned16(t->const_data_ptr())) return false;
    for (int d = 0; d < 3; ++d) {
      if (t->stride(d) % V != 0) return false;
    }
  }
  return true;
}

template <bool Backward>
void launch(const at::TensorBase& x, const at::TensorBase& cos, const at::TensorBase& sin, const at::TensorBase& out,
            const char* op) {
  TORCH_CHECK(x.dim() == 4 && cos.dim() == 4 && sin.dim() == 4 && out.dim() == 4, op, ": 4-D tensors only");
  TORCH_CHECK(x.sizes() == cos.sizes() && x.sizes() == sin.sizes() && x.sizes() == out.sizes(), op,
              ": cos/sin must be expanded to x's shape");
  TORCH_CHECK(x.size(3) % 2 == 0, op, ": the last dimension must be even");
  TORCH_CHECK(x.stride(3) == 1 && cos.stride(3) == 1 && sin.stride(3) == 1 && out.stride(3) == 1, op,
              ": the last dimension must be contiguous");
  const int64_t heads = x.size(1), seq = x.size(2);
  const int half = static_cast<int>(x.size(3) / 2);
  const int64_t rows = x.size(0) * heads * seq;
  if (rows == 0 || half == 0) return;
  c10::cuda::CUDAGuard guard(x.device());
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const int64_t cap = static_cast<int64_t>(multiprocessorCount()) * (2048 / kThreads) * 4;
  dispatchFloating(x.scalar_type(), op, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = static_cast<const T*>(x.const_data_ptr());
    const T* cp = static_cast<const T*>(cos.const_data_ptr());
    const T* sp = static_cast<const T*>(sin.const_data_ptr());
    T* opp = static_cast<T*>(out.data_ptr());
    auto run = [&](auto kernel, int vec) {
      const int64_t items = rows * (half / vec);
      const int64_t needed = ceilDiv(items, kThreads);
      const int blocks = static_cast<int>(needed < cap ? needed : cap);
      kernel<<<blocks, kThreads, 0, stream>>>(xp, cp, sp, opp, stridesOf(x), stridesOf(cos), stridesOf(sin),
                                              stridesOf(out), heads, seq, half, items);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    };
    constexpr int V = kVec128<T>;
    if (vectorizable<T>(half, {&x, &cos, &sin, &out})) run(ropeKernel<T, V, Backward>, V);
    else run(ropeKernel<T, 1, Backward>, 1);
  });
}

}  // namespace

void ropeForward(const at::TensorBase& x, const at::TensorBase& cos, const at::TensorBase& sin, const at::TensorBase& out) {
  launch<false>(x, cos, sin, out, "rope");
}

void ropeBackward(const at::TensorBase& dout, const at::TensorBase& cos, const at::TensorBase& sin, const at::TensorBase& dx) {
  launch<true>(dout, cos, sin, dx, "rope backward");
}

}  // namespace cn::kernels::cuda
