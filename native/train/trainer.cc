#include "train/trainer.h"

#include <chrono>
#include <optional>
#include <cmath>

#include "core/errors.h"
#include "core/profile.h"
#include <filesystem>
#include <sstream>

#include <ATen/CPUGeneratorImpl.h>

#include "dist/gradient_sync.h"
#include "dist/zero.h"
#include "io/safetensors.h"
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
  t.gradientCheckpointing = o.flag("gradientCheckpointing", false);
  t.checkpointDir = o.string("checkpointDir", "");
  t.checkpointEvery = o.integer("checkpointEvery", 0);
  t.resume = o.flag("resume", false);
  const double bucketMb = o.number("ddpBucketMb", 4.0);
  if (!(bucketMb > 0)) fail(code::kConfig, "ddpBucketMb must be > 0", {{"field", "ddpBucketMb"}});
  t.ddpBucketBytes = static_cast<int64_t>(bucketMb * (1 << 20));
  t.zeroStage = o.integer("zeroStage", 0);
  if (t.zeroStage < 0 || t.zeroStage > 2) fail(code::kConfig, "zeroStage must be 0, 1 or 2 (got " + std::to_string(t.zeroStage) + "; ZeRO-3 is not implemented)", {{"field", "zeroStage"}});
  auto positive = [&](int64_t v, const char* name) {
    if (v < 1) fail(code::kConfig, std::string(name) + " must be ≥ 1", {{"field", name}});
  };
  positive(t.epochs, "epochs");
  positive(t.batchSize, "batchSize");
  positive(t.gradAccum, "gradientAccumulation");
  if (!(t.lr > 0)) fail(code::kConfig, "learningRate must be > 0", {{"field", "learningRate"}});
  return t;
}

namespace {

constexpr const char* kStateFile = "trainer-state.safetensors";

std::string exact(double v) {
  std::ostringstream o;
  o.precision(17);
  o << v;
  return o.str();
}

// Where the loop stands; saved as safetensors metadata next to the tensors.
struct Position {
  int64_t step = 0;
  int64_t epoch = 0;
  int64_t nextBatch = 0;  // first micro-batch of the next optimizer step within the epoch
  int64_t tokens = 0;
  double lossSum = 0;
  int64_t lossTokens = 0;
};

// What the saved position means: the data, the epoch plan and the step count. The plan is made in
// global micro-batches (batchSize × world size), so a checkpoint written by 2 ranks × batch 2
// resumes as 1 process × batch 4 and back; the ZeRO stage does not matter (the state is gathered).
std::string fingerprint(const TrainOptions& o, size_t examples, int64_t world) {
  std::ostringstream f;
  f << examples << '/' << o.epochs << '/' << o.batchSize * world << '/' << o.gradAccum << '/' << o.seed << '/' << o.groupByLength << '/' << o.maxSteps;
  return f.str();
}

// `rng[r][i]`: rank r's state of the tuner's generator i ("rng.<i>" for rank 0, as one process's
// file, "rng.<i>.rank<r>" for the others).
void saveCheckpoint(const std::string& dir, Tuner& tuner, const std::vector<NamedTensor>& methodState, const std::vector<NamedTensor>& optimizerState,
                    const std::vector<std::vector<at::Tensor>>& rng, const Position& pos, const std::string& fp) {
  std::filesystem::create_directories(dir);
  io::NamedTensors tensors;
  for (auto& t : tuner.state()) tensors.emplace_back("tuner." + t.name, t.tensor);
  for (auto& t : methodState) tensors.emplace_back("method." + t.name, t.tensor);
  for (auto& t : optimizerState) tensors.emplace_back("optimizer." + t.name, t.tensor);
  for (size_t r = 0; r < rng.size(); ++r) {
    for (size_t i = 0; i < rng[r].size(); ++i) tensors.emplace_back("rng." + std::to_string(i) + (r > 0 ? ".rank" + std::to_string(r) : std::string()), rng[r][i]);
  }
  io::Metadata meta{{"format", "continual-next trainer state 1"},
                    {"step", std::to_string(pos.step)},
                    {"epoch", std::to_string(pos.epoch)},
                    {"nextBatch", std::to_string(pos.nextBatch)},
                    {"tokens", std::to_string(pos.tokens)},
                    {"lossTokens", std::to_string(pos.lossTokens)},
                    {"lossSum", exact(pos.lossSum)},
                    {"fingerprint", fp}};
  io::saveSafetensors((std::filesystem::path(dir) / kStateFile).string(), tensors, meta);
}

// Restores tuner, optimizer and RNG state; returns the saved position. Rank r > 0 takes its own
// generator states when the file has them (`ownRng`), else rank 0's.
Position loadCheckpoint(const std::string& dir, Tuner& tuner, Method* method, AdamW& optimizer, const std::string& fp, int64_t rank, bool& ownRng) {
  const std::string file = (std::filesystem::path(dir) / kStateFile).string();
  io::SafetensorsReader reader(file);
  const auto& meta = reader.metadata();
  auto get = [&](const char* key) -> std::string {
    auto it = meta.find(key);
    if (it == meta.end()) fail(code::kIo, "checkpoint " + file + " lacks '" + key + "'", {{"file", file}});
    return it->second;
  };
  if (get("fingerprint") != fp) {
    fail(code::kConfig, "checkpoint " + file + " was written for other data or training options; remove it or keep the options",
         {{"file", file}});
  }
  std::map<std::string, at::Tensor> tunerState, methodState;
  std::vector<NamedTensor> optState;
  for (const auto& name : reader.names()) {
    if (name.rfind("tuner.", 0) == 0) tunerState[name.substr(6)] = reader.tensor(name);
    if (name.rfind("method.", 0) == 0) methodState[name.substr(7)] = reader.tensor(name);
    if (name.rfind("optimizer.", 0) == 0) optState.push_back({name.substr(10), reader.tensor(name)});
  }
  tuner.loadState(tunerState, file);
  if (method) method->loadState(methodState);
  Position pos;
  pos.step = std::stoll(get("step"));
  pos.epoch = std::stoll(get("epoch"));
  pos.nextBatch = std::stoll(get("nextBatch"));
  pos.tokens = std::stoll(get("tokens"));
  pos.lossTokens = std::stoll(get("lossTokens"));
  pos.lossSum = std::stod(get("lossSum"));
  optimizer.loadState(optState, pos.step);
  auto gens = tuner.generators();
  const std::string suffix = rank > 0 ? ".rank" + std::to_string(rank) : std::string();
  ownRng = true;
  for (size_t i = 0; i < gens.size(); ++i) ownRng = ownRng && reader.contains("rng." + std::to_string(i) + suffix);
  for (size_t i = 0; i < gens.size(); ++i) gens[i]->set_state(reader.tensor("rng." + std::to_string(i) + (ownRng ? suffix : std::string())));
  return pos;
}

// Labelled targets of an example (after the shift), as makeBatch counts them.
int64_t labelledTokens(const Example& e) {
  int64_t n = 0;
  for (size_t t = 1; t < e.labels.size(); ++t) n += e.labels[t] != -100;
  return n;
}

// FNV-1a, for comparing what each rank was given without sending it.
struct Fnv {
  uint64_t h = 1469598103934665603ULL;
  void add(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ULL;
  }
  void add(const std::string& s) { add(s.data(), s.size()); }
  void add(int64_t v) { add(&v, sizeof v); }
};

// Before any collective whose size depends on the model or data: every rank must have the same
// trainable tensors, options and examples, else the peers' collectives would not match (gloo
// aborts on a size mismatch). One fixed-size all-gather of hashes, compared with rank 0's.
void checkSameJob(ProcessGroup& group, const std::string& fp, const std::vector<NamedTensor>& params, const std::vector<Example>& examples) {
  Fnv options, layout, data;
  options.add(fp);
  for (const auto& p : params) {
    layout.add(p.name);
    for (int64_t d : p.tensor.sizes()) layout.add(d);
    layout.add(static_cast<int64_t>(p.tensor.scalar_type()));
  }
  for (const auto& e : examples) {
    data.add(e.ids.data(), e.ids.size() * sizeof(int64_t));
    data.add(e.labels.data(), e.labels.size() * sizeof(int64_t));
    data.add(static_cast<int64_t>(e.ids.size()));
  }
  at::Tensor mine = at::tensor({static_cast<int64_t>(options.h), static_cast<int64_t>(layout.h), static_cast<int64_t>(data.h)}, group.options(at::kLong));
  auto all = group.allGather(mine);
  for (auto& t : all) t = t.cpu();
  static const char* kWhat[] = {"training options (or the number of examples, or the CL method)", "trainable tensors (tuner, names, shapes)", "training examples"};
  for (size_t r = 1; r < all.size(); ++r) {
    for (int64_t k = 0; k < 3; ++k) {
      if (all[r][k].item<int64_t>() != all[0][k].item<int64_t>()) {
        fail(code::kDistributed, "rank " + std::to_string(r) + "'s " + kWhat[k] + " differ from rank 0's: every rank must call fit() with the same model, tuner, options and data",
             {{"field", k == 0 ? "options" : k == 1 ? "tuner" : "examples"}});
      }
    }
  }
}

}  // namespace

Trainer::Trainer(std::shared_ptr<ModelState> state, TrainOptions options, std::shared_ptr<ProcessGroup> group)
    : state_(std::move(state)), options_(options), group_(std::move(group)) {}

TrainSummary Trainer::fit(const std::vector<Example>& examples, const std::shared_ptr<ProgressSink>& progress, const CancelFlag& cancel) {
  std::lock_guard<std::mutex> lock(state_->mu);
  ScopedProfile profile("fit");
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
  const int64_t world = group_ ? group_->size() : 1;
  const int64_t rank = group_ ? group_->rank() : 0;
  // ZeRO-1/2: this rank's optimizer keeps and updates only the parameters it owns; ZeRO-2: it
  // also receives (reduce-scatter) and keeps only their gradients.
  std::unique_ptr<ShardedOptimizerState> zero;
  if (world > 1 && options_.zeroStage >= 1) zero = std::make_unique<ShardedOptimizerState>(group_, params);
  const bool zero2 = zero && options_.zeroStage == 2;
  GradientShards shards;
  if (zero2) shards = GradientShards{zero->owners(), static_cast<int>(rank)};
  AdamW optimizer(zero ? zero->owned() : params, options_.adamw);
  Method* method = state_->method.get();
  MethodContext ctx{model, tuner, params, options_.padId, group_ && group_->size() > 1 ? group_.get() : nullptr, zero2 ? &shards : nullptr};
  // Data parallel: the epoch is planned in global micro-batches of batchSize × world examples
  // (the same plan on every rank, and the plan one process with that batch size makes); rank r
  // trains on its slice [r·batchSize, (r+1)·batchSize) of each. The model must be on the group's
  // device: CPU for gloo, this rank's CUDA device for NCCL. With a group, the gradients go through
  // the group at any world size (at world size 1 that changes nothing but runs the same path).
  if (group_) group_->checkModelDevice(model.device, "fit");
  std::unique_ptr<GradientSync> sync;
  if (group_) sync = std::make_unique<GradientSync>(group_, params, options_.ddpBucketBytes, zero2 ? zero->owners() : std::vector<int>());
  const int64_t globalBatch = options_.batchSize * world;
  const int64_t microPerEpoch = (static_cast<int64_t>(examples.size()) + globalBatch - 1) / globalBatch;
  const int64_t stepsPerEpoch = (microPerEpoch + options_.gradAccum - 1) / options_.gradAccum;
  int64_t totalSteps = stepsPerEpoch * options_.epochs;
  if (options_.maxSteps > 0) totalSteps = std::min(totalSteps, options_.maxSteps);
  Schedule schedule;
  schedule.kind = options_.schedule;
  schedule.totalSteps = totalSteps;
  schedule.warmupSteps = options_.warmupSteps > 0 ? options_.warmupSteps
                                                  : static_cast<int64_t>(std::ceil(options_.warmupRatio * totalSteps));

  tuner.setTraining(true);
  model.gradientCheckpointing = options_.gradientCheckpointing;
  model.recomputeRng = tuner.generators();
  // Turn checkpointing off again however fit() ends.
  struct Reset {
    Decoder& m;
    ~Reset() {
      m.gradientCheckpointing = false;
      m.recomputeRng.clear();
    }
  } reset{model};
  TrainSummary summary;
  const std::string fp = fingerprint(options_, examples.size(), world) + '/' + (method ? method->name() : std::string("none"));
  Position pos;
  const bool checkpointing = !options_.checkpointDir.empty();
  bool ownRng = false;  // this rank's dropout streams came from the checkpoint
  if (checkpointing && options_.resume &&
      std::filesystem::exists(std::filesystem::path(options_.checkpointDir) / kStateFile)) {
    pos = loadCheckpoint(options_.checkpointDir, tuner, method, optimizer, fp, rank, ownRng);
    summary.resumedFromStep = pos.step;
  }
  if (sync) {
    // Bucket size and ZeRO shape the collectives; the rest would silently make the ranks diverge.
    const std::string jobOptions = fp + '/' + exact(options_.lr) + '/' + exact(options_.maxGradNorm) + '/' + exact(options_.adamw.weightDecay) + '/' +
                                   std::to_string(options_.ddpBucketBytes) + '/' + std::to_string(options_.zeroStage) + '/' +
                                   std::to_string(static_cast<int>(options_.schedule)) + '/' + std::to_string(options_.warmupSteps) + '/' + exact(options_.warmupRatio);
    checkSameJob(*group_, jobOptions, params, examples);
    sync->broadcastParameters();
    // Every rank starts from the same RNG state (seed, or a checkpoint without this rank's own
    // state); give each rank its own dropout stream, drawn from that state so it stays
    // deterministic for a given seed. A checkpoint of this world size restores each rank's stream.
    if (rank > 0 && !ownRng) {
      for (at::Generator* g : tuner.generators()) {
        std::lock_guard<std::mutex> lock(g->mutex());
        auto* cpu = at::check_generator<at::CPUGeneratorImpl>(*g);
        cpu->set_current_seed(cpu->random64() ^ (0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(rank)));
      }
    }
  }
  summary.tokens = pos.tokens;
  const auto start = std::chrono::steady_clock::now();
  int64_t& step = pos.step;
  const int64_t firstStep = pos.step;
  for (int64_t epoch = pos.epoch; epoch < options_.epochs && step < totalSteps; ++epoch) {
    auto plan = planEpoch(examples, globalBatch, options_.seed, epoch, options_.groupByLength);
    const size_t begin = epoch == pos.epoch ? static_cast<size_t>(pos.nextBatch) : 0;
    for (size_t first = begin; first < plan.size() && step < totalSteps; first += options_.gradAccum) {
      if (cancel.raised.load()) fail(code::kAborted, "training was aborted at step " + std::to_string(step));
      const size_t last = std::min(plan.size(), first + static_cast<size_t>(options_.gradAccum));
      // This rank's part of each global micro-batch (empty when the last one is short); the loss
      // normaliser is the labelled tokens of the whole global step, so summing the ranks'
      // gradients gives one process's gradient of the step's mean loss.
      std::vector<std::optional<Batch>> micro;
      int64_t stepTokens = 0;
      for (size_t m = first; m < last; ++m) {
        const auto& global = plan[m];
        for (int64_t i : global) stepTokens += labelledTokens(examples[i]);
        const size_t lo = std::min(global.size(), static_cast<size_t>(rank * options_.batchSize));
        const size_t hi = std::min(global.size(), static_cast<size_t>((rank + 1) * options_.batchSize));
        if (lo < hi) micro.emplace_back(makeBatch(examples, std::vector<int64_t>(global.begin() + lo, global.begin() + hi), options_.padId, model.device));
        else micro.emplace_back(std::nullopt);
      }
      double stepLoss = 0;
      int64_t rankTokens = 0;
      for (size_t j = 0; j < micro.size(); ++j) {
        if (!micro[j]) continue;
        Batch& b = *micro[j];
        if (method) method->beforeForward(ctx, b);
        LossSum l = causalLmLossSum(model, b.inputIds, b.labels, b.keyValid, /*keepLogits=*/method && method->needsStudentLogits());
        at::Tensor scaled = l.sum / static_cast<double>(std::max<int64_t>(1, stepTokens));
        // Terms of the parameters alone are the same on every rank: rank 0 alone adds them (its
        // slice is never empty), so the gradient sum counts them once.
        at::Tensor reg = tuner.regularizer();
        if (reg.defined() && rank == 0) scaled = scaled + reg / static_cast<double>(micro.size());
        if (method) {
          StudentOutput student{b, l.logits, stepTokens, static_cast<int64_t>(micro.size()), rank == 0 ? 1.0 : 0.0};
          at::Tensor extra = method->extraLoss(ctx, student);
          if (extra.defined()) scaled = scaled + extra;
        }
        // The step's last backward sends each gradient bucket as soon as it is complete.
        if (sync && j + 1 == micro.size()) sync->arm();
        scaled.backward();
        stepLoss += l.sum.item<double>();
        rankTokens += b.tokens;
      }
      if (sync) {
        // Sum gradients (and the step's loss and token count for the logs) over the ranks, before
        // any gradient transform: GEM/A-GEM project, and CIA reads, the global gradient.
        at::Tensor stats = at::tensor({stepLoss, static_cast<double>(rankTokens)}, group_->options(at::kDouble));  // NCCL: on its CUDA device
        sync->finish(stats);
        int64_t held = 0;
        for (const auto& p : params) held += p.tensor.grad().defined() ? p.tensor.numel() : 0;
        summary.gradientElements = std::max(summary.gradientElements, held);
        stepLoss = stats[0].item<double>();
        rankTokens = static_cast<int64_t>(stats[1].item<double>());
      }
      summary.tokens += rankTokens;
      // A method's gradient transform (GEM's projection) acts on the raw step gradient; clipping
      // then bounds what the optimizer sees.
      if (method) method->transformGradients(ctx);
      if (options_.maxGradNorm > 0) {
        if (zero2) zero->clipGradNorm(options_.maxGradNorm);  // the global norm, from the owned shards
        else clipGradNorm(params, options_.maxGradNorm);
      }
      const double lr = options_.lr * schedule.factor(step);
      optimizer.step(lr);
      if (zero) zero->broadcastParameters();
      if (method) method->afterOptimizerStep(ctx, step);
      if (zero2 && tuner.peftType() == "ADALORA") zero->gatherGradients();  // its allocator reads every gradient
      // before zeroing: AdaLoRA's allocator reads the gradients; its pruning edits the parameters
      if (tuner.afterOptimizerStep(step)) optimizer.refreshMasters();
      zeroGradients(params);
      ++step;
      pos.lossSum += stepLoss;
      pos.lossTokens += stepTokens;
      pos.tokens = summary.tokens;
      pos.epoch = epoch;
      pos.nextBatch = static_cast<int64_t>(last);
      if (pos.nextBatch >= static_cast<int64_t>(plan.size())) {
        pos.epoch = epoch + 1;
        pos.nextBatch = 0;
      }
      summary.finalLoss = stepLoss / static_cast<double>(std::max<int64_t>(1, stepTokens));
      if (checkpointing && ((options_.checkpointEvery > 0 && step % options_.checkpointEvery == 0) || step == totalSteps)) {
        // Rank 0 writes; under ZeRO every rank first contributes its optimizer shard (and, ZeRO-2,
        // its part of a method's sharded state), and every rank its own dropout generators' state.
        std::vector<NamedTensor> optState = zero ? zero->gatherState(optimizer.state()) : optimizer.state();
        std::vector<NamedTensor> methodState = method ? method->checkpointState(ctx) : std::vector<NamedTensor>();
        std::vector<std::vector<at::Tensor>> rng(static_cast<size_t>(world));
        for (at::Generator* g : tuner.generators()) {
          at::Tensor mine = g->get_state();
          if (world == 1) rng[0].push_back(mine);
          else {
            auto all = group_->allGather(mine.to(group_->device()).contiguous());  // a CPU byte tensor; NCCL: via CUDA
            for (int64_t r = 0; r < world; ++r) rng[r].push_back(all[r].cpu());
          }
        }
        if (rank == 0) saveCheckpoint(options_.checkpointDir, tuner, methodState, optState, rng, pos, fp);
      }
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      emitIf(progress, ProgressEvent()
                           .num("step", static_cast<double>(step))
                           .num("totalSteps", static_cast<double>(totalSteps))
                           .num("epoch", static_cast<double>(epoch) + static_cast<double>(last) / plan.size())
                           .num("loss", summary.finalLoss)
                           .num("lr", lr)
                           .num("tokensPerSecond", summary.tokens / std::max(1e-9, elapsed))
                           .num("elapsedSeconds", elapsed)
                           .num("etaSeconds", elapsed / std::max<int64_t>(1, step - firstStep) * (totalSteps - step)));
    }
  }
  tuner.setTraining(false);
  summary.steps = step;
  for (const auto& t : optimizer.state()) summary.optimizerElements += t.tensor.numel();
  if (!sync) for (const auto& p : params) summary.gradientElements += p.tensor.numel();
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  summary.meanLoss = pos.lossSum / static_cast<double>(std::max<int64_t>(1, pos.lossTokens));
  return summary;
}

}  // namespace cn
