#include "encoders/encoder_spec.h"

#include "core/errors.h"

namespace cn {

EncoderSpec encoderSpecFromOptions(const Options& o) {
  EncoderSpec s;
  s.vocabSize = o.integer("vocabSize", 0);
  s.hiddenSize = o.integer("hiddenSize", 0);
  s.numLayers = o.integer("numLayers", 0);
  s.numHeads = o.integer("numHeads", 0);
  s.intermediateSize = o.integer("intermediateSize", 0);
  s.maxPositionEmbeddings = o.integer("maxPositionEmbeddings", 512);
  s.typeVocabSize = o.integer("typeVocabSize", 2);
  s.layerNormEps = o.number("layerNormEps", 1e-12);
  s.hiddenAct = o.string("hiddenAct", "gelu");
  s.padTokenId = o.integer("padTokenId", 0);
  s.positionPaddingIdx = o.integer("positionPaddingIdx", -1);
  auto positive = [&](int64_t v, const char* name) {
    if (v < 1) fail(code::kConfig, std::string("encoder spec field ") + name + " must be ≥ 1", {{"field", name}});
  };
  positive(s.vocabSize, "vocabSize");
  positive(s.hiddenSize, "hiddenSize");
  positive(s.numLayers, "numLayers");
  positive(s.numHeads, "numHeads");
  positive(s.intermediateSize, "intermediateSize");
  positive(s.typeVocabSize, "typeVocabSize");
  if (s.hiddenSize % s.numHeads != 0) fail(code::kConfig, "hiddenSize must be a multiple of numHeads", {{"field", "numHeads"}});
  if (s.maxSequence() < 1) fail(code::kConfig, "maxPositionEmbeddings leaves no position for a token", {{"field", "maxPositionEmbeddings"}});
  const std::string& a = s.hiddenAct;
  if (a != "gelu" && a != "gelu_new" && a != "gelu_pytorch_tanh" && a != "gelu_fast" && a != "relu" && a != "silu" && a != "swish") {
    fail(code::kConfig, "unsupported hidden_act '" + a + "' (supported: gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu, silu)",
         {{"field", "hidden_act"}});
  }
  return s;
}

}  // namespace cn
