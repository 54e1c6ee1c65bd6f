// The dropout every tuner applies while training (LoRA's and MoELoRA's input, AdaLoRA's, the
// adapters' bottleneck, P-Tuning's encoder), drawn from the tuner's own generator so that
// checkpoint resume and gradient-checkpoint recomputation replay it exactly:
//   CPU:  the keep mask drawn element by element from the generator (bernoulli);
//   CUDA: hash dropout (kernels/hash_dropout.h) under one 64-bit seed drawn from the generator:
//         no x-sized mask drawn on the host and copied over, none saved for the backward.
#pragma once
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <mutex>

#include "kernels/hash_dropout.h"

namespace cn {

// One 64-bit seed from a tuner's generator (a hash dropout's).
inline uint64_t drawDropoutSeed(at::Generator& gen) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  return at::check_generator<at::CPUGeneratorImpl>(gen)->random64();
}

// Inverted dropout: x · keep / (1 − p) while training, x otherwise.
inline at::Tensor tunerDropout(const at::Tensor& x, double p, at::Generator& gen, bool training) {
  if (p <= 0 || !training) return x;
  if (x.is_cuda()) return kernels::hashDropout(x, drawDropoutSeed(gen), p);
  at::Tensor keep = at::empty(x.sizes(), x.options().device(at::kCPU)).bernoulli_(1.0 - p, gen).to(x.device());
  return x * keep / (1.0 - p);
}

}  // namespace cn
