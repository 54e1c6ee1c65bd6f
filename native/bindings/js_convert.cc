#include "bindings/js_convert.h"

#include <cmath>

#include "core/errors.h"
#include "core/tensor.h"

namespace cn {

std::vector<int64_t> toInt64s(const Napi::Value& value, const std::string& what) {
  std::vector<int64_t> out;
  if (value.IsTypedArray()) {
    Napi::TypedArray ta = value.As<Napi::TypedArray>();
    switch (ta.TypedArrayType()) {
      case napi_int32_array: {
        auto a = value.As<Napi::Int32Array>();
        out.assign(a.Data(), a.Data() + a.ElementLength());
        return out;
      }
      case napi_bigint64_array: {
        auto a = value.As<Napi::TypedArrayOf<int64_t>>();
        out.assign(a.Data(), a.Data() + a.ElementLength());
        return out;
      }
      case napi_uint32_array: {
        auto a = value.As<Napi::Uint32Array>();
        out.assign(a.Data(), a.Data() + a.ElementLength());
        return out;
      }
      default: break;
    }
  } else if (value.IsArray()) {
    Napi::Array arr = value.As<Napi::Array>();
    out.reserve(arr.Length());
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      Napi::Value v = arr.Get(i);
      double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
      if (!(d == std::floor(d))) fail(code::kInvalidArgument, what + "[" + std::to_string(i) + "] is not an integer", {{"field", what}});
      out.push_back(static_cast<int64_t>(d));
    }
    return out;
  }
  fail(code::kInvalidArgument, what + " must be an array of integers, an Int32Array or a BigInt64Array", {{"field", what}});
}

std::map<std::string, at::Tensor> toTensorMap(const Napi::Value& value, const std::string& what) {
  if (!value.IsObject()) fail(code::kInvalidArgument, what + " must be an object of tensors", {{"field", what}});
  Napi::Object obj = value.As<Napi::Object>();
  Napi::Array keys = obj.GetPropertyNames();
  std::map<std::string, at::Tensor> out;
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    const std::string k = keys.Get(i).ToString().Utf8Value();
    out[k] = Tensor::unwrap(obj.Get(k), (what + "." + k).c_str());
  }
  return out;
}

Napi::Object fromNamedTensors(Napi::Env env, const std::vector<NamedTensor>& tensors) {
  Napi::Object out = Napi::Object::New(env);
  for (const auto& t : tensors) out.Set(t.name, Tensor::wrap(env, t.tensor));
  return out;
}

}  // namespace cn
