// ModelState: what a JS Model owns: the decoder, its tuner, its CL method, and a lock so that only one native
// operation (train, generate, save) touches the weights at a time. Shared by the Model and
// Trainer wrappers and by in-flight workers, so dispose() never frees memory a worker still uses.
#pragma once
#include <memory>
#include <mutex>
#include <string>

#include "models/decoder.h"
#include "methods/method.h"
#include "tuners/tuner.h"

namespace cn {

struct ModelState {
  std::unique_ptr<Decoder> decoder;
  std::unique_ptr<Tuner> tuner;
  std::string tunerName;
  // The continual-learning method acting on training (methods/), if any; it outlives tuners'
  // tasks: its state (Fisher, memories, EMA) spans the whole stream.
  std::unique_ptr<Method> method;
  std::string source;  // where the weights came from, for messages
  std::mutex mu;
};

}  // namespace cn
