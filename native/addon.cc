// Module init: registers every native area, nothing else. Where things live:
//   core/     errors, async work, progress, dtypes, tensor bridge, info
//   io/       safetensors read/write
//   models/   the decoder and one file per model family
//   encoders/ the BERT-style sentence encoder and its pooling
//   tuners/   one file per tuner (LoRA, ...)
//   methods/  one file per continual-learning method (EWC, LwF, GEM, A-GEM, CIA)
//   train/    loss, optimizer, schedules, batching, trainer
//   generate/ KV-cache generation
//   kernels/  fused ops: CUDA kernels with libtorch references
//   dist/     process groups (c10d TCPStore + Gloo) for data-parallel training
//   bindings/ JS classes over the above
#include "core/cpu_allocator.h"
#include "core/errors.h"
#include "core/exports.h"
#include "core/tensor.h"
#include "core/threads.h"

namespace {

Napi::Value registerErrorClasses(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsObject()) {
    throw Napi::TypeError::New(info.Env(), "registerErrorClasses(classes) needs an object");
  }
  cn::registerErrorClasses(info.Env(), info[0].As<Napi::Object>());
  return info.Env().Undefined();
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  cn::applyDefaultThreads();
  cn::installCpuAllocator();
  exports.Set("registerErrorClasses", Napi::Function::New(env, registerErrorClasses, "registerErrorClasses"));
  cn::initInfo(env, exports);
  cn::initCudaMemory(env, exports);
  cn::initDiagnostics(env, exports);
  cn::initSafetensors(env, exports);
  cn::Tensor::init(env, exports);
  cn::initModel(env, exports);
  cn::initKernels(env, exports);
  cn::initMethods(env, exports);
  cn::initEncoder(env, exports);
  cn::initDistributed(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(continual_next, init)
