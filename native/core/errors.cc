#include "core/errors.h"

#include "core/env_data.h"

#include <c10/util/Exception.h>

#include <cstdlib>
#include <new>

namespace cn {
namespace {

// c10::Error messages carry a C++ backtrace after the first line(s); keep what the user needs.
std::string torchMessage(const c10::Error& e) {
  std::string msg = e.msg();
  return msg.empty() ? std::string(e.what()) : msg;
}

Napi::Error make(Napi::Env env, const std::string& code, const std::string& message,
                 const ErrorFields& fields) {
  Napi::Error err;
  Napi::ObjectReference& classes = envData(env).errorClasses;
  Napi::Value ctor;
  if (!classes.IsEmpty()) {
    ctor = classes.Value().Get(code);
    if (!ctor.IsFunction()) ctor = classes.Value().Get(code::kNative);
  }
  if (ctor.IsFunction()) {
    Napi::Object obj = ctor.As<Napi::Function>().New({Napi::String::New(env, message)});
    err = Napi::Error(env, obj);
  } else {
    err = Napi::Error::New(env, message);
  }
  err.Set("code", Napi::String::New(env, code));
  for (const auto& [key, value] : fields) {
    // Positions (line, index, offset) are numbers in JS; everything else is text.
    const bool numeric = key == "line" || key == "index" || key == "offset";
    if (numeric) {
      err.Set(key, Napi::Number::New(env, std::strtod(value.c_str(), nullptr)));
    } else {
      err.Set(key, Napi::String::New(env, value));
    }
  }
  return err;
}

}  // namespace

void registerErrorClasses(Napi::Env env, Napi::Object classes) {
  envData(env).errorClasses = Napi::Persistent(classes);
}

Napi::Error toJsError(Napi::Env env, std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const Error& e) {
    return make(env, e.code(), e.what(), e.fields());
  } catch (const c10::OutOfMemoryError& e) {
    return make(env, code::kOutOfMemory, torchMessage(e), {});
  } catch (const c10::DistError& e) {
    return make(env, code::kDistributed, torchMessage(e), {});
  } catch (const c10::Error& e) {
    return make(env, code::kTorch, torchMessage(e), {});
  } catch (const std::bad_alloc& e) {
    return make(env, code::kOutOfMemory, std::string("out of memory: ") + e.what(), {});
  } catch (const Napi::Error& e) {
    return e;
  } catch (const std::exception& e) {
    return make(env, code::kNative, e.what(), {});
  } catch (...) {
    return make(env, code::kNative, "unknown native exception", {});
  }
}

}  // namespace cn
