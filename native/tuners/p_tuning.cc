// P-Tuning (Liu et al. 2021) as PEFT's P_TUNING: N virtual-token embeddings produced by a
// trainable prompt encoder over an [N, hidden] embedding, prepended to the input embeddings.
// PEFT's PromptEncoder: 'MLP' = Linear(H→E) ReLU Linear(E→E) ReLU Linear(E→H); 'LSTM' = a
// bidirectional LSTM (encoderNumLayers layers, hidden E, encoderDropout between layers) then
// Linear(2E→2E) ReLU Linear(2E→H). PEFT's file holds the encoder's output ("prompt_embeddings"
// [N, H]); loading one keeps those embeddings and trains them directly.
// Options: numVirtualTokens (20), encoderType ('MLP'), encoderHiddenSize (hidden size),
// encoderNumLayers (2; LSTM only), encoderDropout (0; LSTM only), seed (0).
#include <ATen/CPUGeneratorImpl.h>

#include "tuners/dropout.h"
#include "tuners/tuner.h"
#include "tuners/virtual_tokens.h"

namespace cn {
namespace {

class PTuning : public Tuner {
 public:
  PTuning(const Options& o, const Decoder& model) : n_(numVirtualTokens(o)) {
    const std::string scope = o.scope();
    type_ = o.string("encoderType", "MLP");
    hidden_ = model.spec.hiddenSize;
    encoderHidden_ = o.integer("encoderHiddenSize", hidden_);
    lstmLayers_ = o.integer("encoderNumLayers", 2);
    dropout_ = o.number("encoderDropout", 0.0);
    seed_ = o.integer("seed", 0);
    if (type_ != "MLP" && type_ != "LSTM") fail(code::kConfig, scope + ".encoderType must be 'MLP' or 'LSTM' (got '" + type_ + "')", {{"field", scope + ".encoderType"}});
    if (encoderHidden_ < 1) fail(code::kConfig, scope + ".encoderHiddenSize must be ≥ 1", {{"field", scope + ".encoderHiddenSize"}});
    if (lstmLayers_ < 1) fail(code::kConfig, scope + ".encoderNumLayers must be ≥ 1", {{"field", scope + ".encoderNumLayers"}});
    if (dropout_ < 0 || dropout_ >= 1) fail(code::kConfig, scope + ".encoderDropout must be in [0, 1)", {{"field", scope + ".encoderDropout"}});
    gen_ = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed_) ^ 0x9700a5ULL);
  }

  std::string peftType() const override { return "P_TUNING"; }

  void attach(Decoder& model) override {
    at::NoGradGuard noGrad;
    device_ = model.device;
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed_));
    const int64_t H = hidden_, E = encoderHidden_;
    params_.push_back({"prompt_encoder.embedding.weight", trainable(normalInit({n_, H}, gen), device_)});
    auto linear = [&](const std::string& name, int64_t in, int64_t out) {
      params_.push_back({name + ".weight", trainable(uniformInit({out, in}, in, gen), device_)});
      params_.push_back({name + ".bias", trainable(uniformInit({out}, in, gen), device_)});
    };
    if (type_ == "LSTM") {
      // torch.nn.LSTM's parameters, layer by layer, forward then reverse direction
      for (int64_t l = 0; l < lstmLayers_; ++l) {
        const int64_t in = l == 0 ? H : 2 * E;
        for (const std::string dir : {"", "_reverse"}) {
          const std::string s = "_l" + std::to_string(l) + dir;
          params_.push_back({"prompt_encoder.lstm_head.weight_ih" + s, trainable(uniformInit({4 * E, in}, E, gen), device_)});
          params_.push_back({"prompt_encoder.lstm_head.weight_hh" + s, trainable(uniformInit({4 * E, E}, E, gen), device_)});
          params_.push_back({"prompt_encoder.lstm_head.bias_ih" + s, trainable(uniformInit({4 * E}, E, gen), device_)});
          params_.push_back({"prompt_encoder.lstm_head.bias_hh" + s, trainable(uniformInit({4 * E}, E, gen), device_)});
        }
      }
      linear("prompt_encoder.mlp_head.0", 2 * E, 2 * E);
      linear("prompt_encoder.mlp_head.2", 2 * E, H);
    } else {
      linear("prompt_encoder.mlp_head.0", H, E);
      linear("prompt_encoder.mlp_head.2", E, E);
      linear("prompt_encoder.mlp_head.4", E, H);
    }
    model.hooks.onEmbeddings = [this](at::Tensor& x, at::Tensor& valid, at::Tensor& pos, int64_t past) {
      if (past == 0) prependVirtualTokens(prompts(), x, valid, pos);
    };
  }

  void detach(Decoder& model) override { model.hooks.onEmbeddings = nullptr; }

  std::vector<NamedTensor> parameters() override {
    if (direct_.defined()) return {{"prompt_embeddings", direct_}};
    return params_;
  }

  std::vector<at::Generator*> generators() override { return {&gen_}; }

  std::vector<NamedTensor> adapterState() override {
    at::NoGradGuard noGrad;
    const bool was = training_;
    training_ = false;  // the saved embeddings are the encoder's output without dropout
    at::Tensor out = prompts().detach();
    training_ = was;
    return {{"prompt_embeddings", out}};
  }

  void loadAdapterState(const std::map<std::string, at::Tensor>& saved, const std::string& source) override {
    if (saved.count("prompt_embeddings")) direct_ = trainable(at::zeros({n_, hidden_}), device_);  // PEFT's file: the output
    loadState(saved, source);
  }

 private:
  at::Tensor param(size_t i) const { return params_[i].tensor; }

  // The virtual-token embeddings [N, H] (fp32), through the encoder unless loaded directly.
  at::Tensor prompts() {
    if (direct_.defined()) return direct_;
    at::Tensor e = param(0);
    if (type_ == "MLP") {
      at::Tensor h = at::relu(kernels::linear(e, param(1), param(2)));
      h = at::relu(kernels::linear(h, param(3), param(4)));
      return kernels::linear(h, param(5), param(6));
    }
    // one bidirectional layer at a time, so the dropout between layers draws from our generator
    at::Tensor h = e.unsqueeze(0);  // [1, N, H], batch first
    const int64_t E = encoderHidden_;
    for (int64_t l = 0; l < lstmLayers_; ++l) {
      if (l > 0) h = tunerDropout(h, dropout_, gen_, training_);
      std::vector<at::Tensor> weights;
      for (size_t k = 0; k < 8; ++k) weights.push_back(param(1 + 8 * l + k));
      at::Tensor zeros = at::zeros({2, 1, E}, h.options());
      h = std::get<0>(at::lstm(h, {zeros, zeros}, weights, /*has_biases=*/true, /*num_layers=*/1, 0.0, training_,
                               /*bidirectional=*/true, /*batch_first=*/true));
    }
    h = h.squeeze(0);
    const size_t m = 1 + 8 * lstmLayers_;
    h = at::relu(kernels::linear(h, param(m), param(m + 1)));
    return kernels::linear(h, param(m + 2), param(m + 3));
  }

  int64_t n_, hidden_, encoderHidden_, lstmLayers_;
  double dropout_;
  int64_t seed_;
  std::string type_;
  at::Generator gen_;
  at::Device device_ = at::Device(at::kCPU);
  std::vector<NamedTensor> params_;  // embedding, then the encoder's tensors in PyTorch's order
  at::Tensor direct_;                // [N, H] when loaded from PEFT's file
};

std::unique_ptr<Tuner> makePTuning(const Options& o, const Decoder& model) { return std::make_unique<PTuning>(o, model); }

}  // namespace

CN_REGISTER_TUNER("ptuning", makePTuning);

}  // namespace cn
