// Pieces shared by the low-rank tuners (LoRA, MoELoRA): the A-matrix initialisation and the
// "targetModules matched nothing" error (their dropout is tuners/dropout.h's).
#pragma once
#include <ATen/ATen.h>

#include <cmath>
#include <string>

#include "core/errors.h"
#include "models/decoder.h"
#include "tuners/dropout.h"

namespace cn::lowrank {

// PEFT's A init, Kaiming-uniform with a = √5: U(±1/√in). Drawn in fp32 on the CPU from `init`
// (so values do not depend on device or dtype), then moved next to `like`.
inline at::Tensor kaimingUniformA(int64_t rows, int64_t in, at::Generator& init, const at::Tensor& like) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  return at::empty({rows, in}, at::kFloat).uniform_(-bound, bound, init).to(like.device(), like.scalar_type());
}

// The ConfigError for targetModules that matched no projection, listing the suffixes there are.
[[noreturn]] inline void failNoTargets(Decoder& model, const std::string& tuner) {
  std::string names;
  for (Linear* lin : model.linears()) names += (names.empty() ? "" : ", ") + lin->name.substr(lin->name.rfind('.') + 1);
  fail(code::kConfig, tuner + " targetModules matched no module of this model (module names end in: " + names + ")",
       {{"field", "tuner.targetModules"}});
}

}  // namespace cn::lowrank
