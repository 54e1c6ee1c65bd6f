#include "kernels/gemm.h"

#include <ATen/ATen.h>
#include <ATen/Config.h>
#include <ATen/record_function.h>

#include <cstdlib>
#include <cstring>

#if AT_MKLDNN_ENABLED()
// ATen's oneDNN matmul (aten/src/ATen/native/mkldnn/Matmul.cpp): exported by libtorch_cpu but
// its header is not installed, so it is declared here, the one place that depends on it.
// result = beta · result + alpha · (mat1 · mat2); it wraps the dense tensors without copying.
namespace at::native {
TORCH_API void mkldnn_matmul(const Tensor& mat1, const Tensor& mat2, const Tensor& result, float beta, float alpha);
}  // namespace at::native
#endif

namespace cn::kernels {
namespace {

GemmBackend pickBackend() {
#if AT_MKLDNN_ENABLED()
  const char* env = std::getenv("CN_CPU_GEMM");
  if (env != nullptr && std::strcmp(env, "mkl") == 0) return GemmBackend::Aten;
  // ATen's oneDNN matmul refuses CPUs without AVX-512 (or AVX-NE-CONVERT) even for float32
  // ("mkldnn_matmul bf16 path needs ..."): ask it once on a 1x1 product and keep MKL where it
  // says no. On such CPUs MKL runs its native AVX2 path anyway.
  try {
    at::Tensor one = at::ones({1, 1}, at::kFloat);
    at::Tensor out = at::empty({1, 1}, at::kFloat);
    at::native::mkldnn_matmul(one, one, out, 0.f, 1.f);
  } catch (const std::exception&) {
    return GemmBackend::Aten;
  }
  return GemmBackend::OneDnn;
#else
  return GemmBackend::Aten;
#endif
}

bool useOneDnn(const at::Tensor& a, const at::Tensor& b) {
  return cpuGemmBackend() == GemmBackend::OneDnn && a.device().is_cpu() && a.scalar_type() == at::kFloat &&
         b.scalar_type() == at::kFloat && a.numel() > 0 && b.numel() > 0;
}

// oneDNN takes row- or column-major operands (a plain or a transposed view).
at::Tensor matrixLayout(const at::Tensor& t) {
  if ((t.stride(1) == 1 && t.stride(0) >= t.size(1)) || (t.stride(0) == 1 && t.stride(1) >= t.size(0))) return t;
  return t.contiguous();
}

}  // namespace

GemmBackend cpuGemmBackend() {
  static const GemmBackend backend = pickBackend();
  return backend;
}

std::string gemmBackendName(GemmBackend b) { return b == GemmBackend::OneDnn ? "onednn" : "aten"; }

at::Tensor gemm(const at::Tensor& a, const at::Tensor& b) {
#if AT_MKLDNN_ENABLED()
  if (useOneDnn(a, b)) {
    RECORD_FUNCTION("cn::gemm (onednn)", std::vector<c10::IValue>());
    at::Tensor out = at::empty({a.size(0), b.size(1)}, a.options());
    at::native::mkldnn_matmul(matrixLayout(a), matrixLayout(b), out, 0.f, 1.f);
    return out;
  }
#endif
  return at::mm(a, b);
}

void gemmInto(const at::Tensor& out, const at::Tensor& a, const at::Tensor& b, double beta, double alpha) {
#if AT_MKLDNN_ENABLED()
  if (useOneDnn(a, b) && out.is_contiguous() && out.scalar_type() == at::kFloat) {
    RECORD_FUNCTION("cn::gemm (onednn)", std::vector<c10::IValue>());
    at::native::mkldnn_matmul(matrixLayout(a), matrixLayout(b), out, static_cast<float>(beta), static_cast<float>(alpha));
    return;
  }
#endif
  if (a.numel() == 0 || b.numel() == 0) {
    out.mul_(beta);
    return;
  }
  at::Tensor o = out;
  o.addmm_(a, b, beta, alpha);
}

}  // namespace cn::kernels
