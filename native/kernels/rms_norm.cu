// RMSNorm forward and backward kernels (see rms_norm.h for the op, rms_norm_ref.cc for the math
// they must match). One block per row; 128-bit loads; fp32 sums with warp shuffles.
//
// Forward:  r = rsqrt(mean(x^2) + eps);  out = w * round_T(x * r)          (r saved per row)
// Backward: gn = round_T(dout * w);  dot = sum(gn * x)
//           dx = r * gn - x * r^3 * dot / C
//           dw = sum over rows of dout * round_T(x * r)   (per-block partials, summed by the caller)
// The round_T steps reproduce the reference's storage-dtype roundings (identity in fp32).
#include "kernels/common.cuh"
#include "kernels/launch.h"

namespace cn::kernels::cuda {
namespace {

template <class T, int V>
__global__ void rmsNormForwardKernel(const T* __restrict__ x, const T* __restrict__ w, T* __restrict__ out,
                                     float* __restrict__ rstd, int64_t rows, int cols, float eps) {
  __shared__ float scratch[32];
  const int chunks = cols / V;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* xr = x + row * cols;
    float ss = 0.0f;
    for (int c = threadIdx.x; c < chunks; c += blockDim.x) {
      const Vec<T, V> xv = load<T, V>(xr + c * V);
#pragma unroll
      for (int i = 0; i < V; ++i) {
        const float f = toFloat(xv.v[i]);
        ss += f * f;
      }
    }
    ss = blockSum(ss, scratch);
    const float r = rsqrtf(ss / static_cast<float>(cols) + eps);
    if (threadIdx.x == 0) rstd[row] = r;
    T* orow = out + row * cols;
    for (int c = threadIdx.x; c < chunks; c += blockDim.x) {
      const Vec<T, V> xv = load<T, V>(xr + c * V);  // second read of the row: from L1/L2
      const Vec<T, V> wv = load<T, V>(w + c * V);
      Vec<T, V> o;
#pragma unroll
      for (int i = 0; i < V; ++i) o.v[i] = fromFloat<T>(toFloat(wv.v[i]) * roundTo<T>(toFloat(xv.v[i]) * r));
      store<T, V>(orow + c * V, o);
    }
  }
}

// dwPartial: [gridDim.x, cols] fp32, one row of partial sums per block (deterministic; the caller
// sums over blocks). Shared memory: 32 floats of scratch, then cols floats laid out [V][chunks]
// so that a warp's accumulations hit consecutive banks.
template <class T, int V, bool WithDw>
__global__ void rmsNormBackwardKernel(const T* __restrict__ dout, const T* __restrict__ x, const T* __restrict__ w,
                                      const float* __restrict__ rstd, T* __restrict__ dx,
                                      float* __restrict__ dwPartial, int64_t rows, int cols) {
  extern __shared__ float smem[];
  float* scratch = smem;
  float* acc = smem + 32;
  const int chunks = cols / V;
  if constexpr (WithDw) {
    for (int c = threadIdx.x; c < cols; c += blockDim.x) acc[c] = 0.0f;
  }
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* gr = dout + row * cols;
    const T* xr = x + row * cols;
    const float r = rstd[row];
    float dot = 0.0f;
    for (int c = threadIdx.x; c < chunks; c += blockDim.x) {
      const Vec<T, V> gv = load<T, V>(gr + c * V);
      const Vec<T, V> xv = load<T, V>(xr + c * V);
      const Vec<T, V> wv = load<T, V>(w + c * V);
#pragma unroll
      for (int i = 0; i < V; ++i) dot += roundTo<T>(toFloat(gv.v[i]) * toFloat(wv.v[i])) * toFloat(xv.v[i]);
    }
    dot = blockSum(dot, scratch);  // also orders the zeroing of acc before its first use
    const float coef = r * r * r * dot / static_cast<float>(cols);
    T* dxr = dx + row * cols;
    for (int c = threadIdx.x; c < chunks; c += blockDim.x) {
      const Vec<T, V> gv = load<T, V>(gr + c * V);
      const Vec<T, V> xv = load<T, V>(xr + c * V);
      const Vec<T, V> wv = load<T, V>(w + c * V);
      Vec<T, V> o;
#pragma unroll
      for (int i = 0; i < V; ++i) {
        const float g = toFloat(gv.v[i]), xf = toFloat(xv.v[i]);
        const float gn = roundTo<T>(g * toFloat(wv.v[i]));
        o.v[i] = fromFloat<T>(r * gn - xf * coef);
        if constexpr (WithDw) acc[i * chunks + c] += g * roundTo<T>(xf * r);
      }
      store<T, V>(dxr + c * V, o);
    }
  }
  if constexpr (WithDw) {
    __syncthreads();
    float* part = dwPartial + static_cast<int64_t>(blockIdx.x) * cols;
    for (int col = threadIdx.x; col < cols; col += blockDim.x) part[col] = acc[(col % V) * chunks + col / V];
  }
}

int threadsFor(int chunks, int maxThreads) {
  int t = static_cast<int>(ceilDiv(chunks, 32) * 32);
  return t < 32 ? 32 : (t > maxThreads ? maxThreads : t);
}

template <class T>
bool vectorizable(int cols, std::initializer_list<const void*> ptrs) {
  if (cols % kVec128<T> != 0) return false;
  for (const void* p : ptrs) {
    if (p != nullptr && !aligned16(p)) return false;
  }
  return true;
}

constexpr int kBackwardThreads = 256;

}  // namespace

void rmsNormForward(const at::TensorBase& x, const at::TensorBase& weight, double eps, const at::TensorBase& out,
                    const at::TensorBase& rstd) {
  TORCH_CHECK(x.dim() == 2 && x.is_contiguous() && out.is_contiguous() && weight.is_contiguous(),
              "rmsNormForward: x [N, C] and out must be contiguous");
  const int64_t rows = x.size(0);
  const int cols = static_cast<int>(x.size(1));
  if (rows == 0) return;
  c10::cuda::CUDAGuard guard(x.device());
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const int64_t blocks = rows < (int64_t{1} << 30) ? rows : (int64_t{1} << 30);
  dispatchFloating(x.scalar_type(), "rmsNorm", [&](auto tag) {
    using T = decltype(tag);
    const T* xp = static_cast<const T*>(x.const_data_ptr());
    const T* wp = static_cast<const T*>(weight.const_data_ptr());
    T* op = static_cast<T*>(out.data_ptr());
    float* rp = rstd.data_ptr<float>();
    if (vectorizable<T>(cols, {xp, wp, op})) {
      constexpr int V = kVec128<T>;
      rmsNormForwardKernel<T, V><<<blocks, threadsFor(cols / V, 512), 0, stream>>>(xp, wp, op, rp, rows, cols,
                                                                                  static_cast<float>(eps));
    } else {
      rmsNormForwardKernel<T, 1><<<blocks, threadsFor(cols, 512), 0, stream>>>(xp, wp, op, rp, rows, cols,
                                                                              static_cast<float>(eps));
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

int64_t rmsNormBackwardBlocks(int64_t rows) {
  const int64_t resident = static_cast<int64_t>(multiprocessorCount()) * (2048 / kBackwardThreads);
  return rows < resident ? rows : resident;
}

void rmsNormBackward(const at::TensorBase& dout, const at::TensorBase& x, const at::TensorBase& weight,
                     const at::TensorBase& rstd, const at::TensorBase& dx, const at::TensorBase& dwPartial) {
  TORCH_CHECK(x.dim() == 2 && x.is_contiguous() && dout.is_contiguous() && dx.is_contiguous() && weight.is_contiguous(),
              "rmsNormBackward: tensors must be contiguous [N, C]");
  const int64_t rows = x.size(0);
  const int cols = static_cast<int>(x.size(1));
  if (rows == 0) return;
  const bool withDw = dwPartial.defined();
  const int64_t blocks = withDw ? dwPartial.size(0) : rmsNormBackwardBlocks(rows);
  TORCH_CHECK(!withDw || (dwPartial.dim() == 2 && dwPartial.size(1) == cols && dwPartial.is_contiguous() &&
                          dwPartial.scalar_type() == c10::ScalarType::Float && blocks >= 1),
              "rmsNormBackward: dwPartial must be float32 [blocks, C]");
  c10::cuda::CUDAGuard guard(x.device());
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const size_t shared = (32 + (withDw ? static_cast<size_t>(cols) : 0)) * sizeof(float);
  dispatchFloating(x.scalar_type(), "rmsNorm backward", [&](auto tag) {
    using T = decltype(tag);
    const T* gp = static_cast<const T*>(dout.const_data_ptr());
    const T* xp = static_cast<const T*>(x.const_data_ptr());
    const T* wp = static_cast<const T*>(weight.const_data_ptr());
    const float* rp = rstd.const_data_ptr<float>();
    T* dxp = static_cast<T*>(dx.data_ptr());
    float* dwp = withDw ? dwPartial.data_ptr<float>() : nullptr;
    auto launch = [&](auto kernel, int vec) {
      if (shared > 48 * 1024) {
        C10_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared)));
      }
      kernel<<<blocks, threadsFor(cols / vec, kBackwardThreads), shared, stream>>>(gp, xp, wp, rp, dxp, dwp, rows, cols);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    };
    constexpr int V = kVec128<T>;
    const bool vec = vectorizable<T>(cols, {gp, xp, wp, dxp});
    if (withDw) {
      if (vec) launch(rmsNormBackwardKernel<T, V, true>, V);
      else launch(rmsNormBackwardKernel<T, 1, true>, 1);
    } else {
      if (vec) launch(rmsNormBackwardKernel<T, V, false>, V);
      else launch(rmsNormBackwardKernel<T, 1, false>, 1);
    }
  });
}

}  // namespace cn::kernels::cuda
