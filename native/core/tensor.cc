#include "core/tensor.h"

#include <cstring>

#include "core/dtype.h"
#include "core/env_data.h"
#include "core/errors.h"

namespace cn {
namespace {

at::ScalarType defaultDtypeOf(napi_typedarray_type type) {
  switch (type) {
    case napi_float32_array: return at::kFloat;
    case napi_float64_array: return at::kDouble;
    case napi_int32_array: return at::kInt;
    case napi_bigint64_array: return at::kLong;
    case napi_int16_array: return at::kShort;
    case napi_int8_array: return at::kChar;
    case napi_uint8_array: return at::kByte;
    default:
      fail(code::kInvalidArgument,
           "unsupported TypedArray (use Float32Array, Float64Array, Int32Array, BigInt64Array, "
           "Int16Array, Int8Array, Uint8Array, or Uint16Array with dtype float16/bfloat16)",
           {{"field", "data"}});
  }
}

std::vector<int64_t> readShape(Napi::Value value) {
  if (!value.IsArray()) fail(code::kInvalidArgument, "shape must be an array of integers", {{"field", "shape"}});
  Napi::Array arr = value.As<Napi::Array>();
  std::vector<int64_t> shape;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value d = arr.Get(i);
    if (!d.IsNumber()) fail(code::kInvalidArgument, "shape[" + std::to_string(i) + "] is not a number", {{"field", "shape"}});
    double v = d.As<Napi::Number>().DoubleValue();
    if (v < 0 || v != static_cast<double>(static_cast<int64_t>(v))) {
      fail(code::kInvalidArgument, "shape[" + std::to_string(i) + "] must be a non-negative integer", {{"field", "shape"}});
    }
    shape.push_back(static_cast<int64_t>(v));
  }
  return shape;
}

}  // namespace

void Tensor::init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(
      env, "Tensor",
      {StaticMethod<&Tensor::fromArray>("fromArray"),
       InstanceAccessor<&Tensor::shape>("shape"),
       InstanceAccessor<&Tensor::dtype>("dtype"),
       InstanceAccessor<&Tensor::device>("device"),
       InstanceAccessor<&Tensor::disposed>("disposed"),
       InstanceMethod<&Tensor::toArray>("toArray"),
       InstanceMethod<&Tensor::dispose>("dispose")});
  envData(env).constructors["Tensor"] = Napi::Persistent(ctor);
  exports.Set("Tensor", ctor);
}

Tensor::Tensor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Tensor>(info) {
  // Only native code constructs tensors (through wrap, which passes an External).
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throw Napi::TypeError::New(info.Env(), "Tensor cannot be constructed directly; use Tensor.fromArray");
  }
  tensor_ = *info[0].As<Napi::External<at::Tensor>>().Data();
}

Napi::Object Tensor::wrap(Napi::Env env, at::Tensor tensor) {
  at::Tensor holder = std::move(tensor);
  auto ext = Napi::External<at::Tensor>::New(env, &holder);
  return envData(env).constructors.at("Tensor").New({ext});
}

const at::Tensor& Tensor::tensor() const {
  if (!tensor_) fail(code::kDisposed, "Tensor was used after dispose()");
  return *tensor_;
}

at::Tensor Tensor::unwrap(Napi::Value value, const char* what) {
  Napi::Env env = value.Env();
  auto& ctor = envData(env).constructors.at("Tensor");
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(ctor.Value())) {
    fail(code::kInvalidArgument, std::string(what) + " must be a Tensor", {{"field", what}});
  }
  return Tensor::Unwrap(value.As<Napi::Object>())->tensor();
}

Napi::Value Tensor::fromArray(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    if (info.Length() < 2 || !info[0].IsTypedArray()) {
      fail(code::kInvalidArgument, "Tensor.fromArray(data, shape, dtype?): data must be a TypedArray", {{"field", "data"}});
    }
    Napi::TypedArray array = info[0].As<Napi::TypedArray>();
    std::vector<int64_t> shape = readShape(info[1]);
    at::ScalarType type;
    if (info.Length() > 2 && info[2].IsString()) {
      type = parseDtype(info[2].As<Napi::String>().Utf8Value());
    } else if (array.TypedArrayType() == napi_uint16_array) {
      fail(code::kInvalidArgument, "a Uint16Array needs dtype 'float16' or 'bfloat16'", {{"field", "dtype"}});
    } else {
      type = defaultDtypeOf(array.TypedArrayType());
    }
    int64_t numel = 1;
    for (int64_t d : shape) numel *= d;
    const size_t elem = c10::elementSize(type);
    const size_t bytes = array.ByteLength();
    if (static_cast<size_t>(numel) * elem != bytes) {
      fail(code::kInvalidArgument,
           "data has " + std::to_string(bytes) + " bytes but shape and dtype " + dtypeName(type) +
               " need " + std::to_string(static_cast<size_t>(numel) * elem),
           {{"field", "shape"}});
    }
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(type));
    if (bytes > 0) {
      const uint8_t* src = static_cast<const uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
      std::memcpy(t.data_ptr(), src, bytes);
    }
    return wrap(env, std::move(t));
  });
}

Napi::Value Tensor::shape(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const at::Tensor& t = tensor();
    Napi::Array out = Napi::Array::New(info.Env(), t.dim());
    for (int64_t i = 0; i < t.dim(); ++i) out.Set(static_cast<uint32_t>(i), Napi::Number::New(info.Env(), static_cast<double>(t.size(i))));
    return out;
  });
}

Napi::Value Tensor::dtype(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value { return Napi::String::New(info.Env(), dtypeName(tensor().scalar_type())); });
}

Napi::Value Tensor::device(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value { return Napi::String::New(info.Env(), deviceName(tensor().device())); });
}

Napi::Value Tensor::disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !tensor_.has_value()); }

Napi::Value Tensor::toArray(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value { return tensorToTypedArray(info.Env(), tensor()); });
}

Napi::Value Tensor::dispose(const Napi::CallbackInfo& info) {
  tensor_.reset();  // idempotent
  return info.Env().Undefined();
}

Napi::Value tensorToTypedArray(Napi::Env env, const at::Tensor& tensor) {
  at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
  const size_t bytes = t.numel() * t.element_size();
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, bytes);
  if (bytes > 0) std::memcpy(buffer.Data(), t.data_ptr(), bytes);
  const size_t n = static_cast<size_t>(t.numel());
  switch (t.scalar_type()) {
    case at::kFloat: return Napi::Float32Array::New(env, n, buffer, 0);
    case at::kDouble: return Napi::Float64Array::New(env, n, buffer, 0);
    case at::kInt: return Napi::Int32Array::New(env, n, buffer, 0);
    case at::kLong: return Napi::BigInt64Array::New(env, n, buffer, 0);
    case at::kShort: return Napi::Int16Array::New(env, n, buffer, 0);
    case at::kChar: return Napi::Int8Array::New(env, n, buffer, 0);
    case at::kByte:
    case at::kBool: return Napi::Uint8Array::New(env, n, buffer, 0);
    case at::kHalf:
    case at::kBFloat16: return Napi::Uint16Array::New(env, n, buffer, 0);
    default: fail(code::kInvalidArgument, "cannot copy dtype " + dtypeName(t.scalar_type()) + " to a TypedArray");
  }
}

}  // namespace cn
