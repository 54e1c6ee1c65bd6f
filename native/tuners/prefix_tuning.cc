// Prefix-Tuning (Li & Liang 2021) as PEFT's PREFIX_TUNING: every layer gets N trainable
// key/value pairs that every query attends to (never masked: not by causality, not by padding),
// fed to the attention as past keys/values, so real tokens' positions start at N (PEFT passes
// them as past_key_values). Generation stores them once at the front of the KV cache.
//
// The prefix values are a [N, layers·2·kvDim] table (kvDim = kvHeads·headDim; per token the
// layout is [layer][key|value][kvHead][headDim], PEFT's): either trained directly, or, with
// `projection`, the output of PEFT's reparameterisation MLP over an [N, kvDim] embedding:
// Linear(kvDim → encoderHiddenSize) → tanh → Linear(→ layers·2·kvDim). PEFT's file holds the
// table either way ("prompt_embeddings"); loading one into a projection tuner keeps the table
// and trains it directly (the MLP cannot be recovered from its output).
// Options: numVirtualTokens (20), projection (false), encoderHiddenSize (kvDim), seed (0).
#include <ATen/CPUGeneratorImpl.h>

#include "tuners/tuner.h"
#include "tuners/virtual_tokens.h"

namespace cn {
namespace {

class PrefixTuning : public Tuner {
 public:
  PrefixTuning(const Options& o, const Decoder& model) : n_(numVirtualTokens(o)) {
    projection_ = o.flag("projection", false);
    kvDim_ = model.spec.numKvHeads * model.spec.headDim;
    encoderHidden_ = o.integer("encoderHiddenSize", kvDim_);
    seed_ = o.integer("seed", 0);
    if (encoderHidden_ < 1) fail(code::kConfig, o.scope() + ".encoderHiddenSize must be ≥ 1", {{"field", o.scope() + ".encoderHiddenSize"}});
  }

  std::string peftType() const override { return "PREFIX_TUNING"; }

  void attach(Decoder& model) override {
    at::NoGradGuard noGrad;
    layers_ = model.spec.numLayers;
    kvHeads_ = model.spec.numKvHeads;
    headDim_ = model.spec.headDim;
    dtype_ = model.dtype;
    device_ = model.device;
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed_));
    const int64_t out = layers_ * 2 * kvDim_;
    if (projection_) {
      // PyTorch's creation order (Embedding, then each Linear's weight and bias)
      embedding_ = trainable(normalInit({n_, kvDim_}, gen), device_);
      w1_ = trainable(uniformInit({encoderHidden_, kvDim_}, kvDim_, gen), device_);
      b1_ = trainable(uniformInit({encoderHidden_}, kvDim_, gen), device_);
      w2_ = trainable(uniformInit({out, encoderHidden_}, encoderHidden_, gen), device_);
      b2_ = trainable(uniformInit({out}, encoderHidden_, gen), device_);
    } else {
      table_ = trainable(normalInit({n_, out}, gen), device_);
    }
    model.hooks.onEmbeddings = [this](at::Tensor&, at::Tensor&, at::Tensor& pos, int64_t) { pos = pos + n_; };
    model.hooks.prefixKv = [this](int64_t layer, int64_t batch) { return layerPrefix(layer, batch); };
  }

  void detach(Decoder& model) override {
    model.hooks.onEmbeddings = nullptr;
    model.hooks.prefixKv = nullptr;
  }

  std::vector<NamedTensor> parameters() override {
    if (table_.defined()) return {{"prompt_embeddings", table_}};
    return {{"prompt_encoder.embedding.weight", embedding_},
            {"prompt_encoder.transform.0.weight", w1_},
            {"prompt_encoder.transform.0.bias", b1_},
            {"prompt_encoder.transform.2.weight", w2_},
            {"prompt_encoder.transform.2.bias", b2_}};
  }

  std::vector<NamedTensor> adapterState() override {
    if (table_.defined()) return state();
    at::NoGradGuard noGrad;
    at::Tensor h = at::tanh(kernels::linear(embedding_, w1_, b1_));
    return {{"prompt_embeddings", kernels::linear(h, w2_, b2_)}};
  }

  void loadAdapterState(const std::map<std::string, at::Tensor>& saved, const std::string& source) override {
    if (projection_ && saved.count("prompt_embeddings")) {
      // PEFT's file: the projected table; train it directly from now on
      table_ = trainable(at::zeros({n_, layers_ * 2 * kvDim_}), device_);
      embedding_ = w1_ = b1_ = w2_ = b2_ = at::Tensor();
    }
    loadState(saved, source);
  }

 private:
  // {k, v} [B, kvHeads, N, headDim] of one layer, in the model's dtype.
  std::pair<at::Tensor, at::Tensor> layerPrefix(int64_t layer, int64_t batch) {
    at::Tensor block;  // [N, 2·kvDim]
    if (table_.defined()) {
      block = table_.narrow(1, layer * 2 * kvDim_, 2 * kvDim_);
    } else {
      // only this layer's rows of the last Linear: the MLP's output, one layer at a time
      at::Tensor h = at::tanh(kernels::linear(embedding_, w1_, b1_));
      block = kernels::linear(h, w2_.narrow(0, layer * 2 * kvDim_, 2 * kvDim_), b2_.narrow(0, layer * 2 * kvDim_, 2 * kvDim_));
    }
    at::Tensor kv = block.to(dtype_).view({n_, 2, kvHeads_, headDim_}).permute({1, 2, 0, 3});  // [2, Hkv, N, D]
    auto expand = [&](at::Tensor t) { return t.unsqueeze(0).expand({batch, kvHeads_, n_, headDim_}); };
    return {expand(kv.select(0, 0)), expand(kv.select(0, 1))};
  }

  int64_t n_, kvDim_ = 0, encoderHidden_, seed_;
  bool projection_;
  int64_t layers_ = 0, kvHeads_ = 0, headDim_ = 0;
  at::ScalarType dtype_ = at::kFloat;
  at::Device device_ = at::Device(at::kCPU);
  at::Tensor table_;                          // [N, layers·2·kvDim] (no projection, or loaded)
  at::Tensor embedding_, w1_, b1_, w2_, b2_;  // the reparameterisation MLP
};

std::unique_ptr<Tuner> makePrefixTuning(const Options& o, const Decoder& model) { return std::make_unique<PrefixTuning>(o, model); }

}  // namespace

CN_REGISTER_TUNER("prefix", makePrefixTuning);

}  // namespace cn
