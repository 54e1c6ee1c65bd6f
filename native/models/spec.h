// DecoderSpec: the architecture of a decoder-only LLM, normalised from a HF config.json by
// ts/model/config.ts (families differ in names, not in what these fields mean).
#pragma once
#include <cstdint>
#include <string>

namespace cn {

enum class RopeScaling { None, Linear, Llama3 };

struct DecoderSpec {
  std::string family;  // "qwen2" | "llama" | "internlm2" | "baichuan"
  int64_t vocabSize = 0;
  int64_t hiddenSize = 0;
  int64_t numLayers = 0;
  int64_t numHeads = 0;
  int64_t numKvHeads = 0;
  int64_t headDim = 0;
  int64_t intermediateSize = 0;
  double rmsNormEps = 1e-6;
  double ropeTheta = 10000.0;
  RopeScaling ropeScaling = RopeScaling::None;
  double ropeFactor = 1.0;           // linear / llama3
  double ropeLowFreqFactor = 1.0;    // llama3
  double ropeHighFreqFactor = 4.0;   // llama3
  int64_t ropeOriginalMaxPositions = 8192;  // llama3
  bool useAlibi = false;             // Baichuan2-13B: ALiBi biases instead of RoPE
  bool normHead = false;             // Baichuan2: lm_head rows L2-normalised
  bool qkvBias = false;
  bool oBias = false;
  bool mlpBias = false;
  bool tieWordEmbeddings = false;
  int64_t maxPositionEmbeddings = 4096;
};

}  // namespace cn
