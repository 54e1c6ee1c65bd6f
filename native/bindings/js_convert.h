// Conversions of JS values used by several bindings: integer sequences (number[] or typed
// arrays) and named tensor maps.
#pragma once
#include <napi.h>

#include <ATen/ATen.h>

#include <map>
#include <string>
#include <vector>

#include "tuners/tuner.h"

namespace cn {

// A number[] / Int32Array / BigInt64Array as int64s; `what` names it in errors.
std::vector<int64_t> toInt64s(const Napi::Value& value, const std::string& what);
// Record<string, Tensor> → name → tensor.
std::map<std::string, at::Tensor> toTensorMap(const Napi::Value& value, const std::string& what);
// name → tensor → Record<string, Tensor> (new JS Tensor objects).
Napi::Object fromNamedTensors(Napi::Env env, const std::vector<NamedTensor>& tensors);

}  // namespace cn
