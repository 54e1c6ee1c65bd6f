// The row kernels of the chunked LM head + loss (linear_cross_entropy.h; its ATen path in
// linear_cross_entropy.cc is the math they must match). The head's products stay cuBLAS GEMMs;
// what these replace is everything between them, which in ATen ops is five passes over a chunk's
// [rows × vocab] logits plus a float32 copy of them:
//   forward:  one read of the logits (storage dtype) → per row lse = log Σ e^l and the row's loss
//             lse − l[target] (0 where the target is −100), float32;
//   backward: one read and one write, in place: d = (e^(l − lse) − [v = target]) · g, rounded once
//             to the storage dtype (as the ATen path's final .to(h's dtype)); rows without a
//             target get 0. g is read from device memory (no host sync for the loss's gradient).
// One block per row (grid-stride), 128-bit loads where the row allows, fp32 online max/sum.
#include <algorithm>
#include <cmath>

#include "kernels/common.cuh"
#include "kernels/launch.h"

namespace cn::kernels::cuda {
namespace {

constexpr int kThreads = 512;
constexpr int64_t kIgnore = -100;

// (max, Σ e^(x − max)) pairs combine associatively; an empty side has max −inf and sum 0.
__device__ __forceinline__ void combine(float& m, float& s, float m2, float s2) {
  const float mx = fmaxf(m, m2);
  if (mx == -INFINITY) return;  // both empty
  s = s * expf(m - mx) + s2 * expf(m2 - mx);
  m = mx;
}

__device__ __forceinline__ void blockMaxSum(float& m, float& s, float* scratch) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    const float m2 = __shfl_xor_sync(0xffffffffu, m, offset), s2 = __shfl_xor_sync(0xffffffffu, s, offset);
    combine(m, s, m2, s2);
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  __syncthreads();  // scratch may still be read by the previous row
  if (lane == 0) {
    scratch[2 * warp] = m;
    scratch[2 * warp + 1] = s;
  }
  __syncthreads();
  m = lane < warps ? scratch[2 * lane] : -INFINITY;
  s = lane < warps ? scratch[2 * lane + 1] : 0.0f;
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    const float m2 = __shfl_xor_sync(0xffffffffu, m, offset), s2 = __shfl_xor_sync(0xffffffffu, s, offset);
    combine(m, s, m2, s2);
  }
}

template <class T, int V>
__global__ void __launch_bounds__(kThreads) ceRowsForwardKernel(const T* __restrict__ logits, const int64_t* __restrict__ targets,
                                                                float* __restrict__ lse, float* __restrict__ rowLoss,
                                                                int64_t rows, int64_t vocab) {
  __shared__ float scratch[64];
  const int64_t chunks = vocab / V;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* lr = logits + row * vocab;
    float m = -INFINITY, s = 0.0f;
    for (int64_t c = threadIdx.x; c < chunks; c += blockDim.x) {
      const Vec<T, V> lv = loadStream<T, V>(lr + c * V);
      float vm = toFloat(lv.v[0]);
#pragma unroll
      for (int i = 1; i < V; ++i) vm = fmaxf(vm, toFloat(lv.v[i]));
      float vs = 0.0f;
#pragma unroll
      for (int i = 0; i < V; ++i) vs += expf(toFloat(lv.v[i]) - vm);
      combine(m, s, vm, vs);
    }
    blockMaxSum(m, s, scratch);
    if (threadIdx.x == 0) {
      const float l = m + logf(s);
      const int64_t t = targets[row];
      lse[row] = l;
      rowLoss[row] = t == kIgnore ? 0.0f : l - toFloat(lr[t]);
    }
  }
}

template <class T, int V>
__global__ void __launch_bounds__(kThreads) ceRowsBackwardKernel(T* __restrict__ logits, const int64_t* __restrict__ targets,
                                                                 const float* __restrict__ lse, const float* __restrict__ gradOut,
                                                                 int64_t rows, int64_t vocab) {
  const int64_t chunks = vocab / V;
  const float g = *gradOut;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    T* lr = logits + row * vocab;
    const int64_t t = targets[row];
    const float l = lse[row];
    const float scale = t == kIgnore ? 0.0f : g;
    for (int64_t c = threadIdx.x; c < chunks; c += blockDim.x) {
      const Vec<T, V> lv = loadStream<T, V>(lr + c * V);
      Vec<T, V> d;
#pragma unroll
      for (int i = 0; i < V; ++i) {
        const int64_t v = c * V + i;
        const float p = expf(toFloat(lv.v[i]) - l) - (v == t ? 1.0f : 0.0f);
        d.v[i] = fromFloat<T>(p * scale);
      }
      store<T, V>(lr + c * V, d);
    }
  }
}

int gridFor(int64_t rows) { return static_cast<int>(std::min<int64_t>(rows, 8LL * multiprocessorCount())); }

template <class T>
bool vectorizable(const at::TensorBase& logits) {
  return logits.size(1) % kVec128<T> == 0 && aligned16(logits.data_ptr());
}

void checkRows(const at::TensorBase& logits, const at::TensorBase& targets, const at::TensorBase& lse) {
  TORCH_CHECK(logits.is_cuda() && logits.dim() == 2 && logits.is_contiguous(), "ceRows: logits must be contiguous [rows, vocab] on CUDA");
  TORCH_CHECK(targets.scalar_type() == c10::ScalarType::Long && targets.is_contiguous() && targets.numel() == logits.size(0),
              "ceRows: targets must be contiguous int64 [rows]");
  TORCH_CHECK(lse.scalar_type() == c10::ScalarType::Float && lse.is_contiguous() && lse.numel() == logits.size(0),
              "ceRows: lse must be contiguous float32 [rows]");
}

}  // namespace

void ceRowsForward(const at::TensorBase& logits, const at::TensorBase& targets, const at::TensorBase& lse, const at::TensorBase& rowLoss) {
  checkRows(logits, targets, lse);
  TORCH_CHECK(rowLoss.scalar_type() == c10::ScalarType::Float && rowLoss.is_contiguous() && rowLoss.numel() == logits.size(0),
              "ceRowsForward: rowLoss must be contiguous float32 [rows]");
  const int64_t rows = logits.size(0), vocab = logits.size(1);
  if (rows == 0) return;
  const c10::cuda::CUDAGuard guard(logits.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  dispatchFloating(logits.scalar_type(), "ceRowsForward", [&](auto tag) {
    using T = decltype(tag);
    const auto* l = static_cast<const T*>(logits.const_data_ptr());
    const auto* t = targets.const_data_ptr<int64_t>();
    if (vectorizable<T>(logits)) {
      ceRowsForwardKernel<T, kVec128<T>><<<gridFor(rows), kThreads, 0, stream>>>(l, t, lse.data_ptr<float>(), rowLoss.data_ptr<float>(), rows, vocab);
    } else {
      ceRowsForwardKernel<T, 1><<<gridFor(rows), kThreads, 0, stream>>>(l, t, lse.data_ptr<float>(), rowLoss.data_ptr<float>(), rows, vocab);
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

void ceRowsBackward(const at::TensorBase& logits, const at::TensorBase& targets, const at::TensorBase& lse, const at::TensorBase& gradOut) {
  checkRows(logits, targets, lse);
  TORCH_CHECK(gradOut.scalar_type() == c10::ScalarType::Float && gradOut.numel() == 1 && gradOut.is_cuda(),
              "ceRowsBackward: gradOut must be one float32 value on CUDA");
  const int64_t rows = logits.size(0), vocab = logits.size(1);
  if (rows == 0) return;
  const c10::cuda::CUDAGuard guard(logits.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  dispatchFloating(logits.scalar_type(), "ceRowsBackward", [&](auto tag) {
    using T = decltype(tag);
    auto* l = static_cast<T*>(logits.data_ptr());
    const auto* t = targets.const_data_ptr<int64_t>();
    const auto* g = gradOut.const_data_ptr<float>();
    if (vectorizable<T>(logits)) {
      ceRowsBackwardKernel<T, kVec128<T>><<<gridFor(rows), kThreads, 0, stream>>>(l, t, lse.const_data_ptr<float>(), g, rows, vocab);
    } else {
      ceRowsBackwardKernel<T, 1><<<gridFor(rows), kThreads, 0, stream>>>(l, t, lse.const_data_ptr<float>(), g, rows, vocab);
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

}  // namespace cn::kernels::cuda
