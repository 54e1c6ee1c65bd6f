// JS class Model: a loaded decoder (models/), its tuner (tuners/), and the operations on them:
// forward, loss and gradients, training, generation, merge. Every heavy call is a Promise run on
// a worker thread under the model's lock (models/model_state.h).
#include "bindings/js_convert.h"
#include "bindings/process_group.h"
#include "core/async.h"
#include "core/dtype.h"
#include "core/env_data.h"
#include "core/errors.h"
#include "core/exports.h"
#include "core/options.h"
#include "core/progress.h"
#include "core/tensor.h"
#include "generate/generate.h"
#include "models/model_state.h"
#include "models/spec_options.h"
#include "models/weights.h"
#include "train/loss.h"
#include "train/trainer.h"

namespace cn {
namespace {

class Model : public Napi::ObjectWrap<Model> {
 public:
  static void init(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(
        env, "Model",
        {StaticMethod<&Model::fromTensors>("fromTensors"),
         StaticMethod<&Model::random>("random"),
         InstanceMethod<&Model::addTuner>("addTuner"),
         InstanceMethod<&Model::removeTuner>("removeTuner"),
         InstanceMethod<&Model::tunerState>("tunerState"),
         InstanceMethod<&Model::loadTunerState>("loadTunerState"),
         InstanceMethod<&Model::forward>("forward"),
         InstanceMethod<&Model::lossAndGradients>("lossAndGradients"),
         InstanceMethod<&Model::train>("train"),
         InstanceMethod<&Model::generate>("generate"),
         InstanceMethod<&Model::merge>("merge"),
         InstanceMethod<&Model::unmerge>("unmerge"),
         InstanceMethod<&Model::cancel>("cancel"),
         InstanceMethod<&Model::parameterCount>("parameterCount"),
         InstanceMethod<&Model::setMethod>("setMethod"),
         InstanceMethod<&Model::clearMethod>("clearMethod"),
         InstanceMethod<&Model::beforeTask>("beforeTask"),
         InstanceMethod<&Model::afterTask>("afterTask"),
         InstanceMethod<&Model::methodState>("methodState"),
         InstanceMethod<&Model::loadMethodState>("loadMethodState"),
         InstanceMethod<&Model::dispose>("dispose"),
         InstanceAccessor<&Model::disposed>("disposed")});
    envData(env).constructors["Model"] = Napi::Persistent(ctor);
    exports.Set("Model", ctor);
  }

  explicit Model(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Model>(info) {
    if (info.Length() != 1 || !info[0].IsExternal()) {
      throw Napi::TypeError::New(info.Env(), "Model cannot be constructed directly; use Model.load");
    }
    state_ = *info[0].As<Napi::External<std::shared_ptr<ModelState>>>().Data();
  }

  static Napi::Object wrap(Napi::Env env, std::shared_ptr<ModelState> state) {
    auto ext = Napi::External<std::shared_ptr<ModelState>>::New(env, &state);
    return envData(env).constructors.at("Model").New({ext});
  }

 private:
  std::shared_ptr<ModelState> state_;
  std::shared_ptr<CancelFlag> cancel_ = std::make_shared<CancelFlag>();

  std::shared_ptr<ModelState> alive() const {
    if (!state_) fail(code::kDisposed, "Model was used after dispose()");
    return state_;
  }

  // Model.fromTensors(spec, tensors, {dtype, device, source}) → Promise<Model>
  static Napi::Value fromTensors(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      DecoderSpec spec = specFromOptions(Options::fromJs(info[0], "spec"));
      auto tensors = toTensorMap(info[1], "tensors");
      Options opts = Options::fromJs(info[2], "options");
      const at::ScalarType dtype = parseDtype(opts.string("dtype", "float32"));
      const at::Device device = parseDevice(opts.string("device", "cpu"));
      const std::string source = opts.string("source", "(tensors)");
      return runAsync<std::shared_ptr<ModelState>>(
          env,
          [spec, tensors = std::move(tensors), dtype, device, source]() mutable {
            at::NoGradGuard noGrad;
            WeightStore store(std::move(tensors), source, dtype, device);
            auto state = std::make_shared<ModelState>();
            state->decoder = Decoder::fromWeights(spec, store, dtype, device);
            state->source = source;
            return state;
          },
          [](Napi::Env env, std::shared_ptr<ModelState>& state) -> Napi::Value { return wrap(env, state); });
    });
  }

  // Model.random(spec, {dtype, device, seed, std}) → Promise<Model> with random weights.
  static Napi::Value random(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      DecoderSpec spec = specFromOptions(Options::fromJs(info[0], "spec"));
      Options opts = Options::fromJs(info[1], "options");
      const at::ScalarType dtype = parseDtype(opts.string("dtype", "float32"));
      const at::Device device = parseDevice(opts.string("device", "cpu"));
      const uint64_t seed = static_cast<uint64_t>(opts.integer("seed", 0));
      const double std = opts.number("std", 0.02);
      return runAsync<std::shared_ptr<ModelState>>(
          env,
          [spec, dtype, device, seed, std]() {
            at::NoGradGuard noGrad;
            WeightStore store = WeightStore::random(seed, std, dtype, device);
            auto state = std::make_shared<ModelState>();
            state->decoder = Decoder::fromWeights(spec, store, dtype, device);
            state->source = "(random init)";
            return state;
          },
          [](Napi::Env env, std::shared_ptr<ModelState>& state) -> Napi::Value { return wrap(env, state); });
    });
  }

  Napi::Value addTuner(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      auto s = alive();
      std::lock_guard<std::mutex> lock(s->mu);
      if (s->tuner) fail(code::kConfig, "the model already has a '" + s->tunerName + "' tuner; remove it first", {{"field", "tuner"}});
      const std::string name = info[0].ToString().Utf8Value();
      auto tuner = makeTuner(name, Options::fromJs(info[1], "tuner"), *s->decoder);
      tuner->attach(*s->decoder);
      tuner->setTraining(false);
      s->tuner = std::move(tuner);
      s->tunerName = name;
      return info.Env().Undefined();
    });
  }

  Napi::Value removeTuner(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      auto s = alive();
      std::lock_guard<std::mutex> lock(s->mu);
      if (s->tuner) {
        s->tuner->unmerge(*s->decoder);
        s->tuner->detach(*s->decoder);
        s->tuner.reset();
        s->tunerName.clear();
      }
      return info.Env().Undefined();
    });
  }

  Tuner& tunerOf(ModelState& s) {
    if (!s.tuner) fail(code::kConfig, "the model has no tuner", {{"field", "tuner"}});
    return *s.tuner;
  }

  // tunerState() → Record<string, Tensor>: copies of the tuner's adapter file tensors (PEFT's;
  // for most tuners its parameters and buffers).
  Napi::Value tunerState(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      auto s = alive();
      std::lock_guard<std::mutex> lock(s->mu);
      std::vector<NamedTensor> copies;
      for (auto& t : tunerOf(*s).adapterState()) copies.push_back({t.name, t.tensor.to(at::kCPU).clone()});
      return fromNamedTensors(info.Env(), copies);
    });
  }

  Napi::Value loadTunerState(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      auto s = alive();
      auto tensors = toTensorMap(info[0], "state");
      const std::string source = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "(tensors)";
      std::lock_guard<std::mutex> lock(s->mu);
      tunerOf(*s).loadAdapterState(tensors, source);
      return info.Env().Undefined();
    });
  }

  static at::Tensor optionalTensor(const Napi::CallbackInfo& info, size_t i, const char* what) {
    if (info.Length() <= i || info[i].IsUndefined() || info[i].IsNull()) return at::Tensor();
    return Tensor::unwrap(info[i], what);
  }

  // forward(inputIds [B,S], attentionMask? [B,S]) → Promise<Tensor logits [B,S,V] fp32>
  Napi::Value forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto s = alive();
      at::Tensor ids = Tensor::unwrap(info[0], "inputIds");
      at::Tensor mask = optionalTensor(info, 1, "attentionMask");
      return runAsync<at::Tensor>(
          env,
          [s, ids, mask]() {
            std::lock_guard<std::mutex> lock(s->mu);
            at::InferenceMode inference;
            if (s->tuner) s->tuner->setTraining(false);
            at::Tensor valid = mask.defined() ? mask.ne(0) : at::Tensor();
            return s->decoder->logits(s->decoder->hidden(ids, valid)).to(at::kCPU);
          },
          [](Napi::Env env, at::Tensor& t) -> Napi::Value { return Tensor::wrap(env, t); }, {Value()});
    });
  }

  struct LossGrads {
    double loss = 0;
    int64_t tokens = 0;
    std::vector<NamedTensor> grads;
  };

  // lossAndGradients(inputIds, labels, attentionMask?, includeMethod?) → Promise<{loss, tokens,
  // gradients}>: mean loss over labelled tokens and the gradient of each trainable tensor (left
  // zeroed). The tuner's regulariser (AdaLoRA's) is included. With includeMethod, the CL
  // method's extra loss term (EWC's penalty, LwF's distillation) is added as in a
  // one-micro-batch training step.
  Napi::Value lossAndGradients(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto s = alive();
      at::Tensor ids = Tensor::unwrap(info[0], "inputIds");
      at::Tensor labels = Tensor::unwrap(info[1], "labels");
      at::Tensor mask = optionalTensor(info, 2, "attentionMask");
      const bool includeMethod = info.Length() > 3 && info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value();
      return runAsync<LossGrads>(
          env,
          [s, ids, labels, mask, includeMethod]() {
            std::lock_guard<std::mutex> lock(s->mu);
            LossGrads out;
            at::Tensor valid = mask.defined() ? mask.ne(0) : at::Tensor();
            const bool hasTuner = static_cast<bool>(s->tuner);
            Method* method = includeMethod ? &methodOf(*s) : nullptr;
            std::optional<MethodContext> ctx;
            Batch batch{ids.to(at::kLong), labels.to(at::kLong), valid, 0, 0};
            batch.labelledTokens = batch.labels.narrow(1, 1, batch.labels.size(1) - 1).ne(-100).sum().item<int64_t>();
            if (method) {
              ctx.emplace(contextOf(*s, 0));
              method->beforeForward(*ctx, batch);
            }
            if (hasTuner) s->tuner->setTraining(true);
            LossSum l = causalLmLossSum(*s->decoder, batch.inputIds, batch.labels, valid, /*keepLogits=*/method && method->needsStudentLogits());
            at::Tensor mean = l.sum / static_cast<double>(std::max<int64_t>(1, l.tokens));
            // the tuner's own loss term (AdaLoRA's orthogonality regulariser), as in training
            at::Tensor reg = hasTuner ? s->tuner->regularizer() : at::Tensor();
            if (reg.defined()) mean = mean + reg;
            if (method) {
              at::Tensor extra = method->extraLoss(*ctx, StudentOutput{batch, l.logits, l.tokens, 1});
              if (extra.defined()) mean = mean + extra;
            }
            out.loss = mean.item<double>();
            out.tokens = l.tokens;
            if (hasTuner) {
              mean.backward();
              for (auto& p : s->tuner->parameters()) {
                out.grads.push_back({p.name, p.tensor.grad().defined() ? p.tensor.grad().to(at::kCPU).clone() : at::zeros_like(p.tensor)});
                p.tensor.mutable_grad() = at::Tensor();
              }
              s->tuner->setTraining(false);
            }
            return out;
          },
          [](Napi::Env env, LossGrads& r) -> Napi::Value {
            Napi::Object o = Napi::Object::New(env);
            o.Set("loss", r.loss);
            o.Set("tokens", static_cast<double>(r.tokens));
            o.Set("gradients", fromNamedTensors(env, r.grads));
            return o;
          },
          {Value()});
    });
  }

  static std::vector<Example> toExamples(const Napi::Value& value) {
    if (!value.IsArray()) fail(code::kInvalidArgument, "examples must be an array", {{"field", "examples"}});
    Napi::Array arr = value.As<Napi::Array>();
    std::vector<Example> examples;
    examples.reserve(arr.Length());
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      Napi::Value e = arr.Get(i);
      if (!e.IsObject()) fail(code::kInvalidArgument, "examples[" + std::to_string(i) + "] must be an object", {{"field", "examples"}});
      Napi::Object o = e.As<Napi::Object>();
      examples.push_back({toInt64s(o.Get("inputIds"), "examples[" + std::to_string(i) + "].inputIds"),
                          toInt64s(o.Get("labels"), "examples[" + std::to_string(i) + "].labels")});
    }
    return examples;
  }

  // train(examples [{inputIds, labels}], options, onProgress?, processGroup?) → Promise<summary>
  Napi::Value train(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto s = alive();
      std::vector<Example> examples = toExamples(info[0]);
      TrainOptions options = TrainOptions::fromOptions(Options::fromJs(info[1], ""));
      auto sink = ProgressSink::fromJs(env, info.Length() > 2 ? info[2] : env.Undefined());
      auto group = unwrapProcessGroup(info.Length() > 3 ? info[3] : env.Undefined(), "processGroup");
      // Taken here, on the JS thread, so no JS collective can slip in before training starts.
      std::shared_ptr<ProcessGroup::Exclusive> exclusive = group ? std::make_shared<ProcessGroup::Exclusive>(group) : nullptr;
      auto cancel = cancel_;
      cancel->raised = false;
      return runAsync<TrainSummary>(
          env,
          [s, examples = std::move(examples), options, sink, cancel, group, exclusive]() mutable {
            // Release the group for JS collectives however training ends (before the Promise settles).
            struct Release {
              std::shared_ptr<ProcessGroup::Exclusive>& e;
              ~Release() { e.reset(); }
            } release{exclusive};
            Trainer trainer(s, options, group);
            return trainer.fit(examples, sink, *cancel);
          },
          [](Napi::Env env, TrainSummary& r) -> Napi::Value {
            Napi::Object o = Napi::Object::New(env);
            o.Set("steps", static_cast<double>(r.steps));
            o.Set("resumedFromStep", static_cast<double>(r.resumedFromStep));
            o.Set("tokens", static_cast<double>(r.tokens));
            o.Set("seconds", r.seconds);
            o.Set("finalLoss", r.finalLoss);
            o.Set("meanLoss", r.meanLoss);
            o.Set("gradientElements", static_cast<double>(r.gradientElements));
            o.Set("optimizerElements", static_cast<double>(r.optimizerElements));
            return o;
          },
          {Value()}, sink);
    });
  }

  // generate(prompts: number[][], options, onStep?) → Promise<number[][]>
  Napi::Value generate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto s = alive();
      if (!info[0].IsArray()) fail(code::kInvalidArgument, "prompts must be an array of token id arrays", {{"field", "prompts"}});
      Napi::Array arr = info[0].As<Napi::Array>();
      std::vector<std::vector<int64_t>> prompts;
      for (uint32_t i = 0; i < arr.Length(); ++i) prompts.push_back(toInt64s(arr.Get(i), "prompts[" + std::to_string(i) + "]"));
      GenerateOptions options = GenerateOptions::fromOptions(Options::fromJs(info[1], ""));
      auto sink = ProgressSink::fromJs(env, info.Length() > 2 ? info[2] : env.Undefined());
      auto cancel = cancel_;
      cancel->raised = false;
      return runAsync<std::vector<std::vector<int64_t>>>(
          env,
          [s, prompts = std::move(prompts), options, sink, cancel]() {
            std::lock_guard<std::mutex> lock(s->mu);
            if (s->tuner) s->tuner->setTraining(false);
            int64_t step = 0;
            auto outs = cn::generate(*s->decoder, prompts, options, [&](const std::vector<int64_t>& tokens) {
              if (sink) {
                ProgressEvent ev;
                ev.num("step", static_cast<double>(step));
                std::string joined;
                for (size_t r = 0; r < tokens.size(); ++r) joined += (r ? "," : "") + std::to_string(tokens[r]);
                ev.str("tokens", joined);
                sink->emit(std::move(ev));
              }
              ++step;
              return !cancel->raised.load();
            });
            // disposed mid-run (e.g. `return model.generate(...)` inside `await using` without await)
            if (cancel->disposed.load()) fail(code::kDisposed, "Model was disposed while generate() ran: its output is incomplete");
            return outs;
          },
          [](Napi::Env env, std::vector<std::vector<int64_t>>& outs) -> Napi::Value {
            Napi::Array a = Napi::Array::New(env, outs.size());
            for (size_t r = 0; r < outs.size(); ++r) {
              Napi::Array row = Napi::Array::New(env, outs[r].size());
              for (size_t t = 0; t < outs[r].size(); ++t) row.Set(static_cast<uint32_t>(t), static_cast<double>(outs[r][t]));
              a.Set(static_cast<uint32_t>(r), row);
            }
            return a;
          },
          {Value()}, sink);
    });
  }

  Napi::Value merge(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      auto s = alive();
      std::lock_guard<std::mutex> lock(s->mu);
      return Napi::Boolean::New(info.Env(), tunerOf(*s).merge(*s->decoder));
    });
  }

  Napi::Value unmerge(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      auto s = alive();
      std::lock_guard<std::mutex> lock(s->mu);
      return Napi::Boolean::New(info.Env(), tunerOf(*s).unmerge(*s->decoder));
    });
  }

  Napi::Value cancel(const Napi::CallbackInfo& info) {
    cancel_->raised = true;
    return info.Env().Undefined();
  }

  Napi::Value parameterCount(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      auto s = alive();
      std::lock_guard<std::mutex> lock(s->mu);
      Decoder& d = *s->decoder;
      double total = d.embed.numel() + d.finalNorm.numel();
      if (!d.spec.tieWordEmbeddings) total += d.lmHead.weight.numel();
      for (auto& layer : d.layers) total += layer.inputNorm.numel() + layer.postNorm.numel();
      for (Linear* l : d.linears()) {
        if (l == &d.lmHead) continue;
        total += l->weight.numel() + (l->bias.defined() ? l->bias.numel() : 0);
      }
      double trainable = 0;
      if (s->tuner) for (auto& p : s->tuner->parameters()) trainable += p.tensor.numel();
      Napi::Object o = Napi::Object::New(info.Env());
      o.Set("base", total);
      o.Set("trainable", trainable);
      return o;
    });
  }

  // ---- continual-learning method (methods/) ----
  static Method& methodOf(ModelState& s) {
    if (!s.method) fail(code::kConfig, "the model has no continual-learning method (setMethod)", {{"field", "method"}});
    return *s.method;
  }
  static MethodContext contextOf(ModelState& s, int64_t padId) {
    if (!s.tuner) fail(code::kConfig, "a continual-learning method acts on a tuner's parameters: add one first", {{"field", "tuner"}});
    return MethodContext{*s.decoder, *s.tuner, s.tuner->parameters(), padId};
  }

  // setMethod(name, options): replaces the method (and its state).
  Napi::Value setMethod(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      auto s = alive();
      if (info.Length() < 1 || !info[0].IsString()) fail(code::kInvalidArgument, "setMethod(name, options): name must be a string", {{"field", "method"}});
      auto method = makeMethod(info[0].As<Napi::String>().Utf8Value(), Options::fromJs(info.Length() > 1 ? info[1] : info.Env().Undefined(), "method"));
      std::lock_guard<std::mutex> lock(s->mu);
      s->method = std::move(method);
      return info.Env().Undefined();
    });
  }

  Napi::Value clearMethod(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      auto s = alive();
      std::lock_guard<std::mutex> lock(s->mu);
      s->method.reset();
      return info.Env().Undefined();
    });
  }

  // beforeTask(task) → Promise<void>: the method's start-of-task hook (LwF's teacher snapshot).
  Napi::Value beforeTask(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto s = alive();
      const int64_t task = info[0].IsNumber() ? info[0].As<Napi::Number>().Int64Value() : -1;
      if (task < 0) fail(code::kInvalidArgument, "beforeTask(task): task must be an index ≥ 0", {{"field", "task"}});
      return runAsync<bool>(
          env,
          [s, task]() {
            std::lock_guard<std::mutex> lock(s->mu);
            MethodContext ctx = contextOf(*s, 0);
            methodOf(*s).beforeTask(ctx, task);
            return true;
          },
          [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); }, {Value()});
    });
  }

  // afterTask(task, examples, padTokenId, processGroup?) → Promise<void>: the end-of-task hook (EWC's Fisher,
  // GEM's memory, CIA's replacement), with the task's tokenised training examples.
  Napi::Value afterTask(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto s = alive();
      const int64_t task = info[0].IsNumber() ? info[0].As<Napi::Number>().Int64Value() : -1;
      if (task < 0) fail(code::kInvalidArgument, "afterTask(task, examples): task must be an index ≥ 0", {{"field", "task"}});
      std::vector<Example> examples = toExamples(info[1]);
      const int64_t padId = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int64Value() : 0;
      auto group = unwrapProcessGroup(info.Length() > 3 ? info[3] : env.Undefined(), "processGroup");
      auto exclusive = group ? std::make_shared<ProcessGroup::Exclusive>(group) : nullptr;
      return runAsync<bool>(
          env,
          [s, task, examples = std::move(examples), padId, group, exclusive]() mutable {
            struct Release {
              std::shared_ptr<ProcessGroup::Exclusive>& e;
              ~Release() { e.reset(); }
            } release{exclusive};
            std::lock_guard<std::mutex> lock(s->mu);
            MethodContext ctx = contextOf(*s, padId);
            if (group) group->checkModelDevice(ctx.model.device, "afterTask");
            ctx.group = group.get();
            methodOf(*s).afterTask(ctx, task, examples);
            s->tuner->setTraining(false);
            return true;
          },
          [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); }, {Value()});
    });
  }

  // methodState() → Record<string, Tensor>: copies of everything the method keeps.
  Napi::Value methodState(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      auto s = alive();
      std::lock_guard<std::mutex> lock(s->mu);
      std::vector<NamedTensor> copies;
      for (auto& t : methodOf(*s).state()) copies.push_back({t.name, t.tensor.detach().to(at::kCPU).contiguous().clone()});
      return fromNamedTensors(info.Env(), copies);
    });
  }

  Napi::Value loadMethodState(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      auto s = alive();
      auto tensors = toTensorMap(info[0], "state");
      std::lock_guard<std::mutex> lock(s->mu);
      methodOf(*s).loadState(tensors);
      return info.Env().Undefined();
    });
  }

  Napi::Value dispose(const Napi::CallbackInfo& info) {
    cancel_->disposed = true;
    cancel_->raised = true;  // stop in-flight work early; it keeps its own reference
    state_.reset();
    return info.Env().Undefined();
  }

  Napi::Value disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !state_); }
};

}  // namespace

void initModel(Napi::Env env, Napi::Object exports) { Model::init(env, exports); }

}  // namespace cn
