// Bottleneck adapters (Houlsby et al. 2019): after a layer's attention output and/or its MLP
// output, before the residual add, h ← h + up(dropout(act(down(h)))), with down: [d, H] + bias
// (U(±1/√H), as nn.Linear's default weight init), up: [H, d] + bias, both zero, so a fresh adapter
// leaves the model unchanged. PEFT has no such type: our own format (docs/formats.md), keys
// base_model.model.model.layers.<i>.<attn|mlp>_adapter.<down|up>_proj.<weight|bias>.
// Options: bottleneckDim (64), activation (relu | gelu | silu | tanh; relu), placement
// (attention | mlp | both; both), dropout (0), seed (0).
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "core/errors.h"
#include "models/decoder.h"
#include "tuners/dropout.h"
#include "tuners/tuner.h"

namespace cn {
namespace {

struct Bottleneck {
  at::Tensor downW, downB, upW, upB;
};

class HoulsbyAdapter : public Tuner {
 public:
  HoulsbyAdapter(const Options& o, const Decoder&) {
    const std::string s = o.scope();
    dim_ = o.integer("bottleneckDim", 64);
    activation_ = o.string("activation", "relu");
    placement_ = o.string("placement", "both");
    dropout_ = o.number("dropout", 0.0);
    seed_ = o.integer("seed", 0);
    if (dim_ < 1) fail(code::kConfig, s + ".bottleneckDim must be ≥ 1", {{"field", s + ".bottleneckDim"}});
    if (activation_ != "relu" && activation_ != "gelu" && activation_ != "silu" && activation_ != "tanh") {
      fail(code::kConfig, s + ".activation must be relu, gelu, silu or tanh (got '" + activation_ + "')", {{"field", s + ".activation"}});
    }
    if (placement_ != "attention" && placement_ != "mlp" && placement_ != "both") {
      fail(code::kConfig, s + ".placement must be attention, mlp or both (got '" + placement_ + "')", {{"field", s + ".placement"}});
    }
    if (dropout_ < 0 || dropout_ >= 1) fail(code::kConfig, s + ".dropout must be in [0, 1)", {{"field", s + ".dropout"}});
    gen_ = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed_) ^ 0xada97e5ULL);
  }

  std::string peftType() const override { return "HOULSBY_ADAPTER"; }

  void attach(Decoder& model) override {
    at::NoGradGuard noGrad;
    at::Generator init = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed_));
    const int64_t hidden = model.spec.hiddenSize;
    auto opts = model.embed.options();
    auto make = [&]() {
      const double bound = 1.0 / std::sqrt(static_cast<double>(hidden));
      Bottleneck b;
      b.downW = at::empty({dim_, hidden}, at::kFloat).uniform_(-bound, bound, init).to(opts.device(), opts.dtype());
      b.downB = at::zeros({dim_}, opts);
      b.upW = at::zeros({hidden, dim_}, opts);
      b.upB = at::zeros({hidden}, opts);
      for (at::Tensor* t : {&b.downW, &b.downB, &b.upW, &b.upB}) t->set_requires_grad(true);
      return b;
    };
    const bool attn = placement_ != "mlp", mlp = placement_ != "attention";
    for (size_t i = 0; i < model.layers.size(); ++i) {
      if (attn) attn_.push_back(make());
      if (mlp) mlp_.push_back(make());
    }
    if (attn) model.hooks.afterAttention = [this](int64_t layer, const at::Tensor& out) { return apply(attn_[layer], out); };
    if (mlp) model.hooks.afterMlp = [this](int64_t layer, const at::Tensor& out) { return apply(mlp_[layer], out); };
  }

  void detach(Decoder& model) override {
    model.hooks.afterAttention = nullptr;
    model.hooks.afterMlp = nullptr;
    attn_.clear();
    mlp_.clear();
  }

  std::vector<NamedTensor> parameters() override {
    std::vector<NamedTensor> out;
    auto add = [&](const std::vector<Bottleneck>& v, const char* where) {
      for (size_t i = 0; i < v.size(); ++i) {
        const std::string p = "base_model.model.model.layers." + std::to_string(i) + "." + where + "_adapter.";
        out.push_back({p + "down_proj.weight", v[i].downW});
        out.push_back({p + "down_proj.bias", v[i].downB});
        out.push_back({p + "up_proj.weight", v[i].upW});
        out.push_back({p + "up_proj.bias", v[i].upB});
      }
    };
    add(attn_, "attn");
    add(mlp_, "mlp");
    return out;
  }

  std::vector<at::Generator*> generators() override { return {&gen_}; }

 private:
  int64_t dim_, seed_;
  std::string activation_, placement_;
  double dropout_;
  at::Generator gen_;
  std::vector<Bottleneck> attn_, mlp_;

  at::Tensor act(const at::Tensor& x) const {
    if (activation_ == "gelu") return at::gelu(x);
    if (activation_ == "silu") return at::silu(x);
    if (activation_ == "tanh") return at::tanh(x);
    return at::relu(x);
  }

  at::Tensor apply(const Bottleneck& b, const at::Tensor& out) {
    at::Tensor h = tunerDropout(act(kernels::linear(out, b.downW, b.downB)), dropout_, gen_, training_);
    return out + kernels::linear(h, b.upW, b.upB);
  }
};

std::unique_ptr<Tuner> makeAdapter(const Options& o, const Decoder& model) { return std::make_unique<HoulsbyAdapter>(o, model); }

}  // namespace

CN_REGISTER_TUNER("adapter", makeAdapter);

}  // namespace cn
