// Native errors and their translation into typed JS errors.
//
// Native code throws cn::Error with a stable code ("ERR_SAFETENSORS", ...) and named fields
// (file, tensor, field, ...). At every N-API entry point, cn::guard / cn::toJsError turn any C++
// exception (cn::Error, c10::Error, std::bad_alloc, std::exception) into an instance of the JS
// class registered for that code (ts/errors.ts), so no exception ever reaches N-API unhandled
// and the process never aborts on bad input.
#pragma once
#include <napi.h>

#include <exception>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace cn {

using ErrorFields = std::vector<std::pair<std::string, std::string>>;

namespace code {
inline constexpr const char* kInvalidArgument = "ERR_INVALID_ARGUMENT";
inline constexpr const char* kDisposed = "ERR_DISPOSED";
inline constexpr const char* kSafetensors = "ERR_SAFETENSORS";
inline constexpr const char* kModelLoad = "ERR_MODEL_LOAD";
inline constexpr const char* kConfig = "ERR_CONFIG";
inline constexpr const char* kDevice = "ERR_DEVICE";
inline constexpr const char* kTorch = "ERR_TORCH";
inline constexpr const char* kOutOfMemory = "ERR_OUT_OF_MEMORY";
inline constexpr const char* kAborted = "ERR_ABORTED";
inline constexpr const char* kDistributed = "ERR_DISTRIBUTED";
inline constexpr const char* kIo = "ERR_IO";
inline constexpr const char* kNative = "ERR_NATIVE";
}  // namespace code

class Error : public std::runtime_error {
 public:
  Error(std::string code, const std::string& message, ErrorFields fields = {})
      : std::runtime_error(message), code_(std::move(code)), fields_(std::move(fields)) {}
  const std::string& code() const { return code_; }
  const ErrorFields& fields() const { return fields_; }

 private:
  std::string code_;
  ErrorFields fields_;
};

[[noreturn]] inline void fail(const char* code, const std::string& message, ErrorFields fields = {}) {
  throw Error(code, message, std::move(fields));
}

// Remembers the JS error classes (code -> constructor) passed by ts/errors.ts at load time.
void registerErrorClasses(Napi::Env env, Napi::Object classes);

// Builds the typed JS error for an in-flight exception.
Napi::Error toJsError(Napi::Env env, std::exception_ptr error);

// Runs an entry point's body and rethrows any C++ exception as a typed JS error.
template <class F>
auto guard(Napi::Env env, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;  // already a JS error
  } catch (...) {
    throw toJsError(env, std::current_exception());
  }
}

}  // namespace cn
