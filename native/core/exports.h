// The addon's module-level registrations: each native area adds its exports in one init function,
// and native/addon.cc calls them in order. Adding an area = one file + one line in addon.cc.
#pragma once
#include <napi.h>

namespace cn {
void initInfo(Napi::Env env, Napi::Object exports);
void initCudaMemory(Napi::Env env, Napi::Object exports);
void initDiagnostics(Napi::Env env, Napi::Object exports);
void initSafetensors(Napi::Env env, Napi::Object exports);
void initModel(Napi::Env env, Napi::Object exports);
void initKernels(Napi::Env env, Napi::Object exports);
void initMethods(Napi::Env env, Napi::Object exports);
void initEncoder(Napi::Env env, Napi::Object exports);
void initDistributed(Napi::Env env, Napi::Object exports);
}  // namespace cn
