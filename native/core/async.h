// Heavy native work runs off the JS thread and settles a Promise (never blocks the JS thread):
// queued on libuv's pool, whose thread hands it to the process's one compute thread
// (core/compute_thread.h) and waits.
//
//   return cn::runAsync(env, [state]() { return doWork(*state); },
//                       [](Napi::Env env, Result& r) { return toJs(env, r); });
//
// The work lambda runs on a worker thread and must not touch N-API; it may throw any exception,
// which rejects the Promise with the typed JS error (core/errors.h). `keepAlive` pins JS objects
// (the wrapper whose state the work uses) until the Promise settles.
#pragma once
#include <napi.h>

#include <exception>
#include <functional>
#include <optional>
#include <utility>

#include "core/compute_thread.h"
#include "core/errors.h"
#include "core/progress.h"

namespace cn {

template <class R>
class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<R()>;
  using ToJs = std::function<Napi::Value(Napi::Env, R&)>;

  PromiseWorker(Napi::Env env, Work work, ToJs toJs)
      : Napi::AsyncWorker(env, "continual-next"),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        toJs_(std::move(toJs)) {}

  Napi::Promise promise() { return deferred_.Promise(); }
  void keepAlive(Napi::Object obj) { pinned_.push_back(Napi::Persistent(obj)); }
  // Settle only after every progress event of `sink` was delivered.
  void settleAfter(std::shared_ptr<ProgressSink> sink) { sink_ = std::move(sink); }

 protected:
  void Execute() override {
    try {
      runOnComputeThread([this] { result_.emplace(work_()); });
    } catch (...) {
      error_ = std::current_exception();
      SetError("native work failed");
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    try {
      settle(env, toJs_(env, *result_), true);
    } catch (...) {
      settle(env, toJsError(env, std::current_exception()).Value(), false);
    }
  }
  void OnError(const Napi::Error&) override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    settle(env, toJsError(env, error_).Value(), false);
  }

  void settle(Napi::Env env, Napi::Value value, bool ok) {
    if (sink_) {
      auto ref = std::make_shared<Napi::Reference<Napi::Value>>(Napi::Persistent(value));
      Napi::Promise::Deferred deferred = deferred_;
      if (sink_->callAfterPending([deferred, ref, ok](Napi::Env) mutable {
            if (ok) deferred.Resolve(ref->Value());
            else deferred.Reject(ref->Value());
          })) {
        sink_.reset();
        return;
      }
    }
    if (ok) deferred_.Resolve(value);
    else deferred_.Reject(value);
  }

 private:
  Napi::Promise::Deferred deferred_;
  Work work_;
  ToJs toJs_;
  std::optional<R> result_;
  std::exception_ptr error_;
  std::vector<Napi::ObjectReference> pinned_;
  std::shared_ptr<ProgressSink> sink_;
};

struct Unit {};

// Queues `work` and returns its Promise; `toJs` converts the result on the JS thread.
// With `progress`, the Promise settles only after that sink's last event was delivered.
template <class R>
Napi::Promise runAsync(Napi::Env env, std::function<R()> work,
                       std::function<Napi::Value(Napi::Env, R&)> toJs,
                       std::initializer_list<Napi::Object> keepAlive = {},
                       std::shared_ptr<ProgressSink> progress = nullptr) {
  auto* worker = new PromiseWorker<R>(env, std::move(work), std::move(toJs));
  for (const auto& obj : keepAlive) worker->keepAlive(obj);
  if (progress) worker->settleAfter(std::move(progress));
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

// For work with no result: resolves to undefined.
inline Napi::Promise runAsyncVoid(Napi::Env env, std::function<void()> work,
                                  std::initializer_list<Napi::Object> keepAlive = {}) {
  return runAsync<Unit>(
      env, [work = std::move(work)]() { work(); return Unit{}; },
      [](Napi::Env env, Unit&) -> Napi::Value { return env.Undefined(); }, keepAlive);
}

}  // namespace cn
