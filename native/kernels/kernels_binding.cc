// JS surface of native/kernels for tests and diagnostics:
//   kernels.cudaBuilt                                   whether the CUDA kernels are compiled in
//   kernels.rmsNorm(x, weight, eps, options?)           -> Promise<{ output, grads }>
//   kernels.swiglu(gate, up, options?)
//   kernels.rope(x, cos, sin, options?)                 (options.layout: 'bhsd' | 'bshd')
//   kernels.linear(x, weight, bias, options?)           x Wᵀ + b on the engine's GEMM (kernels/linear.h);
//   kernels.loraLinear(x, weight, bias, a, b, scaling, options?)   a zero-length bias means none
//       (options.dropout + options.seed: hash dropout on the low-rank input, kernels/hash_dropout.h)
//   kernels.hashDropout(x, seed, p, options?)          x · keep(seed, i) / (1 − p)
//   kernels.distillKl(student, teacher, temperature, options?)     LwF's KL, a 0-d sum
//   kernels.crossEntropy(logits, targets, options?)     the LM loss summed over rows (targets int64)
//   kernels.linearCrossEntropy(h, weight, targets, options?)   LM head + loss by chunks of rows, a 0-d sum
//       (options.chunkRows; impl 'reference': the whole logits, then the cross-entropy; 'cuda': the row kernels)
//   kernels.causalAttention(q, k, v, options?)          causal self-attention over whole sequences
//   kernels.decodeAttention(q, k, v, keyValid, prefix, options?)   one decoding step over a cache
//       (k, v [B, Hkv, capacity, D] are narrowed to the prefix + keyValid.size(1) keys; forward only)
// options: { impl?: 'auto' | 'reference' | 'cuda' | 'cpu', device?: 'cpu' | 'cuda[:N]', dtype?: DType,
//            gradOutput?: Tensor }. Inputs are moved to `device` and cast to `dtype` (floating
// inputs only) first. With gradOutput, output.backward(gradOutput) runs and `grads` holds the
// gradient of each differentiable input by name. Results come back as float32 CPU tensors
// (exact for float16/bfloat16 values).
#include "core/async.h"
#include "core/dtype.h"
#include "core/errors.h"
#include "core/exports.h"
#include "core/tensor.h"
#include "kernels/causal_attention.h"
#include "kernels/cross_entropy.h"
#include "kernels/decode_attention.h"
#include "kernels/distill_kl.h"
#include "kernels/hash_dropout.h"
#include "kernels/linear.h"
#include "kernels/linear_cross_entropy.h"
#include "kernels/rms_norm.h"
#include "kernels/rope.h"
#include "kernels/swiglu.h"

namespace cn {
namespace {

struct OpArgs {
  kernels::Impl impl = kernels::Impl::Auto;
  std::optional<at::Device> device;
  std::optional<at::ScalarType> dtype;
  at::Tensor gradOutput;
};

struct OpResult {
  at::Tensor output;
  std::vector<std::pair<std::string, at::Tensor>> grads;
};

OpArgs parseArgs(const Napi::Value& value, const std::string& op) {
  OpArgs a;
  if (value.IsUndefined() || value.IsNull()) return a;
  if (!value.IsObject()) fail(code::kInvalidArgument, "kernels." + op + ": options must be an object", {{"field", "options"}});
  Napi::Object o = value.As<Napi::Object>();
  auto str = [&](const char* key) -> std::optional<std::string> {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined() || v.IsNull()) return std::nullopt;
    if (!v.IsString()) fail(code::kInvalidArgument, std::string("kernels.") + op + ": " + key + " must be a string", {{"field", key}});
    return v.As<Napi::String>().Utf8Value();
  };
  if (auto s = str("impl")) a.impl = kernels::parseImpl(*s);
  if (auto s = str("device")) a.device = parseDevice(*s);
  if (auto s = str("dtype")) a.dtype = parseDtype(*s);
  Napi::Value g = o.Get("gradOutput");
  if (!g.IsUndefined() && !g.IsNull()) a.gradOutput = Tensor::unwrap(g, "gradOutput");
  return a;
}

at::Tensor prepare(const at::Tensor& t, const OpArgs& a) {
  at::Tensor out = t;
  if (a.device) out = out.to(*a.device);
  if (a.dtype && at::isFloatingType(out.scalar_type())) out = out.to(*a.dtype);
  return out.detach();
}

using OpFn = std::function<at::Tensor(const std::vector<at::Tensor>&, kernels::Impl)>;

// Runs `fn` on a worker thread over the prepared inputs; `names[i]` names input i and
// `differentiable[i]` says whether its gradient is wanted.
Napi::Value runOp(const Napi::CallbackInfo& cb, const std::string& op, std::vector<std::string> names,
                  std::vector<bool> differentiable, size_t optionsIndex, OpFn fn) {
  Napi::Env env = cb.Env();
  std::vector<at::Tensor> inputs;
  for (size_t i = 0; i < names.size(); ++i) inputs.push_back(Tensor::unwrap(cb[i], names[i].c_str()));
  OpArgs args = parseArgs(cb[optionsIndex], op);
  return runAsync<OpResult>(
      env,
      [inputs, names, differentiable, args, fn]() {
        at::AutoGradMode gradMode(args.gradOutput.defined());
        std::vector<at::Tensor> xs;
        for (size_t i = 0; i < inputs.size(); ++i) {
          at::Tensor t = prepare(inputs[i], args);
          if (args.gradOutput.defined() && differentiable[i]) t.requires_grad_(true);
          xs.push_back(t);
        }
        OpResult r;
        at::Tensor out = fn(xs, args.impl);
        if (args.gradOutput.defined()) {
          out.backward(args.gradOutput.to(out.device(), out.scalar_type()));
          for (size_t i = 0; i < xs.size(); ++i) {
            if (!differentiable[i]) continue;
            at::Tensor g = xs[i].grad();
            if (!g.defined()) g = at::zeros_like(xs[i]);
            r.grads.emplace_back(names[i], g.detach().to(at::kCPU, at::kFloat));
          }
        }
        r.output = out.detach().to(at::kCPU, at::kFloat);
        return r;
      },
      [](Napi::Env env, OpResult& r) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("output", Tensor::wrap(env, r.output));
        Napi::Object grads = Napi::Object::New(env);
        for (auto& [name, g] : r.grads) grads.Set(name, Tensor::wrap(env, g));
        o.Set("grads", grads);
        return o;
      });
}

double numberArg(const Napi::CallbackInfo& cb, size_t i, const char* what) {
  if (cb.Length() <= i || !cb[i].IsNumber()) fail(code::kInvalidArgument, std::string(what) + " must be a number", {{"field", what}});
  return cb[i].As<Napi::Number>().DoubleValue();
}

Napi::Value rmsNorm(const Napi::CallbackInfo& cb) {
  return guard(cb.Env(), [&]() -> Napi::Value {
    const double eps = numberArg(cb, 2, "eps");
    return runOp(cb, "rmsNorm", {"x", "weight"}, {true, true}, 3,
                 [eps](const std::vector<at::Tensor>& t, kernels::Impl impl) { return kernels::rmsNorm(t[0], t[1], eps, impl); });
  });
}

Napi::Value swiglu(const Napi::CallbackInfo& cb) {
  return guard(cb.Env(), [&]() -> Napi::Value {
    return runOp(cb, "swiglu", {"gate", "up"}, {true, true}, 2,
                 [](const std::vector<at::Tensor>& t, kernels::Impl impl) { return kernels::swiglu(t[0], t[1], impl); });
  });
}

// options.layout: 'bhsd' (the default) or 'bshd' (tensors given as [B, S, H, D], the op runs on
// their transposed views, as the decoder's are).
bool layoutIsBshd(const Napi::CallbackInfo& cb, size_t optionsIndex, const char* op) {
  if (cb.Length() <= optionsIndex || !cb[optionsIndex].IsObject()) return false;
  Napi::Value layout = cb[optionsIndex].As<Napi::Object>().Get("layout");
  if (!layout.IsString()) return false;
  const std::string l = layout.As<Napi::String>().Utf8Value();
  if (l != "bhsd" && l != "bshd") fail(code::kInvalidArgument, std::string("kernels.") + op + ": layout must be 'bhsd' or 'bshd'", {{"field", "layout"}});
  return l == "bshd";
}

// options.layout 'bshd': x is given as [B, S, H, D] and the op runs on its transposed view
// x.transpose(1, 2) (the decoder's q/k layout: strided, no copy); the output is [B, H, S, D].
Napi::Value rope(const Napi::CallbackInfo& cb) {
  return guard(cb.Env(), [&]() -> Napi::Value {
    const bool bshd = layoutIsBshd(cb, 3, "rope");
    return runOp(cb, "rope", {"x", "cos", "sin"}, {true, false, false}, 3,
                 [bshd](const std::vector<at::Tensor>& t, kernels::Impl impl) {
                   return kernels::rope(bshd ? t[0].transpose(1, 2) : t[0], t[1], t[2], impl);
                 });
  });
}

// "No bias" is a zero-length bias tensor (every argument of runOp is a tensor).
at::Tensor biasOrNone(const at::Tensor& t) { return t.numel() == 0 ? at::Tensor() : t; }
bool hasBias(const Napi::CallbackInfo& cb) { return Tensor::unwrap(cb[2], "bias").numel() > 0; }

Napi::Value linearOp(const Napi::CallbackInfo& cb) {
  return guard(cb.Env(), [&]() -> Napi::Value {
    return runOp(cb, "linear", {"x", "weight", "bias"}, {true, true, hasBias(cb)}, 3,
                 [](const std::vector<at::Tensor>& t, kernels::Impl impl) { return kernels::linear(t[0], t[1], biasOrNone(t[2]), impl); });
  });
}

Napi::Value loraLinearOp(const Napi::CallbackInfo& cb) {
  return guard(cb.Env(), [&]() -> Napi::Value {
    const double scaling = numberArg(cb, 5, "scaling");
    // options.dropout with options.seed: the hash-dropout node (kernels::loraLinearHashDropout)
    double dropout = 0;
    uint64_t seed = 0;
    if (cb.Length() > 6 && cb[6].IsObject()) {
      Napi::Object o = cb[6].As<Napi::Object>();
      if (o.Has("dropout")) dropout = o.Get("dropout").ToNumber().DoubleValue();
      if (o.Has("seed")) seed = static_cast<uint64_t>(o.Get("seed").ToNumber().DoubleValue());
    }
    // runOp reads its tensors from the first arguments: a and b come after bias, scaling after them.
    return runOp(cb, "loraLinear", {"x", "weight", "bias", "a", "b"}, {true, true, hasBias(cb), true, true}, 6,
                 [scaling, dropout, seed](const std::vector<at::Tensor>& t, kernels::Impl impl) {
                   if (dropout > 0) return kernels::loraLinearHashDropout(t[0], t[1], biasOrNone(t[2]), t[3], t[4], scaling, dropout, seed, impl);
                   return kernels::loraLinear(t[0], at::Tensor(), t[1], biasOrNone(t[2]), t[3], t[4], scaling, impl);
                 });
  });
}

Napi::Value hashDropoutOp(const Napi::CallbackInfo& cb) {
  return guard(cb.Env(), [&]() -> Napi::Value {
    const uint64_t seed = static_cast<uint64_t>(numberArg(cb, 1, "seed"));
    const double p = numberArg(cb, 2, "p");
    return runOp(cb, "hashDropout", {"x"}, {true}, 3,
                 [seed, p](const std::vector<at::Tensor>& t, kernels::Impl impl) { return kernels::hashDropout(t[0], seed, p, impl); });
  });
}

Napi::Value distillKlOp(const Napi::CallbackInfo& cb) {
  return guard(cb.Env(), [&]() -> Napi::Value {
    const double temperature = numberArg(cb, 2, "temperature");
    return runOp(cb, "distillKl", {"student", "teacher"}, {true, false}, 3,
                 [temperature](const std::vector<at::Tensor>& t, kernels::Impl impl) { return kernels::distillKl(t[0], t[1], temperature, impl); });
  });
}

Napi::Value crossEntropyOp(const Napi::CallbackInfo& cb) {
  return guard(cb.Env(), [&]() -> Napi::Value {
    return runOp(cb, "crossEntropy", {"logits", "targets"}, {true, false}, 2,
                 [](const std::vector<at::Tensor>& t, kernels::Impl impl) { return kernels::crossEntropySum(t[0], t[1], impl); });
  });
}

Napi::Value linearCrossEntropyOp(const Napi::CallbackInfo& cb) {
  return guard(cb.Env(), [&]() -> Napi::Value {
    int64_t chunkRows = 0;
    if (cb.Length() > 3 && cb[3].IsObject()) {
      Napi::Value c = cb[3].As<Napi::Object>().Get("chunkRows");
      if (!c.IsUndefined()) {
        if (!c.IsNumber() || c.As<Napi::Number>().DoubleValue() < 1) {
          fail(code::kInvalidArgument, "kernels.linearCrossEntropy: chunkRows must be a number ≥ 1", {{"field", "chunkRows"}});
        }
        chunkRows = static_cast<int64_t>(c.As<Napi::Number>().DoubleValue());
      }
    }
    return runOp(cb, "linearCrossEntropy", {"h", "weight", "targets"}, {true, true, false}, 3,
                 [chunkRows](const std::vector<at::Tensor>& t, kernels::Impl impl) {
                   if (impl == kernels::Impl::Reference) return kernels::linearCrossEntropySumReference(t[0], t[1], t[2]);
                   return kernels::linearCrossEntropySum(t[0], t[1], t[2], chunkRows, impl);
                 });
  });
}

Napi::Value causalAttentionOp(const Napi::CallbackInfo& cb) {
  return guard(cb.Env(), [&]() -> Napi::Value {
    const bool bshd = layoutIsBshd(cb, 3, "causalAttention");
    return runOp(cb, "causalAttention", {"q", "k", "v"}, {true, true, true}, 3,
                 [bshd](const std::vector<at::Tensor>& t, kernels::Impl impl) {
                   if (!bshd) return kernels::causalAttention(t[0], t[1], t[2], impl);
                   return kernels::causalAttention(t[0].transpose(1, 2), t[1].transpose(1, 2), t[2].transpose(1, 2), impl).transpose(1, 2);
                 });
  });
}

Napi::Value decodeAttentionOp(const Napi::CallbackInfo& cb) {
  return guard(cb.Env(), [&]() -> Napi::Value {
    const int64_t prefix = static_cast<int64_t>(numberArg(cb, 4, "prefix"));
    return runOp(cb, "decodeAttention", {"q", "k", "v", "keyValid"}, {false, false, false, false}, 5,
                 [prefix](const std::vector<at::Tensor>& t, kernels::Impl impl) {
                   const int64_t T = prefix + t[3].size(1);
                   if (prefix < 0 || t[1].dim() != 4 || t[1].size(2) < T) {
                     fail(code::kInvalidArgument, "decodeAttention: k must be [B, Hkv, ≥ prefix + keyValid.size(1), D]", {{"field", "k"}});
                   }
                   const at::Tensor k = t[1].narrow(2, 0, T), v = t[2].narrow(2, 0, T);
                   const bool applies = kernels::decodeAttentionApplies(t[0], k, v);
                   if (impl == kernels::Impl::Cpu && !applies) {
                     fail(code::kInvalidArgument, "decodeAttention: the CPU kernel cannot run on these tensors (float32 CPU, one query, Hq a multiple of Hkv)",
                          {{"field", "q"}});
                   }
                   if (impl == kernels::Impl::Cuda) fail(code::kInvalidArgument, "decodeAttention has no CUDA kernel", {{"field", "impl"}});
                   return impl != kernels::Impl::Reference && applies ? kernels::decodeAttention(t[0], k, v, t[3], prefix)
                                                                      : kernels::decodeAttentionReference(t[0], k, v, t[3], prefix);
                 });
  });
}

}  // namespace

void initKernels(Napi::Env env, Napi::Object exports) {
  Napi::Object k = Napi::Object::New(env);
  k.Set("cudaBuilt", Napi::Boolean::New(env, kernels::cudaBuilt()));
  k.Set("rmsNorm", Napi::Function::New(env, rmsNorm, "rmsNorm"));
  k.Set("swiglu", Napi::Function::New(env, swiglu, "swiglu"));
  k.Set("rope", Napi::Function::New(env, rope, "rope"));
  k.Set("linear", Napi::Function::New(env, linearOp, "linear"));
  k.Set("loraLinear", Napi::Function::New(env, loraLinearOp, "loraLinear"));
  k.Set("hashDropout", Napi::Function::New(env, hashDropoutOp, "hashDropout"));
  k.Set("distillKl", Napi::Function::New(env, distillKlOp, "distillKl"));
  k.Set("crossEntropy", Napi::Function::New(env, crossEntropyOp, "crossEntropy"));
  k.Set("linearCrossEntropy", Napi::Function::New(env, linearCrossEntropyOp, "linearCrossEntropy"));
  k.Set("causalAttention", Napi::Function::New(env, causalAttentionOp, "causalAttention"));
  k.Set("decodeAttention", Napi::Function::New(env, decodeAttentionOp, "decodeAttention"));
  exports.Set("kernels", k);
}

}  // namespace cn
