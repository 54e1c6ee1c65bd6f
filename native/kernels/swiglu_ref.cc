// Reference SwiGLU: the op sequence of native/models/decoder.cc's MLP (and HF's LlamaMLP).
#include <ATen/ATen.h>

#include "kernels/swiglu.h"

namespace cn::kernels {

at::Tensor swigluReference(const at::Tensor& gate, const at::Tensor& up) { return at::silu(gate) * up; }

}  // namespace cn::kernels
