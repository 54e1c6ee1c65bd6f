// Tensor: the minimal bridge between TypedArrays and libtorch tensors, for tests and I/O.
// Not a general tensor library: create from a TypedArray, read shape/dtype/device, copy back
// out, dispose. Other wrapped classes hand tensors to JS through Tensor::wrap.
#pragma once
#include <napi.h>

#include <ATen/ATen.h>

#include <optional>

namespace cn {

class Tensor : public Napi::ObjectWrap<Tensor> {
 public:
  static void init(Napi::Env env, Napi::Object exports);
  static Napi::Object wrap(Napi::Env env, at::Tensor tensor);
  // The tensor behind a JS Tensor argument; throws ERR_INVALID_ARGUMENT or ERR_DISPOSED.
  static at::Tensor unwrap(Napi::Value value, const char* what);

  explicit Tensor(const Napi::CallbackInfo& info);

  const at::Tensor& tensor() const;

 private:
  static Napi::Value fromArray(const Napi::CallbackInfo& info);
  Napi::Value shape(const Napi::CallbackInfo& info);
  Napi::Value dtype(const Napi::CallbackInfo& info);
  Napi::Value device(const Napi::CallbackInfo& info);
  Napi::Value disposed(const Napi::CallbackInfo& info);
  Napi::Value toArray(const Napi::CallbackInfo& info);
  Napi::Value dispose(const Napi::CallbackInfo& info);

  std::optional<at::Tensor> tensor_;
};

// Copies a CPU tensor's contents into a new TypedArray of the matching type
// (float16/bfloat16 come back as their raw bits in a Uint16Array).
Napi::Value tensorToTypedArray(Napi::Env env, const at::Tensor& tensor);

}  // namespace cn
