// Tuner: a parameter-efficient fine-tuning method attached to a Decoder (LoRA, MoELoRA, AdaLoRA,
// adapters, prompt/prefix tuning). A tuner is one file tuners/<name>.cc that implements this
// interface and registers a factory with CN_REGISTER_TUNER("name", factory).
//
// Parameter keys are PEFT's saved names ("base_model.model.<module>.lora_A.weight"), so a
// tuner's state is an adapter_model.safetensors that PEFT can load.
#pragma once
#include <ATen/ATen.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/options.h"

namespace cn {

class Decoder;

struct NamedTensor {
  std::string name;
  at::Tensor tensor;
};

class Tuner {
 public:
  virtual ~Tuner() = default;
  // PEFT's peft_type ("LORA"), or our own name for types PEFT lacks.
  virtual std::string peftType() const = 0;
  // Installs the tuner's hooks on the model; called once.
  virtual void attach(Decoder& model) = 0;
  // Removes every hook (the model is the base model again).
  virtual void detach(Decoder& model) = 0;
  // The trainable tensors (requires_grad), with their PEFT key names.
  virtual std::vector<NamedTensor> parameters() = 0;
  // Training mode (dropout on) or evaluation mode.
  virtual void setTraining(bool training) { training_ = training; }
  bool training() const { return training_; }
  // Folds the tuner into the base weights where possible (LoRA merge); false if unsupported.
  virtual bool merge(Decoder& model) { return false; }
  virtual bool unmerge(Decoder& model) { return false; }
  // Called after every optimizer step (AdaLoRA's rank allocation uses it). True when it edited
  // trainable tensors in place, so the optimizer's float32 masters must take their values again.
  virtual bool afterOptimizerStep(int64_t step) { return false; }
  // Extra loss term (AdaLoRA's orthogonality regulariser); undefined when none.
  virtual at::Tensor regularizer() { return at::Tensor(); }
  // Non-trainable state saved with the adapter besides parameters() (e.g. masks).
  virtual std::vector<NamedTensor> buffers() { return {}; }
  // Random generators the tuner draws from while training (dropout), saved in checkpoints so a
  // resumed run draws the same numbers.
  virtual std::vector<at::Generator*> generators() { return {}; }

  // Copies saved tensors into parameters()/buffers() by name, checking shapes; reports every
  // missing, unexpected or mis-shaped tensor (ERR_MODEL_LOAD naming `source`). Virtual so a
  // tuner can accept other layouts of its state (AdaLoRA: PEFT's rank-pruned tensors).
  virtual void loadState(const std::map<std::string, at::Tensor>& state, const std::string& source);
  // parameters() followed by buffers(), detached.
  std::vector<NamedTensor> state();
  // What saveAdapter writes and loadAdapter reads (PEFT's file): state() by default. Tuners
  // whose PEFT file holds derived values (prefix/P-tuning encoders save their output) override
  // both; trainer checkpoints keep using state()/loadState().
  virtual std::vector<NamedTensor> adapterState() { return state(); }
  virtual void loadAdapterState(const std::map<std::string, at::Tensor>& saved, const std::string& source) { loadState(saved, source); }

 protected:
  bool training_ = true;
};

using TunerFactory = std::function<std::unique_ptr<Tuner>(const Options& options, const Decoder& model)>;

bool registerTuner(const std::string& name, TunerFactory factory);
std::unique_ptr<Tuner> makeTuner(const std::string& name, const Options& options, const Decoder& model);
std::vector<std::string> tunerNames();

// PEFT's module matching: a target matches a module whose name equals it or ends in "." + it;
// "all-linear" matches every projection but the output head.
bool matchesTarget(const std::string& module, const std::vector<std::string>& targets, const std::string& headName);

#define CN_REGISTER_TUNER(name, factory) \
  static const bool cn_tuner_registered_##factory = ::cn::registerTuner(name, factory)

}  // namespace cn
