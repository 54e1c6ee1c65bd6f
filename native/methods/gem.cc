// GEM (Lopez-Paz & Ranzato 2017) and A-GEM (Chaudhry et al. 2019) on an episodic memory of m
// samples per finished task. Both act between backward and the optimizer step, on gradients
// only (one backward for the task loss; the reference's second backward makes it partly replay).
//   GEM: g_k = ∇ loss(memory of task k). If ⟨g, g_k⟩ ≥ 0 ∀k keep g; else solve the dual
//        min_{v ≥ margin} ½ vᵀ G Gᵀ v + gᵀ Gᵀ v exactly (methods/qp.h), g ← g + Gᵀ v.
//   A-GEM: g_ref = ∇ loss(a random memory batch); if ⟨g, g_ref⟩ < 0,
//        g ← g − (⟨g, g_ref⟩ / ⟨g_ref, g_ref⟩) g_ref.
// Data parallel under ZeRO-2 the projection is shard-aware: g and the memory gradients are
// reduce-scattered (each rank holds its owned tensors' part), the dot products ⟨g, g_k⟩, ⟨g_k, g_j⟩
// are summed over the shards with one all-reduce, every rank solves the same small problem, and
// each rank updates its own part (docs/distributed.md).
// Options: memoryPerTask (default 20), margin (GEM, default 0.5 as the paper's code),
// referenceBatch (A-GEM, default 4: each step costs one extra forward and backward of that many
// memory samples, ~0.65x a plain step of batch 8 here; at 8 A-GEM does twice a step's work, 1.9x),
// seed (0).
#include <random>

#include "core/errors.h"
#include "methods/math.h"
#include "methods/memory.h"
#include "methods/method.h"
#include "dist/process_group.h"
#include "models/decoder.h"
#include "train/loss.h"
#include "methods/qp.h"

namespace cn {
namespace {

class GemBase : public Method {
 public:
  explicit GemBase(const Options& o)
      : memory_(o.integer("memoryPerTask", 20), static_cast<uint64_t>(o.integer("seed", 0))),
        seed_(static_cast<uint64_t>(o.integer("seed", 0))) {
    if (o.integer("memoryPerTask", 20) < 1) fail(code::kConfig, "memoryPerTask must be ≥ 1", {{"field", "method.memoryPerTask"}});
  }
  void afterTask(MethodContext& ctx, int64_t task, const std::vector<Example>& data) override { memory_.add(task, data); }
  std::vector<NamedTensor> state() override { return memory_.state(); }
  void loadState(const std::map<std::string, at::Tensor>& s) override { memory_.loadState(s); }

 protected:
  // Gradient of the mean loss on `examples` (dropout off), flattened; the params' grads are left
  // holding it (the caller writes the step's gradient back).
  // Data parallel: each rank takes every world-th example, divides its summed loss by the labelled
  // tokens of all of them, and the ranks' gradients are summed: the same mean-loss gradient on
  // every rank, for a 1/world share of the compute. Under ZeRO-2 the sum is reduce-scattered: a
  // rank gets its owned shard (as localFlatGradients lays it out).
  at::Tensor gradientOn(MethodContext& ctx, const std::vector<Example>& examples) {
    const bool wasTraining = ctx.tuner.training();
    ctx.tuner.setTraining(false);
    zeroGradients(ctx.params);
    const int64_t world = ctx.group ? ctx.group->size() : 1;
    at::Tensor g;
    if (world == 1) {
      meanLoss(ctx.model, examples, ctx.padId).backward();
      g = flatGradients(ctx.params);
    } else {
      const int64_t rank = ctx.group->rank();
      int64_t tokens = 0;
      std::vector<int64_t> mine;
      for (size_t i = 0; i < examples.size(); ++i) {
        for (size_t t = 1; t < examples[i].labels.size(); ++t) tokens += examples[i].labels[t] != -100;
        if (static_cast<int64_t>(i) % world == rank) mine.push_back(static_cast<int64_t>(i));
      }
      if (!mine.empty()) {
        Batch b = makeBatch(examples, mine, ctx.padId, ctx.model.device);
        LossSum l = causalLmLossSum(ctx.model, b.inputIds, b.labels, b.keyValid, /*keepLogits=*/false);
        (l.sum / static_cast<double>(std::max<int64_t>(1, tokens))).backward();
      }
      g = reduceLocalGradients(ctx);
    }
    ctx.tuner.setTraining(wasTraining);
    return g;
  }

  EpisodicMemory memory_;
  uint64_t seed_;
  int64_t calls_ = 0;
};

class Gem : public GemBase {
 public:
  explicit Gem(const Options& o) : GemBase(o), margin_(o.number("margin", 0.5)) {}
  std::string name() const override { return "gem"; }

  void transformGradients(MethodContext& ctx) override {
    if (memory_.empty()) return;
    at::Tensor g = localFlatGradients(ctx);
    std::vector<at::Tensor> rows;
    for (const auto& task : memory_.tasks()) rows.push_back(gradientOn(ctx, task));
    at::Tensor G = at::stack(rows);  // [k, p] (ZeRO-2: [k, this rank's shard])
    at::Tensor gd = g.to(at::kDouble), Gd = G.to(at::kDouble);
    // G g and G Gᵀ: whole, or per shard and summed over the ranks (one all-reduce)
    const int64_t k = Gd.size(0);
    at::Tensor products = at::cat({Gd.mv(gd), Gd.mm(Gd.t()).reshape({-1})}).contiguous();
    sumOverShards(ctx, products);
    at::Tensor z = projectWith(g, G, products.narrow(0, 0, k), products.narrow(0, k, k * k).view({k, k}), margin_);
    setLocalFlatGradients(ctx, z);
  }

  // The GEM projection of g against the rows of G (exposed for the math tests).
  static at::Tensor project(const at::Tensor& g, const at::Tensor& G, double margin) {
    at::Tensor gd = g.to(at::kDouble), Gd = G.to(at::kDouble);
    return projectWith(g, G, Gd.mv(gd), Gd.mm(Gd.t()), margin);
  }
  // The same from the products Gg = G g and GGt = G Gᵀ (summed over shards): g or its part.
  static at::Tensor projectWith(const at::Tensor& g, const at::Tensor& G, const at::Tensor& Gg, const at::Tensor& GGt, double margin) {
    if ((Gg >= 0).all().item<bool>()) return g;
    at::Tensor v = solveBoundedQp(GGt, Gg, margin);
    return (g.to(at::kDouble) + G.to(at::kDouble).t().mv(v)).to(g.scalar_type());
  }

 private:
  double margin_;
};

class AGem : public GemBase {
 public:
  explicit AGem(const Options& o) : GemBase(o), refBatch_(o.integer("referenceBatch", 4)) {
    if (refBatch_ < 1) fail(code::kConfig, "referenceBatch must be ≥ 1", {{"field", "method.referenceBatch"}});
  }
  std::string name() const override { return "agem"; }

  void transformGradients(MethodContext& ctx) override {
    if (memory_.empty()) return;
    at::Tensor g = localFlatGradients(ctx);
    // a seeded random batch from the pooled memory
    std::vector<const Example*> pool;
    for (const auto& task : memory_.tasks()) for (const auto& e : task) pool.push_back(&e);
    std::mt19937_64 rng(seed_ * 31337 + static_cast<uint64_t>(calls_++));
    std::vector<Example> batch;
    for (int64_t i = 0; i < std::min<int64_t>(refBatch_, pool.size()); ++i) {
      const size_t j = i + rng() % (pool.size() - i);
      std::swap(pool[i], pool[j]);
      batch.push_back(*pool[i]);
    }
    at::Tensor ref = gradientOn(ctx, batch);
    // ⟨g, g_ref⟩ and ⟨g_ref, g_ref⟩: whole, or per shard and summed over the ranks
    at::Tensor dots = at::tensor({g.dot(ref).item<double>(), ref.dot(ref).item<double>()}, at::kDouble);
    sumOverShards(ctx, dots);
    setLocalFlatGradients(ctx, projectWith(g, ref, dots[0].item<double>(), dots[1].item<double>()));
  }

  static at::Tensor project(const at::Tensor& g, const at::Tensor& ref) {
    return projectWith(g, ref, g.dot(ref).item<double>(), ref.dot(ref).item<double>());
  }
  static at::Tensor projectWith(const at::Tensor& g, const at::Tensor& ref, double dot, double norm2) {
    if (dot >= 0) return g;
    if (norm2 <= 0) return g;
    return g - ref * (dot / norm2);
  }

  std::vector<NamedTensor> state() override {
    auto s = GemBase::state();
    s.push_back({"calls", at::tensor({calls_}, at::kLong)});
    return s;
  }
  void loadState(const std::map<std::string, at::Tensor>& s) override {
    GemBase::loadState(s);
    if (s.count("calls")) calls_ = s.at("calls").item<int64_t>();
  }

 private:
  int64_t refBatch_;
};

std::unique_ptr<Method> makeGem(const Options& o) { return std::make_unique<Gem>(o); }
std::unique_ptr<Method> makeAGem(const Options& o) { return std::make_unique<AGem>(o); }

}  // namespace

at::Tensor gemProject(const at::Tensor& g, const at::Tensor& G, double margin) { return Gem::project(g, G, margin); }
at::Tensor agemProject(const at::Tensor& g, const at::Tensor& ref) { return AGem::project(g, ref); }

CN_REGISTER_METHOD("gem", makeGem);
CN_REGISTER_METHOD("agem", makeAGem);
}  // namespace cn
