// BertEncoder: the post-LayerNorm transformer encoder of BERT, RoBERTa and XLM-R (they differ
// only in how positions are numbered, see EncoderSpec), built from a checkpoint with the HF key
// names (embeddings.*, encoder.layer.N.*; a `bert.` / `roberta.` prefix is accepted).
#pragma once
#include <ATen/ATen.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "encoders/encoder_spec.h"
#include "models/linear.h"

namespace cn {

class WeightStore;

struct EncoderLayer {
  Linear query, key, value, attnOut;
  at::Tensor attnNormWeight, attnNormBias;
  Linear intermediate, output;
  at::Tensor outNormWeight, outNormBias;
};

class BertEncoder {
 public:
  EncoderSpec spec;
  at::Tensor wordEmbeddings, positionEmbeddings, tokenTypeEmbeddings;
  at::Tensor embedNormWeight, embedNormBias;
  std::vector<EncoderLayer> layers;

  // Takes every tensor the spec needs from `weights` and reports all problems at once
  // (ERR_MODEL_LOAD). Heads other checkpoints carry (pooler.*, cls.*, lm_head.*) are ignored.
  static std::unique_ptr<BertEncoder> fromWeights(const EncoderSpec& spec, WeightStore& weights);

  // Removes a leading `bert.` or `roberta.` from the names of a checkpoint saved from a model
  // with a head (BertForMaskedLM, ...), so the encoder's own names remain.
  static std::map<std::string, at::Tensor> stripModelPrefix(std::map<std::string, at::Tensor> tensors);

  // Last hidden states [B, S, H] (fp32) for right-padded `inputIds` [B, S] (int64) with
  // `valid` [B, S] bool marking real tokens.
  at::Tensor forward(const at::Tensor& inputIds, const at::Tensor& valid) const;

 private:
  at::Tensor activation(const at::Tensor& x) const;
};

}  // namespace cn
