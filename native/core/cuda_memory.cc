// cudaMemory(device, { resetPeak }): the CUDA caching allocator's figures for one device (bytes
// allocated and reserved, now and at peak since the last reset) plus the device's name and size.
// For benchmarks (peak memory against HF's torch.cuda.max_memory_allocated, which reads the same
// counters) and for users sizing a run. A build without CUDA, or a device that is not there, is a
// DeviceError naming `device`.
#include "core/dtype.h"
#include "core/errors.h"
#include "core/exports.h"

#ifdef CN_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace cn {
namespace {

Napi::Value cudaMemory(const Napi::CallbackInfo& cb) {
  Napi::Env env = cb.Env();
  return guard(env, [&]() -> Napi::Value {
    const std::string name = cb.Length() > 0 && cb[0].IsString() ? cb[0].As<Napi::String>().Utf8Value() : "cuda";
    const bool resetPeak = cb.Length() > 1 && cb[1].IsObject() && cb[1].As<Napi::Object>().Get("resetPeak").ToBoolean().Value();
    const at::Device device = parseDevice(name);
    if (!device.is_cuda()) fail(code::kInvalidArgument, "cudaMemory(device): '" + name + "' is not a CUDA device", {{"field", "device"}});
#ifdef CN_WITH_CUDA
    namespace alloc = c10::cuda::CUDACachingAllocator;
    const auto index = device.index();
    const auto stats = alloc::getDeviceStats(index);
    constexpr auto all = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
    const cudaDeviceProp* prop = at::cuda::getDeviceProperties(index);
    Napi::Object out = Napi::Object::New(env);
    out.Set("device", "cuda:" + std::to_string(index));
    out.Set("name", std::string(prop->name));
    out.Set("totalBytes", static_cast<double>(prop->totalGlobalMem));
    out.Set("multiprocessors", prop->multiProcessorCount);
    out.Set("allocatedBytes", static_cast<double>(stats.allocated_bytes[all].current));
    out.Set("peakAllocatedBytes", static_cast<double>(stats.allocated_bytes[all].peak));
    out.Set("reservedBytes", static_cast<double>(stats.reserved_bytes[all].current));
    out.Set("peakReservedBytes", static_cast<double>(stats.reserved_bytes[all].peak));
    if (resetPeak) alloc::resetPeakStats(index);
    return out;
#else
    fail(code::kDevice, "cudaMemory: this build of the addon has no CUDA", {{"field", "device"}});
#endif
  });
}

}  // namespace

void initCudaMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaMemory", Napi::Function::New(env, cudaMemory, "cudaMemory"));
}

}  // namespace cn
