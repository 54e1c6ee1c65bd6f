// info(): versions, devices, threads, BLAS and build flags, for `continual-next info` and bug reports.
#include <ATen/Config.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <torch/version.h>

#include "core/errors.h"
#include "core/exports.h"
#include "core/compute_thread.h"
#include "core/cpu_allocator.h"
#include "core/threads.h"
#include "kernels/gemm.h"

#ifndef CN_PACKAGE_VERSION
#define CN_PACKAGE_VERSION "0.0.0"
#endif

namespace cn {
namespace {

Napi::Value info(const Napi::CallbackInfo& cb) {
  Napi::Env env = cb.Env();
  return guard(env, [&]() -> Napi::Value {
    Napi::Object out = Napi::Object::New(env);
    out.Set("addonVersion", CN_PACKAGE_VERSION);

    Napi::Object torch = Napi::Object::New(env);
    torch.Set("version", TORCH_VERSION);
    torch.Set("cxx11Abi", Napi::Boolean::New(env, _GLIBCXX_USE_CXX11_ABI != 0));
    torch.Set("cudaAvailable", Napi::Boolean::New(env, at::hasCUDA()));
    torch.Set("mkl", Napi::Boolean::New(env, at::hasMKL()));
    torch.Set("mkldnn", Napi::Boolean::New(env, at::hasMKLDNN()));
    // which library runs the engine's CPU float32 products (kernels/gemm.h)
    torch.Set("cpuGemm", kernels::gemmBackendName(kernels::cpuGemmBackend()));
    torch.Set("openmp", Napi::Boolean::New(env, at::hasOpenMP()));
    torch.Set("lapack", Napi::Boolean::New(env, at::hasLAPACK()));
    torch.Set("config", at::show_config());
    torch.Set("parallel", at::get_parallel_info());
    out.Set("torch", torch);

    Napi::Array devices = Napi::Array::New(env);
    Napi::Object cpu = Napi::Object::New(env);
    cpu.Set("type", "cpu");
    cpu.Set("name", "cpu");
    devices.Set(0u, cpu);
    if (at::hasCUDA()) {
      const auto& hooks = at::detail::getCUDAHooks();
      for (int i = 0; i < hooks.deviceCount(); ++i) {
        Napi::Object d = Napi::Object::New(env);
        d.Set("type", "cuda");
        d.Set("name", "cuda:" + std::to_string(i));
        devices.Set(devices.Length(), d);
      }
    }
    out.Set("devices", devices);

    Napi::Object threads = Napi::Object::New(env);
    threads.Set("intraOp", at::get_num_threads());
    threads.Set("interOp", at::get_num_interop_threads());
    threads.Set("physicalCores", physicalCores());
    out.Set("threads", threads);
    const CpuAllocatorStats mem = cpuAllocatorStats();
    Napi::Object alloc = Napi::Object::New(env);
    alloc.Set("kind", mem.kind);
    alloc.Set("cachedBytes", static_cast<double>(mem.cachedBytes));
    alloc.Set("limitBytes", static_cast<double>(mem.limitBytes));
    alloc.Set("hits", static_cast<double>(mem.hits));
    alloc.Set("misses", static_cast<double>(mem.misses));
    out.Set("cpuAllocator", alloc);

    Napi::Object build = Napi::Object::New(env);
    build.Set("napiVersion", NAPI_VERSION);
#ifdef CN_WITH_CUDA
    build.Set("cuda", true);
#else
    build.Set("cuda", false);
#endif
#ifdef CN_WITH_GLOO
    build.Set("gloo", true);
#else
    build.Set("gloo", false);
#endif
#ifdef CN_WITH_NCCL
    build.Set("nccl", true);
#else
    build.Set("nccl", false);
#endif
    build.Set("compiler", __VERSION__);
    build.Set("cxxStandard", static_cast<double>(__cplusplus));
    out.Set("build", build);
    return out;
  });
}

Napi::Value setThreads(const Napi::CallbackInfo& cb) {
  return guard(cb.Env(), [&]() -> Napi::Value {
    if (cb.Length() < 1 || !cb[0].IsNumber() || cb[0].As<Napi::Number>().Int32Value() < 1) {
      fail(code::kInvalidArgument, "setThreads(n): n must be a positive integer", {{"field", "threads"}});
    }
    at::set_num_threads(cb[0].As<Napi::Number>().Int32Value());
    setComputeThreads(cb[0].As<Napi::Number>().Int32Value());
    return cb.Env().Undefined();
  });
}

}  // namespace

void initInfo(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Napi::Function::New(env, info, "info"));
  exports.Set("setThreads", Napi::Function::New(env, setThreads, "setThreads"));
}

}  // namespace cn
