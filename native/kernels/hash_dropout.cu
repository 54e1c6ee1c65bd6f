// Hash dropout's CUDA kernel (hash_dropout.h; the mask is hash_dropout_mask.h's, the reference
// hash_dropout_ref.cc): out = in · keep(seed, i) · scale, or out += that. Elementwise, 128-bit
// loads and stores where both tensors allow, grid-stride loop, fp32 math, one rounding.
#include <algorithm>

#include "kernels/common.cuh"
#include "kernels/hash_dropout_mask.h"
#include "kernels/launch.h"

namespace cn::kernels::cuda {
namespace {

constexpr int kThreads = 256;

template <class T, int V, bool Accumulate>
__global__ void __launch_bounds__(kThreads) hashDropoutKernel(const T* __restrict__ in, T* __restrict__ out, int64_t chunks,
                                                              uint64_t seed, uint32_t threshold, float scale) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < chunks; c += stride) {
    const Vec<T, V> iv = loadStream<T, V>(in + c * V);
    Vec<T, V> o;
    if constexpr (Accumulate) o = load<T, V>(out + c * V);
#pragma unroll
    for (int i = 0; i < V; ++i) {
      const float d = hashKeep(seed, static_cast<uint64_t>(c * V + i), threshold) ? toFloat(iv.v[i]) * scale : 0.0f;
      o.v[i] = Accumulate ? fromFloat<T>(toFloat(o.v[i]) + d) : fromFloat<T>(d);
    }
    store<T, V>(out + c * V, o);
  }
}

template <class T, int V>
void launch(const T* in, T* out, int64_t n, uint64_t seed, uint32_t threshold, float scale, bool accumulate, cudaStream_t stream) {
  const int64_t chunks = n / V;
  const int grid = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(ceilDiv(chunks, kThreads), 8LL * multiprocessorCount())));
  if (accumulate) hashDropoutKernel<T, V, true><<<grid, kThreads, 0, stream>>>(in, out, chunks, seed, threshold, scale);
  else hashDropoutKernel<T, V, false><<<grid, kThreads, 0, stream>>>(in, out, chunks, seed, threshold, scale);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace

void hashDropoutApply(const at::TensorBase& in, uint64_t seed, float scale, uint32_t threshold, const at::TensorBase& out, bool accumulate) {
  TORCH_CHECK(in.is_cuda() && out.is_cuda() && in.is_contiguous() && out.is_contiguous() && in.numel() == out.numel() &&
                  in.scalar_type() == out.scalar_type(),
              "hashDropoutApply: in and out must be contiguous CUDA tensors of one size and dtype");
  const int64_t n = in.numel();
  if (n == 0) return;
  const c10::cuda::CUDAGuard guard(in.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  dispatchFloating(in.scalar_type(), "hashDropoutApply", [&](auto tag) {
    using T = decltype(tag);
    const auto* src = static_cast<const T*>(in.const_data_ptr());
    auto* dst = static_cast<T*>(out.data_ptr());
    constexpr int V = kVec128<T>;
    if (n % V == 0 && aligned16(src) && aligned16(dst)) launch<T, V>(src, dst, n, seed, threshold, scale, accumulate, stream);
    else launch<T, 1>(src, dst, n, seed, threshold, scale, accumulate, stream);
  });
}

}  // namespace cn::kernels::cuda
