// Online EWC (Kirkpatrick et al. 2017; online form of Schwarz et al. 2018).
// After task t: F_t = mean over N samples of (∂ log p(y|x)/∂θ)² (per sample, or per mini-batch
// as a cheaper approximation), F̃ ← γ F̃ + F_t, θ* ← θ. While training later tasks the loss gains
// (λ/2) Σ F̃ (θ − θ*)², whose gradient λ F̃ (θ − θ*) reaches the parameters (the reference
// detaches it, which makes its EWC plain LoRA).
// Options: lambda (default 1000), gamma (1.0), samples N (64), fisher "sample" | "batch",
// batchSize (for "batch", 8), seed (0).
#include <torch/csrc/autograd/custom_function.h>

#include <random>

#include "core/errors.h"
#include "methods/method.h"
#include "dist/process_group.h"
#include "models/decoder.h"

namespace cn {
namespace {

// (w/2) Σ F̃ (θ − θ*)² over all trainable tensors as one autograd node. Its forward works on the
// tensors flattened into one vector (a handful of ops however many tensors the tuner has) and its
// backward hands each tensor w F̃ (θ − θ*) directly; recording the sum tensor by tensor would add
// several graph nodes per LoRA matrix to every step.
struct EwcPenalty : public torch::autograd::Function<EwcPenalty> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, at::TensorList params, const at::Tensor& fisher, const at::Tensor& anchor,
                            double weight) {
    std::vector<at::Tensor> flat;
    for (const auto& p : params) flat.push_back(p.detach().reshape({-1}).to(at::kFloat));
    at::Tensor d = at::cat(flat) - anchor;
    at::Tensor fd = fisher * d;
    ctx->save_for_backward({fd});
    ctx->saved_data["weight"] = weight;
    std::vector<at::Tensor> shapes;  // each tensor's shape, to give its gradient back in it
    for (const auto& p : params) shapes.push_back(at::tensor(p.sizes().vec(), at::kLong));
    ctx->saved_data["shapes"] = shapes;
    return (fd * d).sum() * (weight / 2.0);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    at::Tensor g = ctx->get_saved_variables()[0] * (grads[0] * ctx->saved_data["weight"].toDouble());
    torch::autograd::variable_list out;
    int64_t offset = 0;
    for (const at::Tensor& shape : ctx->saved_data["shapes"].toTensorVector()) {
      std::vector<int64_t> dims(shape.data_ptr<int64_t>(), shape.data_ptr<int64_t>() + shape.numel());
      int64_t n = 1;
      for (int64_t d : dims) n *= d;
      out.push_back(g.narrow(0, offset, n).view(dims));
      offset += n;
    }
    out.push_back(at::Tensor());  // fisher
    out.push_back(at::Tensor());  // anchor
    out.push_back(at::Tensor());  // weight
    return out;
  }
};

class Ewc : public Method {
 public:
  explicit Ewc(const Options& o)
      : lambda_(o.number("lambda", 1000.0)),
        gamma_(o.number("gamma", 1.0)),
        samples_(o.integer("samples", 64)),
        perBatch_(o.string("fisher", "sample") == "batch"),
        batchSize_(o.integer("batchSize", 8)),
        seed_(static_cast<uint64_t>(o.integer("seed", 0))) {
    const std::string f = o.string("fisher", "sample");
    if (f != "sample" && f != "batch") fail(code::kConfig, "ewc.fisher must be 'sample' or 'batch'", {{"field", "method.fisher"}});
    if (lambda_ < 0 || gamma_ < 0 || samples_ < 1) fail(code::kConfig, "ewc needs lambda ≥ 0, gamma ≥ 0, samples ≥ 1", {{"field", "method"}});
  }
  std::string name() const override { return "ewc"; }

  at::Tensor extraLoss(MethodContext& ctx, const StudentOutput& student) override {
    if (fisher_.empty()) return at::Tensor();
    if (!flatFisher_.defined()) {
      std::vector<at::Tensor> f, a;
      for (size_t i = 0; i < fisher_.size(); ++i) {
        f.push_back(fisher_[i].reshape({-1}));
        a.push_back(anchor_[i].reshape({-1}));
      }
      flatFisher_ = at::cat(f).to(ctx.params[0].tensor.device());
      flatAnchor_ = at::cat(a).to(ctx.params[0].tensor.device());
    }
    std::vector<at::Tensor> params;
    for (const auto& p : ctx.params) params.push_back(p.tensor);
    const double weight = lambda_ * student.replicatedWeight / static_cast<double>(student.microBatches);
    return EwcPenalty::apply(at::TensorList(params), flatFisher_, flatAnchor_, weight);
  }

  void afterTask(MethodContext& ctx, int64_t task, const std::vector<Example>& data) override {
    if (data.empty()) return;
    std::vector<at::Tensor> f;
    for (const auto& p : ctx.params) f.push_back(at::zeros(p.tensor.sizes(), p.tensor.options().dtype(at::kFloat)));
    // N distinct samples, seeded by task so every rank and every resume picks the same ones.
    std::vector<int64_t> idx(data.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int64_t>(i);
    std::mt19937_64 rng(seed_ * 7919 + static_cast<uint64_t>(task));
    for (int64_t i = static_cast<int64_t>(idx.size()) - 1; i > 0; --i) std::swap(idx[i], idx[rng() % static_cast<uint64_t>(i + 1)]);
    idx.resize(std::min<size_t>(idx.size(), static_cast<size_t>(samples_)));
    const bool wasTraining = ctx.tuner.training();
    ctx.tuner.setTraining(false);
    zeroGradients(ctx.params);
    const int64_t group = perBatch_ ? batchSize_ : 1;
    int64_t groups = 0;
    // Data parallel: sample group g is computed by rank g mod world; the sums are added up below.
    const int64_t world = ctx.group ? ctx.group->size() : 1;
    const int64_t rank = ctx.group ? ctx.group->rank() : 0;
    for (size_t start = 0; start < idx.size(); start += group) {
      if (static_cast<int64_t>(groups++ % world) != rank) continue;
      std::vector<Example> chunk;
      for (size_t k = start; k < std::min(idx.size(), start + group); ++k) chunk.push_back(data[idx[k]]);
      meanLoss(ctx.model, chunk, ctx.padId).backward();
      at::NoGradGuard noGrad;
      for (size_t i = 0; i < ctx.params.size(); ++i) {
        const at::Tensor& g = ctx.params[i].tensor.grad();
        if (g.defined()) f[i].add_(g.to(at::kFloat).pow(2));
      }
      zeroGradients(ctx.params);
    }
    ctx.tuner.setTraining(wasTraining);
    at::NoGradGuard noGrad;
    if (world > 1) {
      // The Fisher of all ranks' samples: one flat sum, identical on every rank.
      at::Tensor flat = at::cat([&] {
        std::vector<at::Tensor> parts;
        for (auto& t : f) parts.push_back(t.reshape(-1));
        return parts;
      }()).contiguous();
      ctx.group->allReduce(flat, false);
      int64_t off = 0;
      for (auto& t : f) {
        t.copy_(flat.narrow(0, off, t.numel()).view(t.sizes()));
        off += t.numel();
      }
    }
    if (fisher_.empty()) {
      for (auto& t : f) fisher_.push_back(t / static_cast<double>(groups));
    } else {
      for (size_t i = 0; i < f.size(); ++i) fisher_[i] = fisher_[i] * gamma_ + f[i] / static_cast<double>(groups);
    }
    anchor_.clear();
    for (const auto& p : ctx.params) anchor_.push_back(p.tensor.detach().to(at::kFloat).clone());
    flatFisher_ = flatAnchor_ = at::Tensor();
  }

  std::vector<NamedTensor> state() override {
    std::vector<NamedTensor> out;
    for (size_t i = 0; i < fisher_.size(); ++i) {
      out.push_back({"fisher." + std::to_string(i), fisher_[i]});
      out.push_back({"anchor." + std::to_string(i), anchor_[i]});
    }
    return out;
  }
  void loadState(const std::map<std::string, at::Tensor>& s) override {
    fisher_.clear();
    anchor_.clear();
    flatFisher_ = flatAnchor_ = at::Tensor();
    for (size_t i = 0; s.count("fisher." + std::to_string(i)); ++i) {
      fisher_.push_back(s.at("fisher." + std::to_string(i)).to(at::kFloat).clone());
      anchor_.push_back(s.at("anchor." + std::to_string(i)).to(at::kFloat).clone());
    }
  }

  const std::vector<at::Tensor>& fisher() const { return fisher_; }

 private:
  double lambda_, gamma_;
  int64_t samples_;
  bool perBatch_;
  int64_t batchSize_;
  uint64_t seed_;
  std::vector<at::Tensor> fisher_, anchor_;
  at::Tensor flatFisher_, flatAnchor_;  // the same, concatenated, for the penalty (rebuilt when they change)
};

std::unique_ptr<Method> makeEwc(const Options& o) { return std::make_unique<Ewc>(o); }

}  // namespace
CN_REGISTER_METHOD("ewc", makeEwc);
}  // namespace cn
