// SwiGLU forward and backward kernels (see swiglu.h; swiglu_ref.cc is the math they match).
// Elementwise, 128-bit streaming loads, grid-stride loop, fp32 math.
//
// Forward:  s = round_T(silu(g));  out = round_T(s * u)
// Backward: du = round_T(dout * s);  ds = round_T(dout * u)
//           dg = round_T(ds * sig(g) * (1 + g * (1 - sig(g))))
// The round_T steps reproduce the reference's separate bf16/fp16 ops (identity in fp32).
#include "kernels/common.cuh"
#include "kernels/launch.h"

namespace cn::kernels::cuda {
namespace {

__device__ __forceinline__ float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

template <class T, int V>
__global__ void swigluForwardKernel(const T* __restrict__ gate, const T* __restrict__ up, T* __restrict__ out,
                                    int64_t chunks) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < chunks; c += stride) {
    const Vec<T, V> gv = loadStream<T, V>(gate + c * V);
    const Vec<T, V> uv = loadStream<T, V>(up + c * V);
    Vec<T, V> o;
#pragma unroll
    for (int i = 0; i < V; ++i) {
      const float g = toFloat(gv.v[i]);
      const float s = roundTo<T>(g / (1.0f + expf(-g)));
      o.v[i] = fromFloat<T>(s * toFloat(uv.v[i]));
    }
    store<T, V>(out + c * V, o);
  }
}

template <class T, int V>
__global__ void swigluBackwardKernel(const T* __restrict__ dout, const T* __restrict__ gate, const T* __restrict__ up,
                                     T* __restrict__ dgate, T* __restrict__ dup, int64_t chunks) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < chunks; c += stride) {
    const Vec<T, V> dv = loadStream<T, V>(dout + c * V);
    const Vec<T, V> gv = loadStream<T, V>(gate + c * V);
    const Vec<T, V> uv = loadStream<T, V>(up + c * V);
    Vec<T, V> dg, du;
#pragma unroll
    for (int i = 0; i < V; ++i) {
      const float d = toFloat(dv.v[i]), g = toFloat(gv.v[i]), u = toFloat(uv.v[i]);
      const float sig = sigmoidf(g);
      const float s = roundTo<T>(g / (1.0f + expf(-g)));
      du.v[i] = fromFloat<T>(d * s);
      const float ds = roundTo<T>(d * u);
      dg.v[i] = fromFloat<T>(ds * sig * (1.0f + g * (1.0f - sig)));
    }
    store<T, V>(dgate + c * V, dg);
    store<T, V>(dup + c * V, du);
  }
}

constexpr int kThreads = 256;

int blocksFor(int64_t chunks) {
  const int64_t needed = ceilDiv(chunks, kThreads);
  const int64_t cap = static_cast<int64_t>(multiprocessorCount()) * (2048 / kThreads) * 4;
  return static_cast<int>(needed < cap ? needed : cap);
}

bool allAligned(std::initializer_list<const void*> ptrs) {
  for (const void* p : ptrs) {
    if (!aligned16(p)) return false;
  }
  return true;
}

}  // namespace

void swigluForward(const at::TensorBase& gate, const at::TensorBase& up, const at::TensorBase& out) {
  TORCH_CHECK(gate.is_contiguous() && up.is_contiguous() && out.is_contiguous(), "swigluForward: contiguous tensors only");
  const int64_t n = gate.numel();
  if (n == 0) return;
  c10::cuda::CUDAGuard guard(gate.device());
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  dispatchFloating(gate.scalar_type(), "swiglu", [&](auto tag) {
    using T = decltype(tag);
    constexpr int V = kVec128<T>;
    const T* gp = static_cast<const T*>(gate.const_data_ptr());
    const T* up_ = static_cast<const T*>(up.const_data_ptr());
    T* op = static_cast<T*>(out.data_ptr());
    if (n % V == 0 && allAligned({gp, up_, op})) {
      swigluForwardKernel<T, V><<<blocksFor(n / V), kThreads, 0, stream>>>(gp, up_, op, n / V);
    } else {
      swigluForwardKernel<T, 1><<<blocksFor(n), kThreads, 0, stream>>>(gp, up_, op, n);
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

void swigluBackward(const at::TensorBase& dout, const at::TensorBase& gate, const at::TensorBase& up,
                    const at::TensorBase& dgate, const at::TensorBase& dup) {
  TORCH_CHECK(dout.is_contiguous() && gate.is_contiguous() && up.is_contiguous() && dgate.is_contiguous() &&
                  dup.is_contiguous(),
              "swigluBackward: contiguous tensors only");
  const int64_t n = gate.numel();
  if (n == 0) return;
  c10::cuda::CUDAGuard guard(gate.device());
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  dispatchFloating(gate.scalar_type(), "swiglu backward", [&](auto tag) {
    using T = decltype(tag);
    constexpr int V = kVec128<T>;
    const T* dp = static_cast<const T*>(dout.const_data_ptr());
    const T* gp = static_cast<const T*>(gate.const_data_ptr());
    const T* up_ = static_cast<const T*>(up.const_data_ptr());
    T* dgp = static_cast<T*>(dgate.data_ptr());
    T* dup_ = static_cast<T*>(dup.data_ptr());
    if (n % V == 0 && allAligned({dp, gp, up_, dgp, dup_})) {
      swigluBackwardKernel<T, V><<<blocksFor(n / V), kThreads, 0, stream>>>(dp, gp, up_, dgp, dup_, n / V);
    } else {
      swigluBackwardKernel<T, 1><<<blocksFor(n), kThreads, 0, stream>>>(dp, gp, up_, dgp, dup_, n);
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

}  // namespace cn::kernels::cuda
