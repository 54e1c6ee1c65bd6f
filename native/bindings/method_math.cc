// JS surface `methods`: the registered CL method names, and the methods' formulas (methods/math.h)
// on small tensors, so the math tests check the very code that trains. Synchronous: these take
// test-sized tensors; training-sized work goes through Model (bindings/model.cc) on workers.
//   methods.names()                                   → string[]
//   methods.gemProject(g [p], G [k,p], margin)        → Tensor [p]
//   methods.agemProject(g [p], ref [p])               → Tensor [p]
//   methods.lwfDistillation(student [N,V], teacher [N,V], T) → { loss, grad: Tensor [N,V] }
//   methods.ciaBeta(theta, ema, g, gPrev | null, c, beta0)  → number
//   methods.solveBoundedQp(P [k,k], q [k], lower)     → Tensor [k]
#include "core/errors.h"
#include "core/exports.h"
#include "core/tensor.h"
#include "methods/math.h"
#include "methods/method.h"
#include "methods/qp.h"

namespace cn {
namespace {

double numberArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsNumber()) fail(code::kInvalidArgument, std::string(what) + " must be a number", {{"field", what}});
  return info[i].As<Napi::Number>().DoubleValue();
}

at::Tensor tensorArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i) fail(code::kInvalidArgument, std::string(what) + " is missing", {{"field", what}});
  return Tensor::unwrap(info[i], what);
}

Napi::Value names(const Napi::CallbackInfo& info) {
  auto list = methodNames();
  Napi::Array a = Napi::Array::New(info.Env(), list.size());
  for (size_t i = 0; i < list.size(); ++i) a.Set(static_cast<uint32_t>(i), list[i]);
  return a;
}

Napi::Value gem(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    at::Tensor g = tensorArg(info, 0, "g"), G = tensorArg(info, 1, "G");
    if (g.dim() != 1 || G.dim() != 2 || G.size(1) != g.size(0)) fail(code::kInvalidArgument, "gemProject needs g [p] and G [k, p]", {{"field", "G"}});
    return Tensor::wrap(info.Env(), gemProject(g, G, numberArg(info, 2, "margin")).clone());
  });
}

Napi::Value agem(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    at::Tensor g = tensorArg(info, 0, "g"), ref = tensorArg(info, 1, "ref");
    if (g.dim() != 1 || !g.sizes().equals(ref.sizes())) fail(code::kInvalidArgument, "agemProject needs g and ref of the same [p] shape", {{"field", "ref"}});
    return Tensor::wrap(info.Env(), agemProject(g, ref).clone());
  });
}

Napi::Value lwf(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    at::Tensor student = tensorArg(info, 0, "student").to(at::kFloat).detach().requires_grad_(true);
    at::Tensor teacher = tensorArg(info, 1, "teacher");
    if (student.dim() != 2 || !student.sizes().equals(teacher.sizes())) fail(code::kInvalidArgument, "lwfDistillation needs student and teacher of the same [N, V] shape", {{"field", "teacher"}});
    at::Tensor loss = lwfDistillation(student, teacher, numberArg(info, 2, "temperature"));
    loss.backward();
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("loss", loss.item<double>());
    o.Set("grad", Tensor::wrap(info.Env(), student.grad().clone()));
    return o;
  });
}

Napi::Value cia(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    at::Tensor theta = tensorArg(info, 0, "theta"), ema = tensorArg(info, 1, "ema"), g = tensorArg(info, 2, "g");
    at::Tensor gPrev = info.Length() > 3 && !info[3].IsNull() && !info[3].IsUndefined() ? Tensor::unwrap(info[3], "gPrev") : at::Tensor();
    return Napi::Number::New(info.Env(), ciaBeta(theta, ema, g, gPrev, numberArg(info, 4, "c"), numberArg(info, 5, "beta0")));
  });
}

Napi::Value qp(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    at::Tensor P = tensorArg(info, 0, "P"), q = tensorArg(info, 1, "q");
    if (P.dim() != 2 || q.dim() != 1 || P.size(0) != q.size(0) || P.size(1) != q.size(0)) fail(code::kInvalidArgument, "solveBoundedQp needs P [k, k] and q [k]", {{"field", "P"}});
    return Tensor::wrap(info.Env(), solveBoundedQp(P, q, numberArg(info, 2, "lower")).clone());
  });
}

}  // namespace

void initMethods(Napi::Env env, Napi::Object exports) {
  Napi::Object m = Napi::Object::New(env);
  m.Set("names", Napi::Function::New(env, names, "names"));
  m.Set("gemProject", Napi::Function::New(env, gem, "gemProject"));
  m.Set("agemProject", Napi::Function::New(env, agem, "agemProject"));
  m.Set("lwfDistillation", Napi::Function::New(env, lwf, "lwfDistillation"));
  m.Set("ciaBeta", Napi::Function::New(env, cia, "ciaBeta"));
  m.Set("solveBoundedQp", Napi::Function::New(env, qp, "solveBoundedQp"));
  exports.Set("methods", m);
}

}  // namespace cn
