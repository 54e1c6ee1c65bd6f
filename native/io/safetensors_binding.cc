// JS surface of native/io/safetensors: `safetensors.{readHeader, load, loadCheckpoint, save}`.
// readHeader is synchronous (it maps the file and parses only the header); the others read or
// write tensor data on a worker thread and return Promises.
#include "core/async.h"
#include "core/dtype.h"
#include "core/errors.h"
#include "core/exports.h"
#include "core/tensor.h"
#include "io/safetensors.h"

namespace cn {
namespace {

std::string pathArg(const Napi::CallbackInfo& cb, const char* usage) {
  if (cb.Length() < 1 || !cb[0].IsString() || cb[0].As<Napi::String>().Utf8Value().empty()) {
    fail(code::kInvalidArgument, std::string(usage) + ": path must be a non-empty string", {{"field", "path"}});
  }
  return cb[0].As<Napi::String>().Utf8Value();
}

// Own enumerable string keys, in property order (like Object.keys).
std::vector<std::string> ownKeys(Napi::Env env, Napi::Object obj) {
  napi_value names;
  napi_status status = napi_get_all_property_names(env, obj, napi_key_own_only,
                                                   static_cast<napi_key_filter>(napi_key_enumerable | napi_key_skip_symbols),
                                                   napi_key_numbers_to_strings, &names);
  NAPI_THROW_IF_FAILED(env, status, {});
  Napi::Array arr(env, names);
  std::vector<std::string> keys;
  keys.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) keys.push_back(arr.Get(i).As<Napi::String>().Utf8Value());
  return keys;
}

Napi::Object tensorsToJs(Napi::Env env, io::NamedTensors& tensors) {
  Napi::Object out = Napi::Object::New(env);
  for (auto& [name, tensor] : tensors) out.Set(name, Tensor::wrap(env, std::move(tensor)));
  return out;
}

Napi::Value readHeader(const Napi::CallbackInfo& cb) {
  Napi::Env env = cb.Env();
  return guard(env, [&]() -> Napi::Value {
    io::SafetensorsReader reader(pathArg(cb, "safetensors.readHeader(path)"));
    Napi::Object tensors = Napi::Object::New(env);
    for (const auto& name : reader.names()) {
      const io::TensorInfo& info = reader.info(name);
      Napi::Object t = Napi::Object::New(env);
      t.Set("dtype", dtypeName(info.dtype));
      Napi::Array shape = Napi::Array::New(env, info.shape.size());
      for (size_t i = 0; i < info.shape.size(); ++i) shape.Set(static_cast<uint32_t>(i), static_cast<double>(info.shape[i]));
      t.Set("shape", shape);
      Napi::Array offsets = Napi::Array::New(env, 2);
      offsets.Set(0u, static_cast<double>(info.begin));
      offsets.Set(1u, static_cast<double>(info.end));
      t.Set("dataOffsets", offsets);
      tensors.Set(name, t);
    }
    Napi::Object metadata = Napi::Object::New(env);
    for (const auto& [key, value] : reader.metadata()) metadata.Set(key, value);
    Napi::Object out = Napi::Object::New(env);
    out.Set("tensors", tensors);
    out.Set("metadata", metadata);
    out.Set("headerSize", static_cast<double>(reader.headerSize()));
    out.Set("dataSize", static_cast<double>(reader.dataSize()));
    return out;
  });
}

Napi::Value load(const Napi::CallbackInfo& cb) {
  Napi::Env env = cb.Env();
  return guard(env, [&]() -> Napi::Value {
    const std::string path = pathArg(cb, "safetensors.load(path, names?)");
    std::optional<std::vector<std::string>> names;
    if (cb.Length() > 1 && !cb[1].IsUndefined() && !cb[1].IsNull()) {
      if (!cb[1].IsArray()) fail(code::kInvalidArgument, "safetensors.load: names must be an array of strings", {{"field", "names"}});
      Napi::Array arr = cb[1].As<Napi::Array>();
      names.emplace();
      for (uint32_t i = 0; i < arr.Length(); ++i) {
        Napi::Value v = arr.Get(i);
        if (!v.IsString()) fail(code::kInvalidArgument, "safetensors.load: names[" + std::to_string(i) + "] is not a string", {{"field", "names"}});
        names->push_back(v.As<Napi::String>().Utf8Value());
      }
    }
    return runAsync<io::NamedTensors>(
        env, [path, names]() { return io::loadSafetensors(path, names ? &*names : nullptr); }, tensorsToJs);
  });
}

Napi::Value loadCheckpoint(const Napi::CallbackInfo& cb) {
  Napi::Env env = cb.Env();
  return guard(env, [&]() -> Napi::Value {
    const std::string path = pathArg(cb, "safetensors.loadCheckpoint(pathOrDir)");
    return runAsync<io::NamedTensors>(env, [path]() { return io::loadCheckpoint(path); }, tensorsToJs);
  });
}

Napi::Value save(const Napi::CallbackInfo& cb) {
  Napi::Env env = cb.Env();
  return guard(env, [&]() -> Napi::Value {
    const std::string path = pathArg(cb, "safetensors.save(path, tensors, metadata?)");
    if (cb.Length() < 2 || !cb[1].IsObject() || cb[1].IsArray()) {
      fail(code::kInvalidArgument, "safetensors.save: tensors must be an object of name -> Tensor", {{"field", "tensors"}, {"file", path}});
    }
    Napi::Object obj = cb[1].As<Napi::Object>();
    io::NamedTensors tensors;
    for (const auto& name : ownKeys(env, obj)) {
      const std::string what = "tensors['" + name + "']";
      tensors.emplace_back(name, Tensor::unwrap(obj.Get(name), what.c_str()));
    }
    io::Metadata metadata;
    if (cb.Length() > 2 && !cb[2].IsUndefined() && !cb[2].IsNull()) {
      if (!cb[2].IsObject() || cb[2].IsArray()) {
        fail(code::kInvalidArgument, "safetensors.save: metadata must be an object of strings", {{"field", "metadata"}, {"file", path}});
      }
      Napi::Object meta = cb[2].As<Napi::Object>();
      for (const auto& key : ownKeys(env, meta)) {
        Napi::Value v = meta.Get(key);
        if (!v.IsString()) {
          fail(code::kInvalidArgument, "safetensors.save: metadata['" + key + "'] is not a string", {{"field", "metadata"}, {"file", path}});
        }
        metadata.emplace(key, v.As<Napi::String>().Utf8Value());
      }
    }
    return runAsyncVoid(env, [path, tensors = std::move(tensors), metadata = std::move(metadata)]() {
      io::saveSafetensors(path, tensors, metadata);
    });
  });
}

}  // namespace

void initSafetensors(Napi::Env env, Napi::Object exports) {
  Napi::Object s = Napi::Object::New(env);
  s.Set("readHeader", Napi::Function::New(env, readHeader, "readHeader"));
  s.Set("load", Napi::Function::New(env, load, "load"));
  s.Set("loadCheckpoint", Napi::Function::New(env, loadCheckpoint, "loadCheckpoint"));
  s.Set("save", Napi::Function::New(env, save, "save"));
  exports.Set("safetensors", s);
}

}  // namespace cn
