// Prompt-Tuning (Lester et al. 2021) as PEFT's PROMPT_TUNING: N trainable virtual-token
// embeddings [N, hidden] are prepended to the input embeddings of every sequence; the base model
// stays frozen. PEFT key: "prompt_embeddings" [N, hidden].
// Options: numVirtualTokens (20), init ('random': N(0, 1) as PEFT; 'text': the embeddings of
// initTokenIds, repeated/truncated to N; 'sampleVocab': the embeddings of random vocabulary
// ids), initTokenIds (the tokenised init text, for 'text'), seed (0).
#include <ATen/CPUGeneratorImpl.h>

#include "tuners/tuner.h"
#include "tuners/virtual_tokens.h"

namespace cn {
namespace {

class PromptTuning : public Tuner {
 public:
  PromptTuning(const Options& o, const Decoder& model) : n_(numVirtualTokens(o)) {
    init_ = o.string("init", "random");
    seed_ = o.integer("seed", 0);
    const std::string scope = o.scope();
    if (init_ != "random" && init_ != "text" && init_ != "sampleVocab") {
      fail(code::kConfig, scope + ".init must be 'random', 'text' or 'sampleVocab' (got '" + init_ + "')", {{"field", scope + ".init"}});
    }
    for (const auto& s : o.strings("initTokenIds")) {
      int64_t id = -1;
      try {
        size_t used = 0;
        id = std::stoll(s, &used);
        if (used != s.size()) id = -1;
      } catch (...) {
        id = -1;
      }
      if (id < 0 || id >= model.spec.vocabSize) {
        fail(code::kConfig, scope + ".initTokenIds has '" + s + "', not a token id of this vocabulary (0.." + std::to_string(model.spec.vocabSize - 1) + ")",
             {{"field", scope + ".initTokenIds"}});
      }
      initIds_.push_back(id);
    }
    if (init_ == "text" && initIds_.empty()) {
      fail(code::kConfig, scope + ".init 'text' needs the init text's token ids (initTokenIds, or initText with a tokenizer)", {{"field", scope + ".initTokenIds"}});
    }
  }

  std::string peftType() const override { return "PROMPT_TUNING"; }

  void attach(Decoder& model) override {
    at::NoGradGuard noGrad;
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed_));
    const int64_t H = model.spec.hiddenSize;
    at::Tensor init;
    if (init_ == "random") {
      init = normalInit({n_, H}, gen);
    } else {
      std::vector<int64_t> ids;
      if (init_ == "text") {
        // PEFT: the text's ids repeated until there are N, then cut to N
        for (int64_t i = 0; i < n_; ++i) ids.push_back(initIds_[i % initIds_.size()]);
      } else {
        at::Tensor drawn = at::randint(model.spec.vocabSize, {n_}, gen, at::TensorOptions().dtype(at::kLong));
        ids.assign(drawn.data_ptr<int64_t>(), drawn.data_ptr<int64_t>() + n_);
      }
      at::Tensor index = at::tensor(ids, at::kLong).to(model.embed.device());
      init = model.embed.index_select(0, index).to(at::kFloat);
    }
    prompts_ = trainable(init, model.device);
    model.hooks.onEmbeddings = [this](at::Tensor& x, at::Tensor& valid, at::Tensor& pos, int64_t past) {
      if (past == 0) prependVirtualTokens(prompts_, x, valid, pos);
    };
  }

  void detach(Decoder& model) override { model.hooks.onEmbeddings = nullptr; }

  std::vector<NamedTensor> parameters() override { return {{"prompt_embeddings", prompts_}}; }

 private:
  int64_t n_;
  std::string init_;
  std::vector<int64_t> initIds_;
  int64_t seed_;
  at::Tensor prompts_;  // [N, H] fp32
};

std::unique_ptr<Tuner> makePromptTuning(const Options& o, const Decoder& model) { return std::make_unique<PromptTuning>(o, model); }

}  // namespace

CN_REGISTER_TUNER("prompt", makePromptTuning);

}  // namespace cn
