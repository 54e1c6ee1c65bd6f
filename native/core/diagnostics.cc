// Self-check entry points: they exercise the native conventions (async work with progress,
// cancellation, exception translation) for `continual-next info --self-check` and the tests.
#include <chrono>

#include "core/async.h"
#include "core/errors.h"
#include "core/exports.h"
#include "core/progress.h"

namespace cn {
namespace {

struct SpinResult {
  int64_t iterations = 0;
  double seconds = 0;
  double gflops = 0;
};

// Runs n×n fp32 matmuls on a worker thread for about `ms` milliseconds, reporting progress.
Napi::Value spin(const Napi::CallbackInfo& cb) {
  Napi::Env env = cb.Env();
  return guard(env, [&]() -> Napi::Value {
    if (cb.Length() < 1 || !cb[0].IsNumber()) fail(code::kInvalidArgument, "spin(ms, onProgress?, n?)", {{"field", "ms"}});
    const double ms = cb[0].As<Napi::Number>().DoubleValue();
    auto sink = ProgressSink::fromJs(env, cb.Length() > 1 ? cb[1] : env.Undefined());
    const int64_t n = cb.Length() > 2 && cb[2].IsNumber() ? cb[2].As<Napi::Number>().Int64Value() : 256;
    return runAsync<SpinResult>(
        env,
        [ms, n, sink]() {
          at::NoGradGuard noGrad;
          at::Tensor a = at::rand({n, n}), b = at::rand({n, n});
          SpinResult r;
          const auto start = std::chrono::steady_clock::now();
          double lastReport = 0;
          while (true) {
            at::Tensor c = at::mm(a, b);
            (void)c.sum().item<float>();
            ++r.iterations;
            r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            if (r.seconds * 1000 >= ms) break;
            if (r.seconds * 1000 - lastReport >= ms / 10) {
              lastReport = r.seconds * 1000;
              emitIf(sink, ProgressEvent().num("elapsedMs", lastReport).num("iterations", static_cast<double>(r.iterations)));
            }
          }
          r.gflops = 2.0 * n * n * n * r.iterations / r.seconds / 1e9;
          return r;
        },
        [](Napi::Env env, SpinResult& r) -> Napi::Value {
          Napi::Object o = Napi::Object::New(env);
          o.Set("iterations", static_cast<double>(r.iterations));
          o.Set("seconds", r.seconds);
          o.Set("gflops", r.gflops);
          return o;
        },
        {}, sink);
  });
}

[[noreturn]] void raise(const std::string& kind) {
  if (kind == "typed") fail(code::kSafetensors, "diagnostic typed error", {{"file", "x.safetensors"}, {"tensor", "w"}});
  if (kind == "torch") TORCH_CHECK(false, "diagnostic torch check failure");
  if (kind == "torch-shape") (void)at::mm(at::ones({2, 3}), at::ones({2, 3}));
  if (kind == "alloc") throw std::bad_alloc();
  if (kind == "std") throw std::runtime_error("diagnostic std::runtime_error");
  throw 42;  // not an exception type at all
}

Napi::Value throwError(const Napi::CallbackInfo& cb) {
  return guard(cb.Env(), [&]() -> Napi::Value { raise(cb[0].ToString().Utf8Value()); });
}

Napi::Value throwErrorAsync(const Napi::CallbackInfo& cb) {
  Napi::Env env = cb.Env();
  const std::string kind = cb[0].ToString().Utf8Value();
  return runAsyncVoid(env, [kind]() { raise(kind); });
}

}  // namespace

void initDiagnostics(Napi::Env env, Napi::Object exports) {
  Napi::Object d = Napi::Object::New(env);
  d.Set("spin", Napi::Function::New(env, spin, "spin"));
  d.Set("throwError", Napi::Function::New(env, throwError, "throwError"));
  d.Set("throwErrorAsync", Napi::Function::New(env, throwErrorAsync, "throwErrorAsync"));
  exports.Set("diagnostics", d);
}

}  // namespace cn
