#include "core/dtype.h"

#include <map>

#include "core/errors.h"

namespace cn {

at::ScalarType parseDtype(const std::string& name) {
  static const std::map<std::string, at::ScalarType> kNames = {
      {"float32", at::kFloat},  {"f32", at::kFloat},    {"F32", at::kFloat},
      {"float64", at::kDouble}, {"f64", at::kDouble},   {"F64", at::kDouble},
      {"float16", at::kHalf},   {"f16", at::kHalf},     {"F16", at::kHalf},
      {"bfloat16", at::kBFloat16}, {"bf16", at::kBFloat16}, {"BF16", at::kBFloat16},
      {"int64", at::kLong},     {"i64", at::kLong},     {"I64", at::kLong},
      {"int32", at::kInt},      {"i32", at::kInt},      {"I32", at::kInt},
      {"int16", at::kShort},    {"I16", at::kShort},
      {"int8", at::kChar},      {"I8", at::kChar},
      {"uint8", at::kByte},     {"U8", at::kByte},
      {"bool", at::kBool},      {"BOOL", at::kBool},
  };
  auto it = kNames.find(name);
  if (it == kNames.end()) {
    fail(code::kInvalidArgument, "unknown dtype '" + name +
                                     "' (expected float32, float16, bfloat16, float64, int64, "
                                     "int32, int16, int8, uint8 or bool)",
         {{"field", "dtype"}});
  }
  return it->second;
}

std::string dtypeName(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kShort: return "int16";
    case at::kChar: return "int8";
    case at::kByte: return "uint8";
    case at::kBool: return "bool";
    default: return c10::toString(type);
  }
}

at::Device parseDevice(const std::string& name) {
  if (name == "cpu") return at::Device(at::kCPU);
  if (name.rfind("cuda", 0) == 0) {
    int index = 0;
    if (name.size() > 4) {
      if (name[4] != ':' || name.size() == 5) {
        fail(code::kInvalidArgument, "bad device '" + name + "' (expected cpu, cuda or cuda:N)",
             {{"field", "device"}});
      }
      try {
        index = std::stoi(name.substr(5));
      } catch (const std::exception&) {
        fail(code::kInvalidArgument, "bad device index in '" + name + "'", {{"field", "device"}});
      }
    }
    if (!at::hasCUDA()) {
      fail(code::kDevice,
           "device '" + name + "' was requested but CUDA is not available (this build or the "
           "libtorch it uses has no CUDA, or no GPU/driver is visible)",
           {{"field", "device"}});
    }
    // at::hasCUDA() implies the CUDA hooks are loaded.
    const int count = static_cast<int>(at::detail::getCUDAHooks().deviceCount());
    if (index < 0 || index >= count) {
      fail(code::kDevice, "device '" + name + "' does not exist (" + std::to_string(count) +
                              " CUDA device(s) visible)",
           {{"field", "device"}});
    }
    return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  fail(code::kInvalidArgument, "unknown device '" + name + "' (expected cpu, cuda or cuda:N)",
       {{"field", "device"}});
}

std::string deviceName(const at::Device& device) { return device.str(); }

}  // namespace cn
