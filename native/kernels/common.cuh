// Device helpers shared by the CUDA kernels (native/kernels/*.cu): dtype mapping, 128-bit
// vector access, rounding to a storage dtype, warp/block reductions, launch checks.
// Only CUDA and light c10 headers here: every .cu includes this, and nvcc time adds up.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <ATen/core/TensorBase.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <cstdint>

namespace cn::kernels::cuda {

// ---- storage types ------------------------------------------------------------------------------
__device__ __forceinline__ float toFloat(float v) { return v; }
__device__ __forceinline__ float toFloat(__half v) { return __half2float(v); }
__device__ __forceinline__ float toFloat(__nv_bfloat16 v) { return __bfloat162float(v); }

template <class T>
__device__ __forceinline__ T fromFloat(float v);
template <>
__device__ __forceinline__ float fromFloat<float>(float v) { return v; }
template <>
__device__ __forceinline__ __half fromFloat<__half>(float v) { return __float2half_rn(v); }
template <>
__device__ __forceinline__ __nv_bfloat16 fromFloat<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// The value an fp32 result has once stored in T (round to nearest even, as c10 does). Kernels
// use it to reproduce the roundings the reference's separate ATen ops make in bf16/fp16.
template <class T>
__device__ __forceinline__ float roundTo(float v) { return toFloat(fromFloat<T>(v)); }

// ---- 128-bit vectors ----------------------------------------------------------------------------
// N elements of T loaded/stored as one access; N = 16 / sizeof(T) gives 128-bit ld/st.global.
template <class T, int N>
struct alignas(sizeof(T) * N) Vec {
  T v[N];
};

template <class T>
inline constexpr int kVec128 = 16 / static_cast<int>(sizeof(T));

// Loads and stores go through int4 when the vector is 16 bytes, so the compiler emits one
// ld/st.global.v4 instead of splitting a struct copy into per-element accesses (checked in the
// PTX: scripts/check-cuda-build.sh --ptx).
template <class T, int N>
__device__ __forceinline__ Vec<T, N> load(const T* p) {
  Vec<T, N> out;
  if constexpr (sizeof(Vec<T, N>) == 16) {
    const int4 raw = *reinterpret_cast<const int4*>(p);
    memcpy(&out, &raw, 16);
  } else {
    out = *reinterpret_cast<const Vec<T, N>*>(p);
  }
  return out;
}
// Streaming load for data read once (evict-first).
template <class T, int N>
__device__ __forceinline__ Vec<T, N> loadStream(const T* p) {
  Vec<T, N> out;
  if constexpr (sizeof(Vec<T, N>) == 16) {
    const int4 raw = __ldcs(reinterpret_cast<const int4*>(p));
    memcpy(&out, &raw, 16);
  } else {
    out = *reinterpret_cast<const Vec<T, N>*>(p);
  }
  return out;
}
template <class T, int N>
__device__ __forceinline__ void store(T* p, const Vec<T, N>& v) {
  if constexpr (sizeof(Vec<T, N>) == 16) {
    // Through the intrinsic: a plain int4 store into a row at a run-time offset was split into
    // four 32-bit stores by nvcc 13 (its alignment inference ignored the int4 type).
    int4 raw;
    memcpy(&raw, &v, 16);
    __stwb(reinterpret_cast<int4*>(p), raw);
  } else {
    *reinterpret_cast<Vec<T, N>*>(p) = v;
  }
}

// ---- reductions (fp32) --------------------------------------------------------------------------
__device__ __forceinline__ float warpSum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Sum over the block; every thread gets the total. `scratch` holds >= 32 floats of shared memory.
// blockDim.x must be a multiple of 32.
__device__ __forceinline__ float blockSum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warpSum(v);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : 0.0f;
  return warpSum(v);
}

// ---- host side ----------------------------------------------------------------------------------
// Calls `f(T{})` with T the device storage type of `type` (float, __half, __nv_bfloat16).
template <class F>
void dispatchFloating(c10::ScalarType type, const char* op, F&& f) {
  switch (type) {
    case c10::ScalarType::Float: f(float{}); break;
    case c10::ScalarType::Half: f(__half{}); break;
    case c10::ScalarType::BFloat16: f(__nv_bfloat16{}); break;
    default: TORCH_CHECK(false, op, ": CUDA kernel supports float32, float16 and bfloat16, got ", type);
  }
}

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// Multiprocessor count of the current device (cached per device; races only rewrite the same value).
inline int multiprocessorCount() {
  static int cache[64] = {};
  int device = 0;
  C10_CUDA_CHECK(cudaGetDevice(&device));
  if (device < 64 && cache[device] != 0) return cache[device];
  int n = 0;
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
  if (device < 64) cache[device] = n;
  return n;
}

inline int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace cn::kernels::cuda
