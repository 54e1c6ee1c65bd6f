#include "models/spec_options.h"

#include "core/errors.h"

namespace cn {

DecoderSpec specFromOptions(const Options& o) {
  DecoderSpec s;
  s.family = o.string("family", "");
  s.vocabSize = o.integer("vocabSize", 0);
  s.hiddenSize = o.integer("hiddenSize", 0);
  s.numLayers = o.integer("numLayers", 0);
  s.numHeads = o.integer("numHeads", 0);
  s.numKvHeads = o.integer("numKvHeads", s.numHeads);
  s.headDim = o.integer("headDim", s.numHeads > 0 ? s.hiddenSize / s.numHeads : 0);
  s.intermediateSize = o.integer("intermediateSize", 0);
  s.rmsNormEps = o.number("rmsNormEps", 1e-6);
  s.ropeTheta = o.number("ropeTheta", 10000.0);
  const std::string scaling = o.string("ropeScaling", "none");
  if (scaling == "none") s.ropeScaling = RopeScaling::None;
  else if (scaling == "linear") s.ropeScaling = RopeScaling::Linear;
  else if (scaling == "llama3") s.ropeScaling = RopeScaling::Llama3;
  else fail(code::kConfig, "unsupported rope scaling '" + scaling + "' (supported: none, linear, llama3)", {{"field", "rope_scaling"}});
  s.ropeFactor = o.number("ropeFactor", 1.0);
  s.ropeLowFreqFactor = o.number("ropeLowFreqFactor", 1.0);
  s.ropeHighFreqFactor = o.number("ropeHighFreqFactor", 4.0);
  s.ropeOriginalMaxPositions = o.integer("ropeOriginalMaxPositions", 8192);
  s.useAlibi = o.flag("useAlibi", false);
  s.normHead = o.flag("normHead", false);
  s.qkvBias = o.flag("qkvBias", false);
  s.oBias = o.flag("oBias", false);
  s.mlpBias = o.flag("mlpBias", false);
  s.tieWordEmbeddings = o.flag("tieWordEmbeddings", false);
  s.maxPositionEmbeddings = o.integer("maxPositionEmbeddings", 4096);
  auto positive = [&](int64_t v, const char* name) {
    if (v < 1) fail(code::kConfig, std::string("model spec field ") + name + " must be ≥ 1", {{"field", name}});
  };
  positive(s.vocabSize, "vocabSize");
  positive(s.hiddenSize, "hiddenSize");
  positive(s.numLayers, "numLayers");
  positive(s.numHeads, "numHeads");
  positive(s.numKvHeads, "numKvHeads");
  positive(s.headDim, "headDim");
  positive(s.intermediateSize, "intermediateSize");
  if (s.numHeads % s.numKvHeads != 0) fail(code::kConfig, "numHeads must be a multiple of numKvHeads", {{"field", "numKvHeads"}});
  if (s.headDim % 2 != 0 && !s.useAlibi) fail(code::kConfig, "headDim must be even for RoPE", {{"field", "headDim"}});
  return s;
}

}  // namespace cn
