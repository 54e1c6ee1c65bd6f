// JS class ProcessGroup over dist/process_group.h. create() forms the group on a worker thread;
// each collective is enqueued on the JS thread (so the order of calls is the order on the wire,
// the same on every rank) and awaited on a worker thread, settling a Promise. Inputs are never
// modified: results are new tensors, on the group's device (the input is copied there: cpu for
// gloo, this rank's CUDA device for nccl).
#include "bindings/process_group.h"

#include "core/async.h"
#include "core/dtype.h"
#include "core/env_data.h"
#include "core/errors.h"
#include "core/exports.h"
#include "core/options.h"
#include "core/tensor.h"

namespace cn {
namespace {

class JsProcessGroup : public Napi::ObjectWrap<JsProcessGroup> {
 public:
  static void init(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(env, "ProcessGroup",
                                      {StaticMethod<&JsProcessGroup::create>("create"),
                                       StaticValue("built", Napi::Boolean::New(env, !builtBackends().empty())),
                                       StaticValue("backends", backendList(env)),
                                       InstanceAccessor<&JsProcessGroup::rank>("rank"),
                                       InstanceAccessor<&JsProcessGroup::worldSize>("worldSize"),
                                       InstanceAccessor<&JsProcessGroup::backend>("backend"),
                                       InstanceAccessor<&JsProcessGroup::device>("device"),
                                       InstanceAccessor<&JsProcessGroup::disposed>("disposed"),
                                       InstanceMethod<&JsProcessGroup::allReduce>("allReduce"),
                                       InstanceMethod<&JsProcessGroup::broadcast>("broadcast"),
                                       InstanceMethod<&JsProcessGroup::allGather>("allGather"),
                                       InstanceMethod<&JsProcessGroup::barrier>("barrier"),
                                       InstanceMethod<&JsProcessGroup::waitSeconds>("waitSeconds"),
                                       InstanceMethod<&JsProcessGroup::dispose>("dispose")});
    envData(env).constructors["ProcessGroup"] = Napi::Persistent(ctor);
    exports.Set("ProcessGroup", ctor);
  }

  explicit JsProcessGroup(const Napi::CallbackInfo& info) : Napi::ObjectWrap<JsProcessGroup>(info) {
    if (info.Length() != 1 || !info[0].IsExternal()) {
      throw Napi::TypeError::New(info.Env(), "ProcessGroup cannot be constructed directly; use ProcessGroup.create");
    }
    group_ = *info[0].As<Napi::External<std::shared_ptr<ProcessGroup>>>().Data();
  }

  std::shared_ptr<ProcessGroup> alive() const {
    if (!group_) fail(code::kDisposed, "ProcessGroup was used after dispose()");
    return group_;
  }
  // For collectives called from JS.
  std::shared_ptr<ProcessGroup> available() const {
    auto g = alive();
    g->checkNotExclusive();
    return g;
  }

 private:
  std::shared_ptr<ProcessGroup> group_;

  static Napi::Array backendList(Napi::Env env) {
    const auto names = builtBackends();
    Napi::Array out = Napi::Array::New(env, names.size());
    for (size_t i = 0; i < names.size(); ++i) out.Set(static_cast<uint32_t>(i), Napi::String::New(env, names[i]));
    return out;
  }

  // create({rank, worldSize, masterAddr, masterPort, timeoutMs, backend, device, localRank}) → Promise<ProcessGroup>
  static Napi::Value create(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      Options o = Options::fromJs(info[0], "processGroup");
      GroupOptions g;
      g.rank = static_cast<int>(o.integer("rank", 0));
      g.worldSize = static_cast<int>(o.integer("worldSize", 1));
      g.masterAddr = o.string("masterAddr", "127.0.0.1");
      g.masterPort = static_cast<int>(o.integer("masterPort", 29500));
      g.timeout = std::chrono::milliseconds(o.integer("timeoutMs", 60000));
      g.backend = o.string("backend", "auto");
      g.device = o.string("device", "");
      g.localRank = static_cast<int>(o.integer("localRank", 0));
      if (g.timeout.count() < 1) fail(code::kConfig, "timeoutMs must be ≥ 1", {{"field", "timeoutMs"}});
      return runAsync<std::shared_ptr<ProcessGroup>>(
          env, [g]() { return ProcessGroup::create(g); },
          [](Napi::Env env, std::shared_ptr<ProcessGroup>& group) -> Napi::Value {
            auto ext = Napi::External<std::shared_ptr<ProcessGroup>>::New(env, &group);
            return envData(env).constructors.at("ProcessGroup").New({ext});
          });
    });
  }

  Napi::Value rank(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value { return Napi::Number::New(info.Env(), alive()->rank()); });
  }
  Napi::Value worldSize(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value { return Napi::Number::New(info.Env(), alive()->size()); });
  }
  Napi::Value backend(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value { return Napi::String::New(info.Env(), alive()->backend()); });
  }
  Napi::Value device(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value { return Napi::String::New(info.Env(), deviceName(alive()->device())); });
  }
  Napi::Value disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !group_); }
  Napi::Value waitSeconds(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value { return Napi::Number::New(info.Env(), alive()->waitSeconds()); });
  }

  // A contiguous copy of a JS tensor argument on the group's device (the collective works on it
  // in place). Made on the JS thread, where the collective is then enqueued: NCCL orders its
  // stream after this thread's current stream, so the copy is done before the collective reads it.
  static at::Tensor input(const Napi::CallbackInfo& info, const char* what, const ProcessGroup& g) {
    at::Tensor t = Tensor::unwrap(info[0], what);
    at::Tensor moved = t.to(g.device()).contiguous();
    return moved.is_same(t) ? moved.clone() : moved;
  }

  // allReduce(tensor, op = 'sum' | 'avg') → Promise<Tensor>
  Napi::Value allReduce(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto g = available();
      const std::string op = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "sum";
      if (op != "sum" && op != "avg") fail(code::kInvalidArgument, "allReduce op must be 'sum' or 'avg' (got '" + op + "')", {{"field", "op"}});
      at::Tensor t = input(info, "tensor", *g);
      auto pending = std::make_shared<PendingCollective>(g->allReduceSumAsync(t, op == "avg" ? "all-reduce (avg)" : "all-reduce (sum)"));
      const bool avg = op == "avg";
      return runAsync<at::Tensor>(
          env,
          [g, t, pending, avg]() mutable {
            pending->wait();
            if (avg) {
              if (at::isFloatingType(t.scalar_type())) t.div_(g->size());
              else t.copy_(at::div(t, g->size(), "trunc"));
            }
            return t;
          },
          [](Napi::Env env, at::Tensor& t) -> Napi::Value { return Tensor::wrap(env, t); }, {Value()});
    });
  }

  // broadcast(tensor, root = 0) → Promise<Tensor> (root's values on every rank)
  Napi::Value broadcast(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto g = available();
      const int root = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
      at::Tensor t = input(info, "tensor", *g);
      auto pending = std::make_shared<PendingCollective>(g->broadcastAsync(t, root));
      return runAsync<at::Tensor>(
          env, [t, pending]() { pending->wait(); return t; },
          [](Napi::Env env, at::Tensor& t) -> Napi::Value { return Tensor::wrap(env, t); }, {Value()});
    });
  }

  // allGather(tensor) → Promise<Tensor[]> (one per rank, in rank order; same shape everywhere)
  Napi::Value allGather(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto g = available();
      at::Tensor t = input(info, "tensor", *g);
      auto outputs = std::make_shared<std::vector<at::Tensor>>();
      auto pending = std::make_shared<PendingCollective>(g->allGatherAsync(t, *outputs));
      return runAsync<std::vector<at::Tensor>>(
          env, [t, outputs, pending]() { pending->wait(); return *outputs; },
          [](Napi::Env env, std::vector<at::Tensor>& ts) -> Napi::Value {
            Napi::Array arr = Napi::Array::New(env, ts.size());
            for (size_t i = 0; i < ts.size(); ++i) arr.Set(static_cast<uint32_t>(i), Tensor::wrap(env, ts[i]));
            return arr;
          },
          {Value()});
    });
  }

  Napi::Value barrier(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto g = available();
      auto pending = std::make_shared<PendingCollective>(g->barrierAsync());
      return runAsyncVoid(env, [pending]() { pending->wait(); }, {Value()});
    });
  }

  // Releases this handle; the group itself closes when no training run or pending collective uses it.
  Napi::Value dispose(const Napi::CallbackInfo& info) {
    group_.reset();
    return info.Env().Undefined();
  }
};

}  // namespace

std::shared_ptr<ProcessGroup> unwrapProcessGroup(Napi::Value value, const char* what) {
  if (value.IsUndefined() || value.IsNull()) return nullptr;
  Napi::Env env = value.Env();
  Napi::Function ctor = envData(env).constructors.at("ProcessGroup").Value();
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(ctor)) {
    fail(code::kInvalidArgument, std::string(what) + " must be a ProcessGroup", {{"field", what}});
  }
  return JsProcessGroup::Unwrap(value.As<Napi::Object>())->alive();
}

void initDistributed(Napi::Env env, Napi::Object exports) { JsProcessGroup::init(env, exports); }

}  // namespace cn
