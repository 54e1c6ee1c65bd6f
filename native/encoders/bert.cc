#include "encoders/bert.h"

#include "core/errors.h"
#include "models/weights.h"

namespace cn {
namespace {

Linear takeLinear(WeightStore& w, const std::string& name, int64_t out, int64_t in) {
  Linear l;
  l.name = name;
  l.weight = w.take(name + ".weight", {out, in});
  l.bias = w.take(name + ".bias", {out});
  return l;
}

bool startsWith(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

}  // namespace

std::map<std::string, at::Tensor> BertEncoder::stripModelPrefix(std::map<std::string, at::Tensor> tensors) {
  for (const std::string prefix : {"bert.", "roberta."}) {
    bool any = false;
    for (const auto& [name, t] : tensors) any = any || startsWith(name, prefix + "embeddings.");
    if (!any) continue;
    std::map<std::string, at::Tensor> out;
    for (auto& [name, t] : tensors) out[startsWith(name, prefix) ? name.substr(prefix.size()) : name] = std::move(t);
    return out;
  }
  return tensors;
}

std::unique_ptr<BertEncoder> BertEncoder::fromWeights(const EncoderSpec& spec, WeightStore& w) {
  auto m = std::make_unique<BertEncoder>();
  m->spec = spec;
  const int64_t h = spec.hiddenSize, ff = spec.intermediateSize;
  m->wordEmbeddings = w.take("embeddings.word_embeddings.weight", {spec.vocabSize, h});
  m->positionEmbeddings = w.take("embeddings.position_embeddings.weight", {spec.maxPositionEmbeddings, h});
  m->tokenTypeEmbeddings = w.take("embeddings.token_type_embeddings.weight", {spec.typeVocabSize, h});
  m->embedNormWeight = w.take("embeddings.LayerNorm.weight", {h});
  m->embedNormBias = w.take("embeddings.LayerNorm.bias", {h});
  for (int64_t i = 0; i < spec.numLayers; ++i) {
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    EncoderLayer l;
    l.query = takeLinear(w, p + "attention.self.query", h, h);
    l.key = takeLinear(w, p + "attention.self.key", h, h);
    l.value = takeLinear(w, p + "attention.self.value", h, h);
    l.attnOut = takeLinear(w, p + "attention.output.dense", h, h);
    l.attnNormWeight = w.take(p + "attention.output.LayerNorm.weight", {h});
    l.attnNormBias = w.take(p + "attention.output.LayerNorm.bias", {h});
    l.intermediate = takeLinear(w, p + "intermediate.dense", ff, h);
    l.output = takeLinear(w, p + "output.dense", h, ff);
    l.outNormWeight = w.take(p + "output.LayerNorm.weight", {h});
    l.outNormBias = w.take(p + "output.LayerNorm.bias", {h});
    m->layers.push_back(std::move(l));
  }
  w.ignoreMatching([](const std::string& name) {
    // Not part of the encoder: the pooler (sentence-transformers pools itself), task heads, and
    // the position_ids buffer older checkpoints saved.
    return startsWith(name, "pooler.") || startsWith(name, "cls.") || startsWith(name, "lm_head.") ||
           name == "embeddings.position_ids";
  });
  w.finish();
  return m;
}

at::Tensor BertEncoder::activation(const at::Tensor& x) const {
  const std::string& a = spec.hiddenAct;
  if (a == "gelu") return at::gelu(x);
  if (a == "relu") return at::relu(x);
  if (a == "silu" || a == "swish") return at::silu(x);
  return at::gelu(x, "tanh");  // gelu_new, gelu_pytorch_tanh, gelu_fast: the tanh approximation
}

at::Tensor BertEncoder::forward(const at::Tensor& inputIds, const at::Tensor& valid) const {
  TORCH_CHECK(inputIds.dim() == 2, "input ids must be [batch, seq], got ", inputIds.sizes());
  const int64_t batch = inputIds.size(0), seq = inputIds.size(1);
  const int64_t heads = spec.numHeads, headDim = spec.hiddenSize / spec.numHeads;
  const double eps = spec.layerNormEps;
  at::Tensor positions;
  if (spec.positionPaddingIdx < 0) {
    positions = at::arange(seq, inputIds.options()).unsqueeze(0).expand({batch, seq});
  } else {
    // As RoBERTa: real tokens count up from padding_idx + 1, padding sits at padding_idx.
    at::Tensor v = valid.to(at::kLong);
    positions = v.cumsum(1) * v + spec.positionPaddingIdx;
  }
  at::Tensor x = at::embedding(wordEmbeddings, inputIds) + at::embedding(positionEmbeddings, positions) +
                 tokenTypeEmbeddings[0];  // one segment: token type 0 everywhere
  x = at::layer_norm(x, {spec.hiddenSize}, embedNormWeight, embedNormBias, eps);
  const at::Tensor keyMask = valid.view({batch, 1, 1, seq});  // true = attend
  for (const EncoderLayer& l : layers) {
    auto split = [&](const at::Tensor& t) { return t.view({batch, seq, heads, headDim}).transpose(1, 2); };
    at::Tensor q = split(l.query.forward(x)), k = split(l.key.forward(x)), v = split(l.value.forward(x));
    at::Tensor a = at::scaled_dot_product_attention(q, k, v, keyMask);
    a = a.transpose(1, 2).reshape({batch, seq, spec.hiddenSize});
    x = at::layer_norm(l.attnOut.forward(a) + x, {spec.hiddenSize}, l.attnNormWeight, l.attnNormBias, eps);
    at::Tensor f = l.output.forward(activation(l.intermediate.forward(x)));
    x = at::layer_norm(f + x, {spec.hiddenSize}, l.outNormWeight, l.outNormBias, eps);
  }
  return x;
}

}  // namespace cn
