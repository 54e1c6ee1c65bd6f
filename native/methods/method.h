// Method: a continual-learning method (EWC, LwF, GEM, A-GEM, CIA, ...) acting on training
// through hooks. A method is one file methods/<name>.cc that implements the hooks it needs and
// registers a factory with CN_REGISTER_METHOD("name", factory); see docs/methods.md.
//
// Order of calls, for each task t (0-based):
//   beforeTask(t) → per optimizer step: [per micro-batch: beforeForward → loss + extraLoss →
//   backward] → transformGradients → clip → optimizer step → afterOptimizerStep → afterTask(t, data)
// The stream runner calls beforeTask/afterTask (Model.beforeTask/afterTask in TS); the trainer
// calls the rest. state() is saved with every task checkpoint and in-task trainer checkpoint.
#pragma once
#include <ATen/ATen.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/options.h"
#include "train/batches.h"
#include "tuners/tuner.h"

namespace cn {

class Decoder;
class ProcessGroup;

// ZeRO-2 (docs/distributed.md): each trainable tensor has one owner rank, and during a step a rank
// holds the reduced (summed over the ranks) gradient of the tensors it owns only; the others'
// .grad() is undefined there.
struct GradientShards {
  std::vector<int> owner;  // per MethodContext::params index
  int rank = 0;
  bool owns(size_t k) const { return owner[k] == rank; }
};

// What a hook may use: the model, its tuner, the trainable tensors (with .grad() during a step).
struct MethodContext {
  Decoder& model;
  Tuner& tuner;
  std::vector<NamedTensor> params;
  int64_t padId = 0;
  // Data parallel: the job's group (null in one process). A method may shard end-of-task work
  // over it (EWC's Fisher); every rank must then call the same collectives.
  ProcessGroup* group = nullptr;
  // ZeRO-2 during fit() (null otherwise): a hook that reads or rewrites gradients sees only the
  // owned ones, and combines per-shard partial results with collectives over `group` (the
  // helpers below: localFlatGradients, sumOverShards, reduceLocalGradients).
  const GradientShards* shards = nullptr;
};

// The student's side of one micro-batch, for losses that compare with it (LwF).
struct StudentOutput {
  const Batch& batch;
  at::Tensor labelledLogits;  // undefined when the micro-batch has no labelled token  // [N, V] fp32 logits at the positions that predict a label
  int64_t stepTokens = 0;     // labelled tokens of the whole optimizer step (loss normaliser)
  int64_t microBatches = 1;   // micro-batches in the step
  // Data parallel: terms that depend only on the parameters (EWC's penalty) are the same on every
  // rank; multiplied by this (1 on rank 0, 0 elsewhere) the ranks' gradient sum counts them once.
  double replicatedWeight = 1.0;
};

class Method {
 public:
  virtual ~Method() = default;
  virtual std::string name() const = 0;

  virtual void beforeTask(MethodContext& ctx, int64_t task) {}
  // Before the student's forward on a micro-batch. A method that needs other weights' outputs on
  // the same batch (LwF's teacher) computes them here: once the student's graph exists, the
  // parameters must not be modified in place.
  virtual void beforeForward(MethodContext& ctx, const Batch& batch) {}
  // Extra loss term for one micro-batch, already normalised so that summing it over the step's
  // micro-batches gives the step's term; undefined when none.
  virtual at::Tensor extraLoss(MethodContext& ctx, const StudentOutput& student) { return at::Tensor(); }
  // Whether extraLoss reads student.labelledLogits (LwF). When no method does, the loss may skip
  // the [tokens × vocab] logits (train/loss.h).
  virtual bool needsStudentLogits() const { return false; }
  // Between backward and the optimizer step: may rewrite the parameters' .grad().
  virtual void transformGradients(MethodContext& ctx) {}
  // After the optimizer step, with the step's gradients still in .grad().
  virtual void afterOptimizerStep(MethodContext& ctx, int64_t step) {}
  // After the task's training, with the task's training examples.
  virtual void afterTask(MethodContext& ctx, int64_t task, const std::vector<Example>& data) {}

  // Everything the method keeps across tasks, for checkpoints (names are the method's own).
  virtual std::vector<NamedTensor> state() { return {}; }
  // What a trainer checkpoint saves: state(), unless the method keeps part of it sharded under
  // ZeRO-2 (CIA's previous gradient); then it gathers it. Every rank calls it (collectives are
  // allowed), rank 0 writes the result.
  virtual std::vector<NamedTensor> checkpointState(MethodContext& ctx) { return state(); }
  virtual void loadState(const std::map<std::string, at::Tensor>& state) {}
};

using MethodFactory = std::function<std::unique_ptr<Method>(const Options& options)>;
bool registerMethod(const std::string& name, MethodFactory factory);
std::unique_ptr<Method> makeMethod(const std::string& name, const Options& options);
std::vector<std::string> methodNames();

#define CN_REGISTER_METHOD(name, factory) \
  static const bool cn_method_registered_##factory = ::cn::registerMethod(name, factory)

// Shared helpers for methods.
// All gradients flattened into one fp32 vector (zeros for params without grad).
at::Tensor flatGradients(const std::vector<NamedTensor>& params);
// Writes a flat vector back into the params' .grad().
void setFlatGradients(const std::vector<NamedTensor>& params, const at::Tensor& flat);
void zeroGradients(const std::vector<NamedTensor>& params);
// The gradients this rank works on, flattened (fp32): all of them (flatGradients), or under
// ZeRO-2 the owned tensors' only, in parameter order (a rank's shard of the flat gradient).
at::Tensor localFlatGradients(const MethodContext& ctx);
// Writes such a vector back; under ZeRO-2 frees every non-owned gradient.
void setLocalFlatGradients(const MethodContext& ctx, const at::Tensor& flat);
// Under ZeRO-2: sums per-shard partial results (dot products) over the ranks (all-reduce, in
// place); otherwise leaves them as they are (they are already whole).
void sumOverShards(const MethodContext& ctx, at::Tensor& partial);
// Data parallel: the gradients now in .grad() (each rank's own part of a loss) summed over the
// ranks, as localFlatGradients lays them out: all-reduced, or under ZeRO-2 reduce-scattered so each
// rank receives its owned shard only. One process: flatGradients.
at::Tensor reduceLocalGradients(const MethodContext& ctx);
// Mean causal-LM loss of examples (as in training), with gradients flowing to the params.
at::Tensor meanLoss(Decoder& model, const std::vector<Example>& examples, int64_t padId);
// Packs examples into tensors for checkpoints and back.
std::vector<NamedTensor> packExamples(const std::string& prefix, const std::vector<Example>& examples);
std::vector<Example> unpackExamples(const std::string& prefix, const std::map<std::string, at::Tensor>& state);

}  // namespace cn
