#include "generate/generate.h"

#include <ATen/CPUGeneratorImpl.h>

#include "core/errors.h"
#include "core/profile.h"
#include "models/decoder.h"

namespace cn {

GenerateOptions GenerateOptions::fromOptions(const Options& o) {
  GenerateOptions g;
  g.maxNewTokens = o.integer("maxNewTokens", g.maxNewTokens);
  g.sample = o.flag("doSample", false);
  g.temperature = o.number("temperature", 1.0);
  g.topK = o.integer("topK", 0);
  g.topP = o.number("topP", 1.0);
  for (const auto& s : o.strings("eosTokenIds")) g.eosIds.push_back(std::stoll(s));
  g.padId = o.integer("padTokenId", 0);
  g.seed = static_cast<uint64_t>(o.integer("seed", 0));
  if (g.maxNewTokens < 0) fail(code::kConfig, "maxNewTokens must be ≥ 0", {{"field", "maxNewTokens"}});
  if (g.sample && !(g.temperature > 0)) fail(code::kConfig, "temperature must be > 0 when sampling", {{"field", "temperature"}});
  if (!(g.topP > 0 && g.topP <= 1)) fail(code::kConfig, "topP must be in (0, 1]", {{"field", "topP"}});
  return g;
}

namespace {

at::Tensor pickNext(const at::Tensor& logits, const GenerateOptions& o, at::Generator& gen) {
  if (!o.sample) return logits.argmax(-1);
  at::Tensor l = logits / o.temperature;
  if (o.topK > 0 && o.topK < l.size(-1)) {
    at::Tensor kth = std::get<0>(l.topk(o.topK, -1)).narrow(-1, o.topK - 1, 1);
    l = l.masked_fill(l < kth, -std::numeric_limits<float>::infinity());
  }
  if (o.topP < 1.0) {
    auto [sorted, idx] = l.sort(-1, /*descending=*/true);
    at::Tensor cum = sorted.softmax(-1).cumsum(-1);
    // drop tokens once the mass before them already exceeds topP (the first token always stays)
    at::Tensor drop = (cum - sorted.softmax(-1)) > o.topP;
    sorted = sorted.masked_fill(drop, -std::numeric_limits<float>::infinity());
    l = at::full_like(l, -std::numeric_limits<float>::infinity()).scatter(-1, idx, sorted);
  }
  at::Tensor probs = l.softmax(-1).to(at::kCPU);
  return at::multinomial(probs, 1, false, gen).squeeze(-1).to(logits.device());
}

}  // namespace

std::vector<std::vector<int64_t>> generate(Decoder& model, const std::vector<std::vector<int64_t>>& prompts,
                                           const GenerateOptions& o, const TokenCallback& onStep) {
  at::InferenceMode inference;
  ScopedProfile profile("generate");
  const int64_t B = prompts.size();
  std::vector<std::vector<int64_t>> outputs(B);
  if (B == 0 || o.maxNewTokens == 0) return outputs;
  int64_t maxLen = 1;
  for (size_t r = 0; r < prompts.size(); ++r) {
    if (prompts[r].empty()) fail(code::kInvalidArgument, "prompt " + std::to_string(r) + " is empty", {{"field", "prompts"}, {"index", std::to_string(r)}});
    for (int64_t id : prompts[r]) {
      if (id < 0 || id >= model.spec.vocabSize) {
        fail(code::kInvalidArgument, "prompt " + std::to_string(r) + " has token id " + std::to_string(id) + " outside the vocabulary",
             {{"field", "prompts"}, {"index", std::to_string(r)}});
      }
    }
    maxLen = std::max<int64_t>(maxLen, prompts[r].size());
  }
  // Left padding: every row's last prompt token sits in the last column. Filled through accessors
  // as in train/batches.cc (tensor[r][t] = v costs a few ATen calls per token).
  at::Tensor ids = at::full({B, maxLen}, o.padId, at::kLong);
  at::Tensor valid = at::zeros({B, maxLen}, at::kBool);
  auto idsA = ids.accessor<int64_t, 2>();
  auto validA = valid.accessor<bool, 2>();
  for (int64_t r = 0; r < B; ++r) {
    const int64_t off = maxLen - static_cast<int64_t>(prompts[r].size());
    for (size_t t = 0; t < prompts[r].size(); ++t) {
      idsA[r][off + t] = prompts[r][t];
      validA[r][off + t] = true;
    }
  }
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  KvCache cache;
  // Only the last column's states are needed (each row's last prompt token); h is [B, H].
  at::Tensor lastColumn = at::zeros({B, maxLen}, at::kBool);
  lastColumn.select(1, maxLen - 1).fill_(true);
  at::Tensor h = model.hiddenAt(lastColumn, ids.to(model.device), valid.to(model.device), &cache);
  std::vector<bool> done(B, false);
  at::Tensor eos = at::tensor(std::vector<int64_t>(o.eosIds.begin(), o.eosIds.end()), at::kLong);
  for (int64_t step = 0; step < o.maxNewTokens; ++step) {
    at::Tensor logits = model.logits(h);  // [B, V]
    at::Tensor next = pickNext(logits, o, gen).to(at::kCPU);
    std::vector<int64_t> tokens(B, -1);
    auto nextA = next.accessor<int64_t, 1>();
    bool allDone = true;
    for (int64_t r = 0; r < B; ++r) {
      if (done[r]) continue;
      tokens[r] = nextA[r];
      outputs[r].push_back(nextA[r]);
      for (int64_t e : o.eosIds) if (nextA[r] == e) done[r] = true;
      if (!done[r]) allDone = false;
    }
    if (onStep && !onStep(tokens)) break;
    if (allDone || step + 1 == o.maxNewTokens) break;
    // Finished rows keep decoding a pad token (masked out) so the batch stays rectangular.
    at::Tensor feed = next.clone();
    at::Tensor feedValid = at::ones({B, 1}, at::kBool);
    auto feedA = feed.accessor<int64_t, 1>();
    auto feedValidA = feedValid.accessor<bool, 2>();
    for (int64_t r = 0; r < B; ++r) {
      if (done[r]) {
        feedA[r] = o.padId;
        feedValidA[r][0] = false;
      }
    }
    h = model.hidden(feed.view({B, 1}).to(model.device), feedValid.to(model.device), {}, &cache).select(1, 0);
  }
  return outputs;
}

}  // namespace cn
