// Pieces shared by the low-rank tuners (LoRA, MoELoRA): the A-matrix initialisation, the input
// dropout drawn from the tuner's own generator (or the seed of a hashed one), and the
// "targetModules matched nothing" error.
#pragma once
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <mutex>
#include <string>

#include "core/errors.h"
#include "models/decoder.h"

namespace cn::lowrank {

// PEFT's A init, Kaiming-uniform with a = √5: U(±1/√in). Drawn in fp32 on the CPU from `init`
// (so values do not depend on device or dtype), then moved next to `like`.
inline at::Tensor kaimingUniformA(int64_t rows, int64_t in, at::Generator& init, const at::Tensor& like) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  return at::empty({rows, in}, at::kFloat).uniform_(-bound, bound, init).to(like.device(), like.scalar_type());
}

// Inverted dropout of the tuner input while training. The keep mask is drawn on the CPU from the
// tuner's generator, so checkpoint resume and gradient-checkpoint recomputation replay it exactly.
inline at::Tensor inputDropout(const at::Tensor& x, double p, at::Generator& gen, bool training) {
  if (p <= 0 || !training) return x;
  at::Tensor keep = at::empty(x.sizes(), x.options().device(at::kCPU)).bernoulli_(1.0 - p, gen).to(x.device());
  return x * keep / (1.0 - p);
}

// One 64-bit seed from the tuner's generator (hash dropout's, on CUDA): the generator advances
// the same way on resume and on a gradient-checkpoint recomputation, so the mask replays too.
inline uint64_t drawSeed(at::Generator& gen) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  return at::check_generator<at::CPUGeneratorImpl>(gen)->random64();
}

// The ConfigError for targetModules that matched no projection, listing the suffixes there are.
[[noreturn]] inline void failNoTargets(Decoder& model, const std::string& tuner) {
  std::string names;
  for (Linear* lin : model.linears()) names += (names.empty() ? "" : ", ") + lin->name.substr(lin->name.rfind('.') + 1);
  fail(code::kConfig, tuner + " targetModules matched no module of this model (module names end in: " + names + ")",
       {{"field", "tuner.targetModules"}});
}

}  // namespace cn::lowrank
