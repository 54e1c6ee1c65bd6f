// The JS ProcessGroup class's native side, for other bindings that take a group (Model.train).
#pragma once
#include <napi.h>

#include <memory>

#include "dist/process_group.h"

namespace cn {
// The group behind a JS ProcessGroup argument; nullptr for undefined/null. Throws
// ERR_INVALID_ARGUMENT for anything else and ERR_DISPOSED after dispose().
std::shared_ptr<ProcessGroup> unwrapProcessGroup(Napi::Value value, const char* what);
}  // namespace cn
