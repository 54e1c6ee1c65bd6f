// Full fine-tuning as a "tuner": every weight of the decoder is trainable, named as in the HF
// checkpoint, so its state is a model.safetensors. Options: trainEmbeddings (default true).
#include "models/decoder.h"
#include "tuners/tuner.h"

namespace cn {
namespace {

class FullFineTune : public Tuner {
 public:
  explicit FullFineTune(const Options& o) : trainEmbeddings_(o.flag("trainEmbeddings", true)) {}

  std::string peftType() const override { return "FULL"; }

  void attach(Decoder& model) override {
    params_.clear();
    auto add = [&](const std::string& name, at::Tensor& t) {
      if (!t.defined()) return;
      t.set_requires_grad(true);
      params_.push_back({name, t});
    };
    const std::string emb = model.spec.family == "internlm2" ? "model.tok_embeddings.weight" : "model.embed_tokens.weight";
    if (trainEmbeddings_) add(emb, model.embed);
    for (size_t i = 0; i < model.layers.size(); ++i) {
      DecoderLayer& layer = model.layers[i];
      const std::string p = "model.layers." + std::to_string(i) + ".";
      const bool internlm = model.spec.family == "internlm2";
      add(p + (internlm ? "attention_norm.weight" : "input_layernorm.weight"), layer.inputNorm);
      add(p + (internlm ? "ffn_norm.weight" : "post_attention_layernorm.weight"), layer.postNorm);
    }
    for (Linear* lin : model.linears()) {
      if (lin == &model.lmHead && model.spec.tieWordEmbeddings) continue;  // same tensor as the embeddings
      if (lin == &model.lmHead && !trainEmbeddings_) continue;
      add(lin->name + ".weight", lin->weight);
      add(lin->name + ".bias", lin->bias);
    }
    add("model.norm.weight", model.finalNorm);
  }

  void detach(Decoder& model) override {
    for (auto& p : params_) p.tensor.set_requires_grad(false);
    params_.clear();
  }

  std::vector<NamedTensor> parameters() override { return params_; }

 private:
  bool trainEmbeddings_;
  std::vector<NamedTensor> params_;
};

std::unique_ptr<Tuner> makeFull(const Options& o, const Decoder&) { return std::make_unique<FullFineTune>(o); }

}  // namespace

CN_REGISTER_TUNER("full", makeFull);

}  // namespace cn
