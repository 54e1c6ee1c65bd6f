// The chunked LM head + loss (kernels/linear_cross_entropy.h), one chunk of rows at a time, in
// one autograd node. The head's products are ATen matmuls everywhere; between them, on CUDA, the
// row kernels of linear_cross_entropy.cu (one pass over a chunk's logits each way, no float32
// copy), elsewhere ATen ops (the plain path, also what those kernels are tested against).
#include "kernels/linear_cross_entropy.h"

#include <ATen/ATen.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>

#include "core/errors.h"
#include "kernels/cross_entropy.h"
#include "kernels/kernels.h"
#ifdef CN_WITH_CUDA
#include "kernels/launch.h"
#endif

namespace cn::kernels {
namespace {

constexpr int64_t kIgnore = -100;
constexpr int64_t kChunkBytes = int64_t{32} << 20;
// With the row kernels a chunk's logits stay in h's dtype and nothing else of that size is made;
// larger chunks keep the head's GEMMs well shaped for the tensor cores (M = rows).
constexpr int64_t kKernelChunkBytes = int64_t{256} << 20;

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct LinearCrossEntropyFunction : public torch::autograd::Function<LinearCrossEntropyFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& h, const at::Tensor& weight, const at::Tensor& targets, int64_t chunk,
                            bool kernels) {
    RECORD_FUNCTION("cn::linearCrossEntropy", std::vector<c10::IValue>());
    const int64_t N = h.size(0);
    at::Tensor lse = at::empty({N}, h.options().dtype(at::kFloat));
    at::Tensor total = at::zeros({}, h.options().dtype(at::kFloat));
#ifdef CN_WITH_CUDA
    at::Tensor rowLoss = kernels ? at::empty({N}, h.options().dtype(at::kFloat)) : at::Tensor();
#endif
    for (int64_t r0 = 0; r0 < N; r0 += chunk) {
      const int64_t n = std::min(chunk, N - r0);
      at::Tensor t = targets.narrow(0, r0, n);
#ifdef CN_WITH_CUDA
      if (kernels) {
        cuda::ceRowsForward(at::matmul(h.narrow(0, r0, n), weight.t()), t, lse.narrow(0, r0, n), rowLoss.narrow(0, r0, n));
        continue;
      }
#endif
      at::Tensor logits = at::matmul(h.narrow(0, r0, n), weight.t()).to(at::kFloat);  // [n, V]
      at::Tensor valid = t.ne(kIgnore);
      at::Tensor rowLse = logits.logsumexp(1);
      lse.narrow(0, r0, n).copy_(rowLse);
      at::Tensor picked = logits.gather(1, t.clamp_min(0).unsqueeze(1)).squeeze(1);
      total.add_(((rowLse - picked) * valid).sum());
    }
#ifdef CN_WITH_CUDA
    if (kernels) total = rowLoss.sum();
#endif
    ctx->save_for_backward({h, weight, targets, lse});
    ctx->saved_data["chunk"] = chunk;
    ctx->saved_data["kernels"] = kernels;
    return total;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    RECORD_FUNCTION("cn::linearCrossEntropy backward", std::vector<c10::IValue>());
    auto saved = ctx->get_saved_variables();
    const at::Tensor &h = saved[0], &weight = saved[1], &targets = saved[2], &lse = saved[3];
    const int64_t chunk = ctx->saved_data["chunk"].toInt(), N = h.size(0);
    const bool kernels = ctx->saved_data["kernels"].toBool();
    const at::Tensor g = grads[0].to(at::kFloat);
    const bool wantH = ctx->needs_input_grad(0), wantW = ctx->needs_input_grad(1);
    at::Tensor dh = wantH ? at::empty_like(h) : at::Tensor();
    at::Tensor dw = wantW ? at::zeros(weight.sizes(), weight.options().dtype(at::kFloat)) : at::Tensor();
    for (int64_t r0 = 0; r0 < N; r0 += chunk) {
      const int64_t n = std::min(chunk, N - r0);
      at::Tensor hc = h.narrow(0, r0, n);
      at::Tensor t = targets.narrow(0, r0, n);
      at::Tensor dl;
#ifdef CN_WITH_CUDA
      if (kernels) {
        dl = at::matmul(hc, weight.t());
        cuda::ceRowsBackward(dl, t, lse.narrow(0, r0, n), g);  // the logits become their gradient, in place
      }
#endif
      if (!dl.defined()) {
        at::Tensor valid = t.ne(kIgnore).to(at::kFloat).unsqueeze(1);  // [n, 1]
        // d/dlogits = (softmax − one-hot) · grad on rows with a target, 0 elsewhere
        at::Tensor d = at::matmul(hc, weight.t()).to(at::kFloat).sub_(lse.narrow(0, r0, n).unsqueeze(1)).exp_();
        d.scatter_add_(1, t.clamp_min(0).unsqueeze(1), -valid);
        d.mul_(valid * g);
        dl = d.to(h.scalar_type());
      }
      if (wantH) dh.narrow(0, r0, n).copy_(at::matmul(dl, weight));
      if (wantW) dw.add_(at::matmul(dl.t(), hc).to(at::kFloat));
    }
    return {dh, wantW ? dw.to(weight.scalar_type()) : at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

int64_t linearCrossEntropyChunkRows(int64_t vocab) { return std::max<int64_t>(1, kChunkBytes / (4 * std::max<int64_t>(1, vocab))); }

int64_t linearCrossEntropyKernelChunkRows(int64_t vocab, int64_t elementBytes) {
  const int64_t rows = kKernelChunkBytes / (std::max<int64_t>(1, elementBytes) * std::max<int64_t>(1, vocab));
  return rows >= 128 ? rows / 64 * 64 : std::max<int64_t>(1, rows);  // whole tiles of M where it can
}

at::Tensor linearCrossEntropySum(const at::Tensor& h, const at::Tensor& weight, const at::Tensor& targets, int64_t chunkRows, Impl impl) {
  if (!h.defined() || !weight.defined() || h.dim() != 2 || weight.dim() != 2 || h.size(1) != weight.size(1)) {
    fail(code::kInvalidArgument, "linearCrossEntropy: h must be [N, K] and weight [V, K]", {{"field", "h"}});
  }
  if (!targets.defined() || targets.dim() != 1 || targets.size(0) != h.size(0) || targets.is_floating_point()) {
    fail(code::kInvalidArgument, "linearCrossEntropy: targets must be [N] integer token ids", {{"field", "targets"}});
  }
  const at::Tensor t = targets.to(at::kLong);
  checkCrossEntropyTargets(t, weight.size(0));
  if (impl == Impl::Cpu) {
    fail(code::kInvalidArgument, "linearCrossEntropy has no CPU kernel (on CPU it is ATen ops: impl 'auto')", {{"field", "impl"}});
  }
  std::string problem = kernelInputProblem(h, "h", at::Tensor());
  if (problem.empty()) problem = kernelInputProblem(weight, "weight", h);
  const bool kernels = impl != Impl::Reference && chooseCuda(impl, "linearCrossEntropy", h, h.is_cuda() ? problem : "");
  const int64_t chunk = chunkRows > 0                ? chunkRows
                        : kernels ? linearCrossEntropyKernelChunkRows(weight.size(0), h.element_size())
                                  : linearCrossEntropyChunkRows(weight.size(0));
  return LinearCrossEntropyFunction::apply(h, weight, t, chunk, kernels);
}

}  // namespace cn::kernels
