#include "kernels/linear.h"

#include <ATen/ATen.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/custom_function.h>

#include "kernels/gemm.h"
#include "kernels/hash_dropout.h"
#include "kernels/low_rank.h"

namespace cn::kernels {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// custom Functions take defined tensors only: an empty one stands for "none"
at::Tensor orEmpty(const at::Tensor& t, const at::Tensor& like) { return t.defined() ? t : at::empty({0}, like.options()); }
bool present(const at::Tensor& t) { return t.defined() && t.numel() > 0; }

at::Tensor rows(const at::Tensor& t) { return t.reshape({-1, t.size(-1)}); }

// y [N, out] = x Wᵀ (+ b)
at::Tensor baseProduct(const at::Tensor& x2, const at::Tensor& weight, const at::Tensor& bias) {
  return linearProduct(x2, weight, present(bias) ? bias : at::Tensor());
}

std::vector<int64_t> outShape(const at::Tensor& x, int64_t out) {
  std::vector<int64_t> s(x.sizes().begin(), x.sizes().end());
  s.back() = out;
  return s;
}

struct LinearFunction : public torch::autograd::Function<LinearFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
    at::Tensor x2 = rows(x);
    ctx->save_for_backward({x2, weight});
    ctx->saved_data["shape"] = x.sizes();
    return baseProduct(x2, weight, bias).view(outShape(x, weight.size(0)));
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor& x2 = saved[0];
    const at::Tensor& weight = saved[1];
    at::Tensor g = rows(grads[0]).contiguous();
    at::Tensor dx, dw, db;
    if (ctx->needs_input_grad(0)) dx = gemm(g, weight).view(ctx->saved_data["shape"].toIntVector());
    if (ctx->needs_input_grad(1)) dw = gemm(g.t(), x2);
    if (ctx->needs_input_grad(2)) db = g.sum(0);
    return {dx, dw, db};
  }
};

struct LoraLinearFunction : public torch::autograd::Function<LoraLinearFunction> {
  // h empty: the low-rank branch reads x, or hashDropout(x, seed, p) when p > 0 (made here and
  // again in the backward, never saved).
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& h, const at::Tensor& weight,
                            const at::Tensor& bias, const at::Tensor& a, const at::Tensor& b, double scaling, double p, int64_t seed) {
    RECORD_FUNCTION("cn::loraLinear", std::vector<c10::IValue>());
    at::Tensor x2 = rows(x);
    at::Tensor h2 = present(h) ? rows(h) : p > 0 ? hashDropped(x2, static_cast<uint64_t>(seed), p) : x2;
    at::Tensor y = baseProduct(x2, weight, bias);
    const bool fused = lowRankCpuSupports(a);
    at::Tensor down = fused ? lowRankDownCpu(h2, a) : gemm(h2, a.t());  // [N, r]
    if (fused && y.is_contiguous()) {
      lowRankUpAddCpu(y, down, b.t(), scaling);
    } else {
      gemmInto(y, down, b.t(), 1.0, scaling);
    }
    ctx->save_for_backward({x2, present(h) ? h2 : at::empty({0}, x.options()), weight, a, b, down});
    ctx->saved_data["shape"] = x.sizes();
    ctx->saved_data["scaling"] = scaling;
    ctx->saved_data["p"] = present(h) ? 0.0 : p;
    ctx->saved_data["seed"] = seed;
    return y.view(outShape(x, weight.size(0)));
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor& x2 = saved[0];
    const bool separateH = present(saved[1]);
    const double p = ctx->saved_data["p"].toDouble();
    const int64_t seed = ctx->saved_data["seed"].toInt();
    const at::Tensor &weight = saved[2], &a = saved[3], &b = saved[4], &down = saved[5];
    const double s = ctx->saved_data["scaling"].toDouble();
    const auto shape = ctx->saved_data["shape"].toIntVector();
    at::Tensor g = rows(grads[0]).contiguous();
    at::Tensor dx, dh, dw, db, da, dbB;
    const bool wantLow = ctx->needs_input_grad(4) || ctx->needs_input_grad(5) || ctx->needs_input_grad(0) || ctx->needs_input_grad(1);
    at::Tensor dDown;
    const bool fused = lowRankCpuSupports(a);
    if (fused) {
      lowRankGradOutputCpu(g, b, down, s, wantLow ? &dDown : nullptr, ctx->needs_input_grad(5) ? &dbB : nullptr);
    } else {
      if (wantLow) {
        dDown = at::empty({g.size(0), a.size(0)}, g.options());
        gemmInto(dDown, g, b, 0.0, s);  // s · g B   [N, r]
      }
      if (ctx->needs_input_grad(5)) {
        dbB = at::empty(b.sizes(), b.options());
        gemmInto(dbB, g.t(), down, 0.0, s);  // s · gᵀ (h Aᵀ)
      }
    }
    if (ctx->needs_input_grad(4)) {
      const at::Tensor h2 = separateH ? saved[1] : p > 0 ? hashDropped(x2, static_cast<uint64_t>(seed), p) : x2;
      da = fused ? lowRankGradACpu(dDown, h2) : gemm(dDown.t(), h2);
    }
    if (ctx->needs_input_grad(0)) {
      dx = gemm(g, weight);
      if (!separateH && p > 0) {
        hashDropoutInto(dx, gemm(dDown, a), static_cast<uint64_t>(seed), p, /*accumulate=*/true);  // + mask ⊙ (s g B) A / (1 − p)
      } else if (!separateH) {
        if (fused && dx.is_contiguous()) lowRankUpAddCpu(dx, dDown, a, 1.0);  // + (s g B) A
        else gemmInto(dx, dDown, a, 1.0, 1.0);
      }
      dx = dx.view(shape);
    }
    if (separateH && ctx->needs_input_grad(1)) dh = gemm(dDown, a).view(shape);
    if (ctx->needs_input_grad(2)) dw = gemm(g.t(), x2);
    if (ctx->needs_input_grad(3)) db = g.sum(0);
    return {dx, dh, dw, db, da, dbB, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// Auto: the Functions when oneDNN runs some products (with MKL alone at::linear is as fast); Cpu: the
// Functions for any float32 CPU input (their products then go to ATen), else an error.
bool fastPath(Impl impl, const at::Tensor& x, const at::Tensor& weight) {
  if (impl == Impl::Reference || impl == Impl::Cuda) return false;
  std::string problem;
  if (!x.device().is_cpu() || !weight.device().is_cpu()) problem = "CPU tensors only";
  else if (x.scalar_type() != at::kFloat || weight.scalar_type() != at::kFloat) problem = "float32 only";
  else if (x.dim() < 1 || x.numel() == 0) problem = "x must be non-empty";
  if (impl == Impl::Cpu) return chooseCpu(impl, "linear", x, problem);
  return problem.empty() && cpuGemmBackend() != GemmBackend::Aten;
}

// CUDA: the same Function (its products are then cuBLAS GEMMs through at::mm/addmm_): the
// low-rank update accumulates into the base product's output (beta = 1) and (s g B) A into dx,
// where the ATen composition writes a fresh [N, out] sum and adds dx's two halves in another pass.
bool cudaPath(Impl impl, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& a, const at::Tensor& b) {
  if (impl == Impl::Reference || impl == Impl::Cpu) return false;
  std::string problem = kernelInputProblem(x, "x", at::Tensor());
  for (const auto& [t, name] : {std::pair{&weight, "weight"}, {&a, "a"}, {&b, "b"}}) {
    if (problem.empty()) problem = kernelInputProblem(*t, name, x);
  }
  if (problem.empty() && (x.dim() < 1 || x.numel() == 0)) problem = "x must be non-empty";
  return chooseCuda(impl, "loraLinear", x, x.defined() && x.is_cuda() ? problem : "");
}

}  // namespace

at::Tensor linearReference(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  return at::linear(x, weight, bias.defined() ? c10::optional<at::Tensor>(bias) : c10::nullopt);
}

at::Tensor loraLinearReference(const at::Tensor& x, const at::Tensor& h, const at::Tensor& weight, const at::Tensor& bias,
                               const at::Tensor& a, const at::Tensor& b, double scaling) {
  at::Tensor base = linearReference(x, weight, bias);
  at::Tensor down = at::linear(h.defined() ? h : x, a);
  const int64_t out = base.size(-1);
  return at::addmm(base.reshape({-1, out}), down.reshape({-1, down.size(-1)}), b.t(), 1.0, scaling).view(base.sizes());
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, Impl impl) {
  if (!fastPath(impl, x, weight)) return linearReference(x, weight, bias);
  return LinearFunction::apply(x, weight, orEmpty(bias, weight));
}

at::Tensor loraLinear(const at::Tensor& x, const at::Tensor& h, const at::Tensor& weight, const at::Tensor& bias,
                      const at::Tensor& a, const at::Tensor& b, double scaling, Impl impl) {
  const bool sameInput = !h.defined() || h.is_same(x);
  const bool cpuFunction = fastPath(impl, x, weight) && a.scalar_type() == at::kFloat && b.scalar_type() == at::kFloat;
  if (!cudaPath(impl, x, weight, a, b) && !cpuFunction) return loraLinearReference(x, h, weight, bias, a, b, scaling);
  return LoraLinearFunction::apply(x, sameInput ? at::empty({0}, x.options()) : h, weight, orEmpty(bias, weight), a, b, scaling, 0.0, int64_t{0});
}

at::Tensor loraLinearHashDropout(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, const at::Tensor& a, const at::Tensor& b,
                                 double scaling, double p, uint64_t seed, Impl impl) {
  if (p <= 0) return loraLinear(x, at::Tensor(), weight, bias, a, b, scaling, impl);
  if (impl == Impl::Reference) return loraLinearReference(x, hashDropout(x, seed, p, Impl::Reference), weight, bias, a, b, scaling);
  // the Function on any device and dtype: on CUDA its products are cuBLAS, on CPU ATen's or ours
  (void)cudaPath(impl, x, weight, a, b);  // Impl::Cuda: the typed error when the inputs do not fit
  return LoraLinearFunction::apply(x, at::empty({0}, x.options()), weight, orEmpty(bias, weight), a, b, scaling, p, static_cast<int64_t>(seed));
}

}  // namespace cn::kernels
