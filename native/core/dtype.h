// Names of dtypes and devices at the JS boundary ("float32", "bfloat16", "cpu", "cuda:0").
#pragma once
#include <ATen/ATen.h>

#include <string>

namespace cn {

at::ScalarType parseDtype(const std::string& name);
std::string dtypeName(at::ScalarType type);

// Throws ERR_DEVICE when CUDA is asked for but absent or the index is out of range:
// never a silent CPU fallback.
at::Device parseDevice(const std::string& name);
std::string deviceName(const at::Device& device);

}  // namespace cn
