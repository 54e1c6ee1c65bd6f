// Hash dropout's dispatch and autograd Function (hash_dropout.h); the CUDA kernel is in
// hash_dropout.cu, the reference in hash_dropout_ref.cc.
#include "kernels/hash_dropout.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include "core/errors.h"
#include "kernels/hash_dropout_mask.h"
#ifdef CN_WITH_CUDA
#include "kernels/launch.h"
#endif

namespace cn::kernels {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

void checkP(double p) {
  if (!(p >= 0.0 && p < 1.0)) fail(code::kInvalidArgument, "hashDropout: p must be in [0, 1), got " + std::to_string(p), {{"field", "p"}});
}

bool useCuda(Impl impl, const at::Tensor& in, const at::Tensor& out) {
  if (impl == Impl::Cpu) fail(code::kInvalidArgument, "hashDropout has no CPU kernel (on CPU it is the reference: impl 'auto')", {{"field", "impl"}});
  std::string problem = kernelInputProblem(in, "x", at::Tensor());
  if (problem.empty() && out.defined()) problem = kernelInputProblem(out, "out", in);
  return impl != Impl::Reference && chooseCuda(impl, "hashDropout", in, in.defined() && in.is_cuda() ? problem : "");
}

struct HashDropoutFunction : public torch::autograd::Function<HashDropoutFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, int64_t seed, double p) {
    ctx->saved_data["seed"] = seed;
    ctx->saved_data["p"] = p;
    return hashDropped(x, static_cast<uint64_t>(seed), p, Impl::Cuda);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    // the same mask on the gradient
    return {hashDropped(grads[0], static_cast<uint64_t>(ctx->saved_data["seed"].toInt()), ctx->saved_data["p"].toDouble(), Impl::Cuda),
            at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor hashDropout(const at::Tensor& x, uint64_t seed, double p, Impl impl) {
  checkP(p);
  if (p == 0.0) return x;
  if (useCuda(impl, x, at::Tensor())) return HashDropoutFunction::apply(x, static_cast<int64_t>(seed), p);
  return hashDropoutReference(x, seed, p);
}

void hashDropoutInto(const at::Tensor& out, const at::Tensor& in, uint64_t seed, double p, bool accumulate, Impl impl) {
  checkP(p);
  if (out.sizes() != in.sizes()) fail(code::kInvalidArgument, "hashDropoutInto: out and in must have one shape", {{"field", "out"}});
#ifdef CN_WITH_CUDA
  if (useCuda(impl, in, out)) {
    // the kernel writes contiguous rows: a strided `out` goes through a contiguous copy
    const at::Tensor target = out.is_contiguous() ? out : accumulate ? out.contiguous() : at::empty(out.sizes(), out.options());
    cuda::hashDropoutApply(in.contiguous(), seed, static_cast<float>(1.0 / (1.0 - p)), hashDropThreshold(p), target, accumulate);
    if (!target.is_same(out)) out.copy_(target);
    return;
  }
#else
  (void)useCuda(impl, in, out);
#endif
  at::Tensor d = hashDropoutReference(in.contiguous(), seed, p);
  if (accumulate) out.add_(d);
  else out.copy_(d);
}

at::Tensor hashDropped(const at::Tensor& in, uint64_t seed, double p, Impl impl) {
  at::Tensor out = at::empty(in.sizes(), in.options());
  hashDropoutInto(out, in, seed, p, /*accumulate=*/false, impl);
  return out;
}

}  // namespace cn::kernels
