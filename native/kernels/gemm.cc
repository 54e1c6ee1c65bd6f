#include "kernels/gemm.h"

#include "kernels/few_rows_gemm.h"

#include <ATen/ATen.h>
#include <ATen/Config.h>
#include <ATen/core/dispatch/Dispatcher.h>
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

// oneDNN's inner product as the graph compilers call it (mkldnn::_linear_pointwise, registered
// by ATen's CPU library): y = x wᵀ + b with w [N, K] as stored. Unlike mkldnn_matmul it runs on
// AVX2-only CPUs. Reached through the dispatcher (no C++ header declares it); null if absent.
using PointwiseLinear = at::Tensor(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&, c10::string_view,
                                   c10::List<std::optional<at::Scalar>>, std::optional<c10::string_view>);

const c10::TypedOperatorHandle<PointwiseLinear>* pointwiseLinear() {
  static const c10::TypedOperatorHandle<PointwiseLinear>* op = []() -> const c10::TypedOperatorHandle<PointwiseLinear>* {
    auto handle = c10::Dispatcher::singleton().findSchema({"mkldnn::_linear_pointwise", ""});
    if (!handle.has_value()) return nullptr;
    return new c10::TypedOperatorHandle<PointwiseLinear>(handle->typed<PointwiseLinear>());
  }();
  return op;
}

at::Tensor callPointwiseLinear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias) {
  return pointwiseLinear()->call(x, w, bias.defined() ? std::optional<at::Tensor>(bias) : std::nullopt, "none",
                                 c10::List<std::optional<at::Scalar>>(), std::nullopt);
}

bool oneDnnMatmulWorks() {
#if AT_MKLDNN_ENABLED()
  try {
    at::Tensor one = at::ones({1, 1}, at::kFloat);
    at::Tensor out = at::empty({1, 1}, at::kFloat);
    at::native::mkldnn_matmul(one, one, out, 0.f, 1.f);
    return true;
  } catch (const std::exception&) {
  }
#endif
  return false;
}

bool pointwiseLinearWorks() {
  if (pointwiseLinear() == nullptr) return false;
  try {
    at::Tensor one = at::ones({1, 1}, at::kFloat);
    return callPointwiseLinear(one, one, at::Tensor()).item<float>() == 1.f;
  } catch (const std::exception&) {
    return false;
  }
}

GemmBackend pickBackend() {
#if AT_MKLDNN_ENABLED()
  const char* env = std::getenv("CN_CPU_GEMM");
  if (env != nullptr && std::strcmp(env, "mkl") == 0) return GemmBackend::Aten;
  // ATen's oneDNN matmul refuses CPUs without AVX-512 (or AVX-NE-CONVERT) even for float32
  // ("mkldnn_matmul bf16 path needs ..."): ask it once on a 1x1 product. Where it says no, MKL
  // runs its native AVX2 path, and oneDNN's inner product takes the shapes MKL is slow at.
  if (oneDnnMatmulWorks()) return GemmBackend::OneDnn;
  return pointwiseLinearWorks() ? GemmBackend::Mixed : GemmBackend::Aten;
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

std::string gemmBackendName(GemmBackend b) {
  switch (b) {
    case GemmBackend::OneDnn: return "onednn";
    case GemmBackend::Mixed: return "mixed";
    case GemmBackend::Aten: break;
  }
  return "aten";
}

// Where MKL's AVX2 path loses to oneDNN's inner product (2 threads, AMD EPYC Zen 3, float32;
// docs/benchmarks.md): wide outputs (LM heads, N ≥ 8192: 1.3-3x) and decoding-sized row counts
// over large weights (M ≤ 64, K·N ≥ 1.5M: 1.6-2.3x). Elsewhere MKL is as fast or faster.
bool pointwiseWins(int64_t m, int64_t k, int64_t n) { return n >= 8192 || (m <= 64 && k * n >= 1500000); }

at::Tensor linearProduct(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias) {
  if (fewRowsGemmApplies(x, w, bias)) return fewRowsGemm(x, w, bias);
  if (cpuGemmBackend() == GemmBackend::Mixed && x.device().is_cpu() && x.scalar_type() == at::kFloat && w.scalar_type() == at::kFloat &&
      w.is_contiguous() && x.numel() > 0 && (!bias.defined() || bias.scalar_type() == at::kFloat) &&
      pointwiseWins(x.size(0), x.size(1), w.size(0))) {
    RECORD_FUNCTION("cn::gemm (onednn inner product)", std::vector<c10::IValue>());
    return callPointwiseLinear(x.contiguous(), w, bias);
  }
  if (!bias.defined()) return gemm(x, w.t());
  // A fresh buffer: bias.expand(...).contiguous() would be the bias itself for one row.
  at::Tensor y = at::empty({x.size(0), w.size(0)}, x.options());
  y.copy_(bias.expand({x.size(0), w.size(0)}));
  gemmInto(y, x, w.t(), 1.0, 1.0);
  return y;
}

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
