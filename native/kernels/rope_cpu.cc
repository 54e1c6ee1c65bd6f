// RoPE on CPU float32 in one pass, reading x through its strides (the decoder's q/k are
// transposed views) and writing a contiguous [B, H, S, D] result (what attention reads best):
//   y[j] = x[j] cos[j] − x[j+D/2] sin[j]        (j < D/2)
//   y[j] = x[j] cos[j] + x[j−D/2] sin[j]        (j ≥ D/2)
// Backward is the transpose: dx[j] = dy[j] cos[j] + dy[j+D/2] sin[j+D/2] (j < D/2),
//                            dx[j] = dy[j] cos[j] − dy[j−D/2] sin[j−D/2] (j ≥ D/2).
#include <ATen/ATen.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/custom_function.h>

#include "kernels/cpu_loops.h"
#include "kernels/rope.h"

namespace cn::kernels {
namespace {

// One [D] row: out = in·cos + sign·rotate(in)·sin (forward: sign +1 with rotate_half; the
// backward passes transpose = true).
CN_CPU_CLONES void rotateRow(const float* in, const float* c, const float* s, float* out, int64_t D, bool transpose) {
  const int64_t h = D / 2;
  if (!transpose) {
    for (int64_t j = 0; j < h; ++j) out[j] = in[j] * c[j] - in[j + h] * s[j];
    for (int64_t j = h; j < D; ++j) out[j] = in[j] * c[j] + in[j - h] * s[j];
  } else {
    for (int64_t j = 0; j < h; ++j) out[j] = in[j] * c[j] + in[j + h] * s[j + h];
    for (int64_t j = h; j < D; ++j) out[j] = in[j] * c[j] - in[j - h] * s[j - h];
  }
}

// x [B, H, S, D] with x.stride(3) == 1; cos/sin [B or 1, 1, S, D] contiguous.
at::Tensor run(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, bool transpose) {
  const int64_t B = x.size(0), H = x.size(1), S = x.size(2), D = x.size(3);
  at::Tensor out = at::empty({B, H, S, D}, x.options());
  const float* xp = x.const_data_ptr<float>();
  const float *cp = cos.const_data_ptr<float>(), *sp = sin.const_data_ptr<float>();
  float* op = out.mutable_data_ptr<float>();
  const int64_t sb = x.stride(0), sh = x.stride(1), ss = x.stride(2);
  const int64_t cb = cos.size(0) == 1 ? 0 : S * D;
  at::parallel_for(0, B * H * S, 256, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / (H * S), hh = (i / S) % H, t = i % S;
      rotateRow(xp + b * sb + hh * sh + t * ss, cp + b * cb + t * D, sp + b * cb + t * D, op + i * D, D, transpose);
    }
  });
  return out;
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct RopeCpuFunction : public torch::autograd::Function<RopeCpuFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
    RECORD_FUNCTION("cn::rope", std::vector<c10::IValue>());  // forward kernels show in CN_PROFILE tables
    at::Tensor xs = x.stride(3) == 1 ? x : x.contiguous();
    at::Tensor c = cos.contiguous(), s = sin.contiguous();
    ctx->save_for_backward({c, s});
    return run(xs, c, s, false);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    at::Tensor dy = grads[0].to(at::kFloat);
    if (dy.stride(3) != 1) dy = dy.contiguous();
    return {run(dy, saved[0], saved[1], true), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

std::string ropeCpuProblem(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  if (!x.defined() || !cos.defined() || !sin.defined()) return "x, cos and sin must be defined";
  if (!x.device().is_cpu() || !cos.device().is_cpu() || !sin.device().is_cpu()) return "CPU tensors only";
  if (x.scalar_type() != at::kFloat || cos.scalar_type() != at::kFloat || sin.scalar_type() != at::kFloat) return "float32 only";
  if (x.dim() != 4 || x.size(3) % 2 != 0) return "x must be [B, H, S, D] with D even";
  for (const at::Tensor* t : {&cos, &sin}) {
    if (t->dim() != 4 || t->size(1) != 1 || t->size(2) != x.size(2) || t->size(3) != x.size(3) || (t->size(0) != 1 && t->size(0) != x.size(0))) {
      return "cos and sin must be [B or 1, 1, S, D]";
    }
    if (at::GradMode::is_enabled() && t->requires_grad()) return "cos/sin require grad (the kernel gives no grad for them)";
  }
  return {};
}

at::Tensor ropeCpu(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) { return RopeCpuFunction::apply(x, cos, sin); }

}  // namespace cn::kernels
