#include "train/trainer.h"

#include <chrono>
#include <cmath>

#include "core/errors.h"
#include "train/loss.h"

namespace cn {

TrainOptions TrainOptions::fromOptions(const Options& o) {
  TrainOptions t;
  t.epochs = o.integer("epochs", t.epochs);
  t.batchSize = o.integer("batchSize", t.batchSize);
  t.gradAccum = o.integer("gradientAccumulation", t.gradAccum);
  t.maxSteps = o.integer("maxSteps", t.maxSteps);
  t.lr = o.number("learningRate", t.lr);
  t.schedule = Schedule::parse(o.string("lrScheduler", "linear"));
  t.warmupSteps = o.integer("warmupSteps", 0);
  t.warmupRatio = o.number("warmupRatio", 0.0);
  t.adamw.beta1 = o.number("adamBeta1", t.adamw.beta1);
  t.adamw.beta2 = o.number("adamBeta2", t.adamw.beta2);
  t.adamw.eps = o.number("adamEpsilon", t.adamw.eps);
  t.adamw.weightDecay = o.number("weightDecay", t.adamw.weightDecay);
  t.maxGradNorm = o.number("maxGradNorm", t.maxGradNorm);
  t.seed = static_cast<uint64_t>(o.integer("seed", 42));
  t.groupByLength = o.flag("groupByLength", true);
  t.padId = o.integer("padTokenId", 0);
  auto positive = [&](int64_t v, const char* name) {
    if (v < 1) fail(code::kConfig, std::string(name) + " must be ≥ 1", {{"field", name}});
  };
  positive(t.epochs, "epochs");
  positive(t.batchSize, "batchSize");
  positive(t.gradAccum, "gradientAccumulation");
  if (!(t.lr > 0)) fail(code::kConfig, "learningRate must be > 0", {{"field", "learningRate"}});
  return t;
}

Trainer::Trainer(std::shared_ptr<ModelState> state, TrainOptions options) : state_(std::move(state)), options_(options) {}

TrainSummary Trainer::fit(const std::vector<Example>& examples, const std::shared_ptr<ProgressSink>& progress, const CancelFlag& cancel) {
  std::lock_guard<std::mutex> lock(state_->mu);
  Decoder& model = *state_->decoder;
  if (!state_->tuner) fail(code::kConfig, "the model has no tuner: add one (addTuner) before training", {{"field", "tuner"}});
  Tuner& tuner = *state_->tuner;
  if (examples.empty()) fail(code::kInvalidArgument, "no training examples", {{"field", "examples"}});
  for (size_t i = 0; i < examples.size(); ++i) {
    const auto& e = examples[i];
    if (e.ids.size() != e.labels.size() || e.ids.empty()) {
      fail(code::kInvalidArgument, "example " + std::to_string(i) + " has " + std::to_string(e.ids.size()) + " ids and " +
                                       std::to_string(e.labels.size()) + " labels", {{"field", "examples"}, {"index", std::to_string(i)}});
    }
    for (int64_t id : e.ids) {
      if (id < 0 || id >= model.spec.vocabSize) {
        fail(code::kInvalidArgument, "example " + std::to_string(i) + " has token id " + std::to_string(id) + " outside the vocabulary (" +
                                         std::to_string(model.spec.vocabSize) + ")", {{"field", "examples"}, {"index", std::to_string(i)}});
      }
    }
  }

  std::vector<NamedTensor> params = tuner.parameters();
  AdamW optimizer(params, options_.adamw);
  const int64_t microPerEpoch = (static_cast<int64_t>(examples.size()) + options_.batchSize - 1) / options_.batchSize;
  const int64_t stepsPerEpoch = (microPerEpoch + options_.gradAccum - 1) / options_.gradAccum;
  int64_t totalSteps = stepsPerEpoch * options_.epochs;
  if (options_.maxSteps > 0) totalSteps = std::min(totalSteps, options_.maxSteps);
  Schedule schedule;
  schedule.kind = options_.schedule;
  schedule.totalSteps = totalSteps;
  schedule.warmupSteps = options_.warmupSteps > 0 ? options_.warmupSteps
                                                  : static_cast<int64_t>(std::ceil(options_.warmupRatio * totalSteps));

  tuner.setTraining(true);
  TrainSummary summary;
  double lossSum = 0;
  int64_t lossTokens = 0;
  const auto start = std::chrono::steady_clock::now();
  int64_t step = 0;
  for (int64_t epoch = 0; epoch < options_.epochs && step < totalSteps; ++epoch) {
    auto plan = planEpoch(examples, options_.batchSize, options_.seed, epoch, options_.groupByLength);
    for (size_t first = 0; first < plan.size() && step < totalSteps; first += options_.gradAccum) {
      if (cancel.raised.load()) fail(code::kAborted, "training was aborted at step " + std::to_string(step));
      const size_t last = std::min(plan.size(), first + static_cast<size_t>(options_.gradAccum));
      std::vector<Batch> micro;
      int64_t stepTokens = 0;
      for (size_t m = first; m < last; ++m) {
        micro.push_back(makeBatch(examples, plan[m], options_.padId, model.device));
        stepTokens += micro.back().labelledTokens;
      }
      // Every micro-batch's summed loss is divided by the labelled tokens of the whole step, so the
      // accumulated gradient is that of the mean over the step, whatever the micro-batch sizes.
      double stepLoss = 0;
      for (Batch& b : micro) {
        LossSum l = causalLmLossSum(model, b.inputIds, b.labels, b.keyValid);
        at::Tensor scaled = l.sum / static_cast<double>(std::max<int64_t>(1, stepTokens));
        at::Tensor reg = tuner.regularizer();
        if (reg.defined()) scaled = scaled + reg / static_cast<double>(micro.size());
        scaled.backward();
        stepLoss += l.sum.item<double>();
        summary.tokens += b.tokens;
      }
      if (options_.maxGradNorm > 0) clipGradNorm(params, options_.maxGradNorm);
      const double lr = options_.lr * schedule.factor(step);
      optimizer.step(lr);
      optimizer.zeroGrad();
      tuner.afterOptimizerStep(step);
      ++step;
      lossSum += stepLoss;
      lossTokens += stepTokens;
      summary.finalLoss = stepLoss / static_cast<double>(std::max<int64_t>(1, stepTokens));
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      emitIf(progress, ProgressEvent()
                           .num("step", static_cast<double>(step))
                           .num("totalSteps", static_cast<double>(totalSteps))
                           .num("epoch", static_cast<double>(epoch) + static_cast<double>(last) / plan.size())
                           .num("loss", summary.finalLoss)
                           .num("lr", lr)
                           .num("tokensPerSecond", summary.tokens / std::max(1e-9, elapsed))
                           .num("elapsedSeconds", elapsed)
                           .num("etaSeconds", elapsed / step * (totalSteps - step)));
    }
  }
  tuner.setTraining(false);
  summary.steps = step;
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  summary.meanLoss = lossSum / static_cast<double>(std::max<int64_t>(1, lossTokens));
  return summary;
}

}  // namespace cn
