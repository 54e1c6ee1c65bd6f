// EncoderSpec: the architecture of a BERT-style encoder (BERT, RoBERTa, XLM-R), normalised from a
// HF config.json by ts/encoder/encoder-config.ts.
#pragma once
#include <cstdint>
#include <string>

#include "core/options.h"

namespace cn {

struct EncoderSpec {
  int64_t vocabSize = 0;
  int64_t hiddenSize = 0;
  int64_t numLayers = 0;
  int64_t numHeads = 0;
  int64_t intermediateSize = 0;
  int64_t maxPositionEmbeddings = 512;
  int64_t typeVocabSize = 2;
  double layerNormEps = 1e-12;
  std::string hiddenAct = "gelu";  // gelu | gelu_new | gelu_pytorch_tanh | gelu_fast | relu | silu
  int64_t padTokenId = 0;
  // RoBERTa / XLM-R number real tokens from padding_idx + 1 (their position table reserves the
  // rows up to padding_idx); BERT numbers them from 0. -1 = BERT.
  int64_t positionPaddingIdx = -1;

  // The first position row a real token uses.
  int64_t firstPosition() const { return positionPaddingIdx < 0 ? 0 : positionPaddingIdx + 1; }
  // The longest sequence the position table can number.
  int64_t maxSequence() const { return maxPositionEmbeddings - firstPosition(); }
};

// Reads and checks a spec from its JS object (ERR_CONFIG naming the field).
EncoderSpec encoderSpecFromOptions(const Options& o);

}  // namespace cn
