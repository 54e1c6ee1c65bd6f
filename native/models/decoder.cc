#include "models/decoder.h"

#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <cstdlib>
#include <string>

#include "core/errors.h"
#include "kernels/causal_attention.h"
#include "kernels/decode_attention.h"
#include "kernels/rms_norm.h"
#include "kernels/rope.h"
#include "kernels/swiglu.h"
#include "models/family.h"
#include "models/weights.h"

namespace cn {

// The fused kernels (native/kernels): CPU or CUDA kernel where one takes the inputs, else the
// reference ATen ops (the HF formulation).
at::Tensor rmsNorm(const at::Tensor& x, const at::Tensor& weight, double eps) { return kernels::rmsNorm(x, weight, eps); }

namespace {

// ALiBi slopes for n heads (Press et al.), as Baichuan2-13B computes them.
at::Tensor alibiSlopes(int64_t n) {
  auto pow2Slopes = [](int64_t m) {
    std::vector<float> s;
    const double start = std::pow(2.0, -std::pow(2.0, -(std::log2(static_cast<double>(m)) - 3)));
    for (int64_t i = 0; i < m; ++i) s.push_back(static_cast<float>(std::pow(start, static_cast<double>(i + 1))));
    return s;
  };
  const int64_t closest = int64_t(1) << static_cast<int64_t>(std::floor(std::log2(static_cast<double>(n))));
  std::vector<float> slopes = pow2Slopes(closest);
  if (closest < n) {
    std::vector<float> extra = pow2Slopes(2 * closest);
    for (int64_t i = 0; i < n - closest; ++i) slopes.push_back(extra[2 * i]);
  }
  return at::tensor(slopes, at::kFloat);
}

// Recomputes one layer in the backward pass (as PyTorch's reentrant checkpoint): the forward
// runs without a graph, the backward reruns it with one and backpropagates through it, which
// also accumulates the gradients of the layer's trainable parameters (LoRA A/B).
at::Tensor orNone(const at::Tensor& t) { return t.numel() == 0 ? at::Tensor() : t; }

struct LayerCheckpoint : public torch::autograd::Function<LayerCheckpoint> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, at::Tensor x, Decoder* model, int64_t layer, at::Tensor cos,
                            at::Tensor sin, at::Tensor mask, bool causalOnly) {
    std::vector<at::Tensor> rng;
    for (at::Generator* g : model->recomputeRng) rng.push_back(g->get_state());
    ctx->saved_data["model"] = reinterpret_cast<int64_t>(model);
    ctx->saved_data["layer"] = layer;
    ctx->saved_data["rng"] = rng;
    ctx->saved_data["causalOnly"] = causalOnly;
    ctx->save_for_backward({x, cos, sin, mask});
    at::NoGradGuard noGrad;
    return model->layerForward(layer, x, orNone(cos), orNone(sin), AttentionMask{causalOnly, orNone(mask)}, nullptr);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    auto* model = reinterpret_cast<Decoder*>(ctx->saved_data["model"].toInt());
    const int64_t layer = ctx->saved_data["layer"].toInt();
    auto saved = ctx->get_saved_variables();
    // Rewind the dropout generators to where the forward pass drew from them.
    auto rng = ctx->saved_data["rng"].toTensorVector();
    std::vector<at::Tensor> now;
    for (size_t k = 0; k < model->recomputeRng.size(); ++k) {
      now.push_back(model->recomputeRng[k]->get_state());
      model->recomputeRng[k]->set_state(rng[k]);
    }
    at::Tensor x = saved[0].detach().requires_grad_(true);
    {
      at::AutoGradMode grad(true);
      const AttentionMask mask{ctx->saved_data["causalOnly"].toBool(), orNone(saved[3])};
      at::Tensor out = model->layerForward(layer, x, orNone(saved[1]), orNone(saved[2]), mask, nullptr);
      torch::autograd::backward({out}, {grads[0]});
    }
    for (size_t k = 0; k < model->recomputeRng.size(); ++k) model->recomputeRng[k]->set_state(now[k]);
    return {x.grad(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

at::Tensor checkpointedLayer(Decoder& model, int64_t layer, at::Tensor x, const at::Tensor& cos, const at::Tensor& sin,
                             const AttentionMask& mask) {
  // A layer whose input needs no gradient (the first, over frozen embeddings) would never see
  // its backward; make the input a leaf that does.
  if (!x.requires_grad()) x = x.detach().requires_grad_(true);
  // custom Functions take defined tensors only: an empty one stands for "none"
  auto orEmpty = [&](const at::Tensor& t) { return t.defined() ? t : at::empty({0}, x.options()); };
  return LayerCheckpoint::apply(x, &model, layer, orEmpty(cos), orEmpty(sin), orEmpty(mask.mask), mask.causalOnly);
}

}  // namespace

bool Decoder::packPaddingByDefault() {
  static const bool on = kernels::switchedOn("CN_PACK_PADDING");
  return on;
}

bool Decoder::trimLastLayerByDefault() {
  static const bool on = kernels::switchedOn("CN_TRIM_LAST_LAYER");
  return on;
}

std::unique_ptr<Decoder> Decoder::fromWeights(const DecoderSpec& spec, WeightStore& weights, at::ScalarType dtype, at::Device device) {
  auto model = std::make_unique<Decoder>();
  model->spec = spec;
  model->dtype = dtype;
  model->device = device;
  const FamilyBuilder& build = familyBuilder(spec.family);
  build(*model, weights);
  weights.finish();
  model->initRope();
  return model;
}

void Decoder::initRope() {
  const int64_t d = spec.headDim;
  at::Tensor exponent = at::arange(0, d, 2, at::kFloat) / static_cast<double>(d);
  at::Tensor inv = 1.0 / at::pow(spec.ropeTheta, exponent);
  if (spec.ropeScaling == RopeScaling::Linear) {
    inv = inv / spec.ropeFactor;
  } else if (spec.ropeScaling == RopeScaling::Llama3) {
    // Llama 3.1 frequency-dependent scaling: long wavelengths scaled by `factor`, short kept,
    // a smooth blend in between.
    const double lowWavelen = spec.ropeOriginalMaxPositions / spec.ropeLowFreqFactor;
    const double highWavelen = spec.ropeOriginalMaxPositions / spec.ropeHighFreqFactor;
    at::Tensor wavelen = 2 * M_PI / inv;
    at::Tensor scaled = at::where(wavelen > lowWavelen, inv / spec.ropeFactor, inv);
    at::Tensor smooth = (spec.ropeOriginalMaxPositions / wavelen - spec.ropeLowFreqFactor) /
                        (spec.ropeHighFreqFactor - spec.ropeLowFreqFactor);
    at::Tensor blended = (1 - smooth) * scaled / spec.ropeFactor + smooth * scaled;
    at::Tensor medium = (wavelen >= highWavelen).logical_and(wavelen <= lowWavelen);
    inv = at::where(medium, blended, scaled);
  }
  ropeInvFreq_ = inv.to(device);
  if (spec.useAlibi) alibiSlopes_ = alibiSlopes(spec.numHeads).to(device);
}

std::vector<Linear*> Decoder::linears() {
  std::vector<Linear*> out;
  for (auto& layer : layers) {
    auto& a = layer.attn;
    if (a.packing == AttentionBlock::Packing::Separate) {
      out.insert(out.end(), {&a.q, &a.k, &a.v});
    } else {
      out.push_back(&a.qkv);
    }
    out.insert(out.end(), {&a.o, &layer.mlp.gate, &layer.mlp.up, &layer.mlp.down});
  }
  out.push_back(&lmHead);
  return out;
}

at::Tensor Decoder::positionsFrom(const at::Tensor& keyValid) {
  at::Tensor pos = keyValid.to(at::kLong).cumsum(1) - 1;
  return pos.clamp_min(0);
}

at::Tensor Decoder::hidden(const at::Tensor& inputIds, at::Tensor keyValid, at::Tensor positions, KvCache* cache) {
  return forwardLayers(inputIds, std::move(keyValid), std::move(positions), cache, {});
}

at::Tensor Decoder::hiddenAt(const at::Tensor& wanted, const at::Tensor& inputIds, at::Tensor keyValid, KvCache* cache) {
  TORCH_CHECK(wanted.sizes() == inputIds.sizes(), "wanted positions must be [batch, seq] like the input ids, got ", wanted.sizes());
  return forwardLayers(inputIds, std::move(keyValid), {}, cache, wanted.to(device, at::kBool));
}

at::Tensor Decoder::forwardLayers(const at::Tensor& inputIds, at::Tensor keyValid, at::Tensor positions, KvCache* cache,
                                  const at::Tensor& wanted) {
  TORCH_CHECK(inputIds.dim() == 2, "input ids must be [batch, seq], got ", inputIds.sizes());
  const int64_t batch = inputIds.size(0);
  int64_t seq = inputIds.size(1);
  if (!keyValid.defined()) keyValid = at::ones({batch, seq}, at::TensorOptions().dtype(at::kBool).device(device));
  keyValid = keyValid.to(device, at::kBool);
  if (!positions.defined()) {
    if (cache != nullptr && cache->length() > 0) {
      // continue each row's count of real tokens
      at::Tensor past = cache->keyValid.to(at::kLong).sum(1, /*keepdim=*/true);
      positions = (past + keyValid.to(at::kLong).cumsum(1) - 1).clamp_min(0);
    } else {
      positions = positionsFrom(keyValid);
    }
  }
  positions = positions.to(device, at::kLong);
  at::Tensor ids = inputIds.to(device, at::kLong);
  at::Tensor x = at::embedding(embed, ids);
  if (hooks.onEmbeddings) hooks.onEmbeddings(x, keyValid, positions, cache != nullptr ? cache->length() : 0);
  const int64_t virtualTokens = x.size(1) - seq;  // prepended by a tuner; not returned
  seq = x.size(1);

  at::Tensor cos, sin;
  if (!spec.useAlibi) {
    at::Tensor freqs = positions.to(at::kFloat).unsqueeze(-1) * ropeInvFreq_;  // [B, S, D/2]
    at::Tensor emb = at::cat({freqs, freqs}, -1).unsqueeze(1);                // [B, 1, S, D]
    cos = emb.cos().to(dtype);
    sin = emb.sin().to(dtype);
  }
  at::Tensor allValid = keyValid;
  if (cache != nullptr) {
    allValid = cache->length() > 0 ? at::cat({cache->keyValid, keyValid}, 1) : keyValid;
  }
  const int64_t past = cache != nullptr ? cache->length() : 0;
  AttentionMask mask;
  if (past > 0 && seq == 1 && !spec.useAlibi && device.is_cpu() && dtype == at::kFloat && kernels::decodeAttentionEnabled() &&
      !at::GradMode::is_enabled()) {
    mask.causalOnly = false;
    mask.decodeKeyValid = allValid;
  } else {
    mask = buildMask(allValid, past, seq);
  }
  const bool checkpoint = gradientCheckpointing && cache == nullptr && at::GradMode::is_enabled();
  const int64_t hiddenSize = x.size(2);
  if (packPadding && !checkpoint && virtualTokens == 0 && !hooks.prefixKv && seq > 1) {
    at::Tensor real = keyValid.reshape({-1});
    const int64_t n = real.sum().item<int64_t>();
    if (n > 0 && 8 * (real.numel() - n) >= real.numel()) {
      mask.packedRows = real.nonzero().squeeze(1);
      mask.batch = batch;
      mask.seq = seq;
      x = x.reshape({batch * seq, hiddenSize}).index_select(0, mask.packedRows).unsqueeze(0);
    }
  }
  // Rows the last layer keeps (indices into its flattened input rows) when only some are wanted.
  // That layer then keeps its activations even with checkpointing, so its dropout draws the same
  // numbers either way.
  at::Tensor keep;
  if (trimLastLayer && wanted.defined() && virtualTokens == 0) {
    at::Tensor w = wanted.reshape({-1});
    const bool allReal = !mask.packedRows.defined() || !(w & keyValid.reshape({-1}).logical_not()).any().item<bool>();
    if (mask.packedRows.defined() && allReal) w = w.index_select(0, mask.packedRows);
    if (allReal) keep = w.nonzero().squeeze(1);
    if (keep.defined() && (keep.numel() == w.numel() || keep.numel() == 0)) keep = at::Tensor();  // nothing to trim
  }
  const int64_t last = static_cast<int64_t>(layers.size()) - 1;
  for (int64_t i = 0; i <= last; ++i) {
    if (i == last && keep.defined()) {
      x = layerForward(i, x, cos, sin, mask, cache, keep);
    } else if (checkpoint) {
      x = checkpointedLayer(*this, i, x, cos, sin, mask);
    } else {
      x = layerForward(i, x, cos, sin, mask, cache);
    }
  }
  if (cache != nullptr) cache->keyValid = allValid;
  if (keep.defined()) return rmsNorm(x.squeeze(0), finalNorm, spec.rmsNormEps);  // [K, H]
  if (virtualTokens > 0) x = x.narrow(1, virtualTokens, seq - virtualTokens);
  x = rmsNorm(x, finalNorm, spec.rmsNormEps);
  if (mask.packedRows.defined()) {
    x = at::zeros({batch * seq, hiddenSize}, x.options()).index_copy(0, mask.packedRows, x.squeeze(0)).view({batch, seq, hiddenSize});
  }
  if (wanted.defined()) return x.reshape({-1, hiddenSize}).index_select(0, wanted.reshape({-1}).nonzero().squeeze(1));
  return x;
}

namespace {

// [1, N, d] rows of the real tokens → [B, S, d] with zeros at the padded positions
at::Tensor unpack(const at::Tensor& t, const AttentionMask& am) {
  const int64_t d = t.size(-1);
  return at::zeros({am.batch * am.seq, d}, t.options()).index_copy(0, am.packedRows, t.reshape({-1, d})).view({am.batch, am.seq, d});
}

}  // namespace

at::Tensor Decoder::layerForward(int64_t i, const at::Tensor& x0, const at::Tensor& cos, const at::Tensor& sin,
                                 const AttentionMask& mask, KvCache* cache, const at::Tensor& keepRows) {
  DecoderLayer& layer = layers[i];
  at::Tensor h = rmsNorm(x0, layer.inputNorm, spec.rmsNormEps);
  at::Tensor a = attention(i, h, cos, sin, mask, cache, keepRows);
  if (hooks.afterAttention) a = hooks.afterAttention(i, a);
  at::Tensor x = (keepRows.defined() ? x0.reshape({-1, x0.size(-1)}).index_select(0, keepRows).unsqueeze(0) : x0) + a;
  h = rmsNorm(x, layer.postNorm, spec.rmsNormEps);
  at::Tensor m = layer.mlp.down.forward(kernels::swiglu(layer.mlp.gate.forward(h), layer.mlp.up.forward(h)));
  if (hooks.afterMlp) m = hooks.afterMlp(i, m);
  return x + m;
}

AttentionMask Decoder::buildMask(const at::Tensor& allValid, int64_t past, int64_t S) const {
  AttentionMask m;
  const int64_t B = allValid.size(0);
  // Right padding needs no mask: padded keys come after every real query, so causality hides them.
  const bool paddingOnlyAtEnd = past == 0 && allValid.to(at::kLong).cumprod(1).eq(allValid.to(at::kLong)).all().item<bool>();
  m.causalOnly = past == 0 && !spec.useAlibi && paddingOnlyAtEnd;
  if (m.causalOnly) return m;
  // Query i (absolute index past+i) sees key j ≤ past+i that is a real token, and always
  // itself, so rows of padding never become all -inf (which would turn into NaN).
  at::TensorOptions lopt = at::TensorOptions().dtype(at::kLong).device(device);
  at::Tensor qi = at::arange(past, past + S, lopt).view({S, 1});
  at::Tensor kj = at::arange(0, past + S, lopt).view({1, past + S});
  at::Tensor allowed = (kj <= qi).unsqueeze(0) & allValid.view({B, 1, past + S});
  allowed = allowed | (kj == qi).unsqueeze(0);
  m.mask = allowed.unsqueeze(1);  // [B, 1, S, T]
  if (spec.useAlibi) {
    // bias = slope_h * (key position - query position) on allowed keys
    const int64_t T = past + S;
    at::Tensor rel = (kj - qi).to(at::kFloat);
    at::Tensor bias = alibiSlopes_.view({1, spec.numHeads, 1, 1}) * rel.view({1, 1, S, T});
    m.mask = at::where(m.mask, bias, -std::numeric_limits<float>::infinity()).to(dtype);
  }
  return m;
}

at::Tensor Decoder::attention(int64_t layer, const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                              const AttentionMask& am, KvCache* cache, const at::Tensor& keepRows) {
  AttentionBlock& a = layers[layer].attn;
  const bool packed = am.packedRows.defined();  // x is [1, N, H]: the real tokens only
  const int64_t B = packed ? am.batch : x.size(0), S = packed ? am.seq : x.size(1);
  const int64_t Hq = spec.numHeads, Hkv = spec.numKvHeads, D = spec.headDim;
  at::Tensor q, k, v;
  switch (a.packing) {
    case AttentionBlock::Packing::Separate:
      q = a.q.forward(x);
      k = a.k.forward(x);
      v = a.v.forward(x);
      break;
    case AttentionBlock::Packing::Contiguous: {
      auto parts = a.qkv.forward(x).split_with_sizes({Hq * D, Hkv * D, Hkv * D}, -1);
      q = parts[0], k = parts[1], v = parts[2];
      break;
    }
    case AttentionBlock::Packing::Grouped: {
      const int64_t G = Hq / Hkv;
      at::Tensor qkv = a.qkv.forward(x);
      at::Tensor grouped = qkv.view({qkv.size(0), qkv.size(1), Hkv, G + 2, D});
      q = grouped.narrow(3, 0, G).reshape({qkv.size(0), qkv.size(1), Hq * D});
      k = grouped.select(3, G).reshape({qkv.size(0), qkv.size(1), Hkv * D});
      v = grouped.select(3, G + 1).reshape({qkv.size(0), qkv.size(1), Hkv * D});
      break;
    }
  }
  if (packed) {
    // attention itself (and the KV cache) keeps the padded [B, S] layout
    q = unpack(q, am);
    k = unpack(k, am);
    v = unpack(v, am);
  }
  q = q.view({B, S, Hq, D}).transpose(1, 2);
  k = k.view({B, S, Hkv, D}).transpose(1, 2);
  v = v.view({B, S, Hkv, D}).transpose(1, 2);
  if (!spec.useAlibi) {
    q = kernels::rope(q, cos, sin);
    k = kernels::rope(k, cos, sin);
  }
  const int64_t past = cache != nullptr ? cache->length() : 0;
  // Prefix-tuning keys/values sit before every real key and are always visible.
  int64_t prefixLen = 0;
  if (hooks.prefixKv && (cache == nullptr || past == 0)) {
    auto [pk, pv] = hooks.prefixKv(layer, B);
    if (pk.defined()) {
      prefixLen = pk.size(2);
      k = at::cat({pk, k}, 2);
      v = at::cat({pv, v}, 2);
      if (cache != nullptr) cache->prefix = prefixLen;  // written into the cache below, once
    }
  }
  if (cache != nullptr) {
    if (static_cast<int64_t>(cache->k.size()) <= layer) {
      cache->k.resize(layers.size());
      cache->v.resize(layers.size());
    }
    at::Tensor& kb = cache->k[layer];
    at::Tensor& vb = cache->v[layer];
    prefixLen = cache->prefix;
    const int64_t start = past == 0 ? 0 : prefixLen + past;  // where the new keys go
    const int64_t need = start + k.size(2);
    if (!kb.defined() || kb.size(2) < need) {
      // grow to twice what is needed (at least 64 positions) and keep what is cached
      const int64_t capacity = std::max<int64_t>(64, 2 * need);
      at::Tensor nk = at::empty({B, Hkv, capacity, D}, k.options());
      at::Tensor nv = at::empty({B, Hkv, capacity, D}, v.options());
      if (start > 0) {
        nk.narrow(2, 0, start).copy_(kb.narrow(2, 0, start));
        nv.narrow(2, 0, start).copy_(vb.narrow(2, 0, start));
      }
      kb = nk;
      vb = nv;
    }
    kb.narrow(2, start, k.size(2)).copy_(k);
    vb.narrow(2, start, v.size(2)).copy_(v);
    k = kb.narrow(2, 0, need);
    v = vb.narrow(2, 0, need);
  }
  at::Tensor out;
  if (am.decodeKeyValid.defined()) {
    // a decoding step: the fused kernel where it takes these tensors, else SDPA with a mask
    const bool fused = !keepRows.defined() && kernels::decodeAttentionApplies(q, k, v);
    out = fused ? kernels::decodeAttention(q, k, v, am.decodeKeyValid, prefixLen)
                : kernels::decodeAttentionReference(q, k, v, am.decodeKeyValid, prefixLen);
    if (keepRows.defined()) out = out.reshape({B * S, Hq * D}).index_select(0, keepRows).unsqueeze(0);
    return a.o.forward(out);
  }
  if (am.causalOnly && prefixLen == 0) {
    // Plain causal attention, no mask tensor: the CPU kernel where it takes these tensors, else SDPA
    // (kernels/causal_attention.h).
    out = kernels::causalAttention(q, k, v);
  } else {
    at::Tensor mask = am.mask;
    if (!mask.defined()) {
      // causal-only pass that gained prefix keys: build the causal part here
      at::Tensor causal = at::ones({S, S}, at::TensorOptions().dtype(at::kBool).device(device)).tril();
      mask = causal.view({1, 1, S, S}).expand({B, 1, S, S});
    }
    if (prefixLen > 0) {
      at::Tensor visible = mask.scalar_type() == at::kBool ? at::ones({B, 1, S, prefixLen}, mask.options())
                                                           : at::zeros({B, 1, S, prefixLen}, mask.options());
      mask = at::cat({visible.expand({mask.size(0), 1, S, prefixLen}), mask}, 3);
    }
    out = at::scaled_dot_product_attention(q, k, v, mask, 0.0, false, {}, /*enable_gqa=*/Hq != Hkv);
  }
  out = out.transpose(1, 2).reshape({B, S, Hq * D});
  if (packed || keepRows.defined()) {
    // back to the block's rows (the real tokens when packed), or just the kept ones
    at::Tensor rows = packed ? (keepRows.defined() ? am.packedRows.index_select(0, keepRows) : am.packedRows) : keepRows;
    out = out.reshape({B * S, Hq * D}).index_select(0, rows).unsqueeze(0);
  }
  return a.o.forward(out);
}

at::Tensor Decoder::headWeight() const {
  if (!spec.normHead) return lmHead.weight;
  const at::Tensor& w = lmHead.weight;
  return w / w.norm(2, {1}, true).clamp_min(1e-12);
}

at::Tensor Decoder::logits(const at::Tensor& h) const {
  if (spec.normHead) return kernels::linear(h, headWeight()).to(at::kFloat);
  return lmHead.forward(h).to(at::kFloat);
}

}  // namespace cn
