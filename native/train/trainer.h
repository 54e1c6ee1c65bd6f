// Trainer: fine-tunes a model's trainable parameters (its tuner's, or all for full fine-tuning)
// on tokenised examples: micro-batches → masked causal-LM loss → backward → (accumulate) →
// clip → AdamW → schedule, with progress events and cancellation. Runs on a worker thread.
#pragma once
#include <memory>
#include <vector>

#include "core/options.h"
#include "dist/process_group.h"
#include "core/progress.h"
#include "models/model_state.h"
#include "train/adamw.h"
#include "train/batches.h"
#include "train/schedule.h"

namespace cn {

struct TrainOptions {
  int64_t epochs = 1;
  int64_t batchSize = 1;
  int64_t gradAccum = 1;
  int64_t maxSteps = -1;  // optimizer steps; -1 = from epochs
  double lr = 1e-4;
  Schedule::Kind schedule = Schedule::Kind::Linear;
  int64_t warmupSteps = 0;
  double warmupRatio = 0.0;
  AdamWOptions adamw;
  double maxGradNorm = 1.0;
  uint64_t seed = 42;
  bool groupByLength = true;
  int64_t padId = 0;
  bool gradientCheckpointing = false;
  // Checkpoints: every `checkpointEvery` optimizer steps (and at the end) the tuner, optimizer,
  // step, data position and RNG state go to <checkpointDir>/trainer-state.safetensors
  // (atomically); with `resume`, training continues from that file when it exists.
  std::string checkpointDir;
  int64_t checkpointEvery = 0;
  bool resume = false;
  int64_t ddpBucketBytes = 4 << 20;  // data parallel: gradient all-reduce bucket size
  int64_t zeroStage = 0;             // data parallel: 1 = optimizer state sharded over the ranks

  static TrainOptions fromOptions(const Options& o);
};

struct TrainSummary {
  int64_t steps = 0;
  int64_t resumedFromStep = 0;
  int64_t tokens = 0;
  double seconds = 0;
  double finalLoss = 0;   // mean loss of the last optimizer step
  double meanLoss = 0;    // mean over all labelled tokens seen
  // Memory per rank: gradient elements held after a step's reduction (the most over the steps;
  // ZeRO-2: the owned shard's), and AdamW moment elements kept (ZeRO-1/2: the owned shard's).
  int64_t gradientElements = 0;
  int64_t optimizerElements = 0;
};

class Trainer {
 public:
  // With a process group of more than one rank, training is data parallel (docs/distributed.md):
  // every rank passes the same examples and options; `batchSize` is per rank.
  Trainer(std::shared_ptr<ModelState> state, TrainOptions options, std::shared_ptr<ProcessGroup> group = nullptr);
  TrainSummary fit(const std::vector<Example>& examples, const std::shared_ptr<ProgressSink>& progress, const CancelFlag& cancel);

 private:
  std::shared_ptr<ModelState> state_;
  TrainOptions options_;
  std::shared_ptr<ProcessGroup> group_;
};

}  // namespace cn
