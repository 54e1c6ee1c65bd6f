// Progress events from native work on a worker thread to a JS callback, through a thread-safe
// function (non-blocking: a slow listener never stalls training), plus a cancellation flag that
// JS can raise (AbortSignal) and native loops poll between steps.
#pragma once
#include <napi.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace cn {

struct ProgressEvent {
  std::vector<std::pair<std::string, double>> numbers;
  std::vector<std::pair<std::string, std::string>> strings;

  ProgressEvent& num(std::string key, double value) {
    numbers.emplace_back(std::move(key), value);
    return *this;
  }
  ProgressEvent& str(std::string key, std::string value) {
    strings.emplace_back(std::move(key), std::move(value));
    return *this;
  }
};

class ProgressSink {
 public:
  // Null when `callback` is not a function: emitting is then a no-op for callers holding null.
  static std::shared_ptr<ProgressSink> fromJs(Napi::Env env, Napi::Value callback) {
    if (!callback.IsFunction()) return nullptr;
    return std::shared_ptr<ProgressSink>(new ProgressSink(env, callback.As<Napi::Function>()));
  }
  ~ProgressSink() { tsfn_.Release(); }
  ProgressSink(const ProgressSink&) = delete;
  ProgressSink& operator=(const ProgressSink&) = delete;

  // Safe from any thread.
  void emit(ProgressEvent event) {
    auto* payload = new Item{std::move(event), nullptr};
    if (tsfn_.NonBlockingCall(payload, &deliver) != napi_ok) delete payload;
  }

  // Runs `fn` on the JS thread after every event emitted so far was delivered (the queue is
  // FIFO): a Promise settled this way never resolves before its last progress event.
  // Returns false when the queue is closed; the caller then runs `fn` itself.
  bool callAfterPending(std::function<void(Napi::Env)> fn) {
    auto* payload = new Item{ProgressEvent(), std::move(fn)};
    if (tsfn_.NonBlockingCall(payload, &deliver) == napi_ok) return true;
    delete payload;
    return false;
  }

 private:
  ProgressSink(Napi::Env env, Napi::Function callback)
      : tsfn_(Napi::ThreadSafeFunction::New(env, callback, "continual-next progress", 0, 1)) {}

  struct Item {
    ProgressEvent event;
    std::function<void(Napi::Env)> then;
  };

  static void deliver(Napi::Env env, Napi::Function callback, Item* item) {
    std::unique_ptr<Item> owned(item);
    if (env == nullptr) return;
    if (owned->then) {
      Napi::HandleScope scope(env);
      owned->then(env);
      return;
    }
    if (callback == nullptr) return;
    ProgressEvent* event = &owned->event;
    Napi::Object obj = Napi::Object::New(env);
    for (const auto& [k, v] : event->numbers) obj.Set(k, Napi::Number::New(env, v));
    for (const auto& [k, v] : event->strings) obj.Set(k, Napi::String::New(env, v));
    try {
      callback.Call({obj});
    } catch (const Napi::Error& e) {
      // A throwing listener must not take the process down; report it as a warning.
      fprintf(stderr, "continual-next: progress listener threw: %s\n", e.Message().c_str());
    }
  }

  Napi::ThreadSafeFunction tsfn_;
};

inline void emitIf(const std::shared_ptr<ProgressSink>& sink, ProgressEvent event) {
  if (sink) sink->emit(std::move(event));
}

// Raised from JS, polled by native loops; they stop with an ERR_ABORTED error.
struct CancelFlag {
  std::atomic<bool> raised{false};
  // raised by dispose(): work it stopped rejects with DisposedError instead of resolving with a
  // partial result (a cancel() for a stop string or an abort signal leaves this false)
  std::atomic<bool> disposed{false};
};

}  // namespace cn
