// Per-environment state of the addon (one per main thread or worker_thread that loads it):
// the registered JS error classes and the constructors of wrapped classes.
#pragma once
#include <napi.h>

#include <map>
#include <string>

namespace cn {

struct EnvData {
  Napi::ObjectReference errorClasses;
  std::map<std::string, Napi::FunctionReference> constructors;
};

// Returns this environment's data, creating it on first use.
inline EnvData& envData(Napi::Env env) {
  EnvData* data = env.GetInstanceData<EnvData>();
  if (data == nullptr) {
    data = new EnvData();
    env.SetInstanceData(data);
  }
  return *data;
}

}  // namespace cn
