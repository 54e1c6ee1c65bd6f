// Reads a DecoderSpec from the plain object ts/model/config.ts builds from config.json.
#pragma once
#include "core/options.h"
#include "models/spec.h"

namespace cn {
DecoderSpec specFromOptions(const Options& options);
}  // namespace cn
