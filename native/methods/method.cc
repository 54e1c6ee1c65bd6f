#include "methods/method.h"

#include "core/errors.h"
#include "dist/process_group.h"
#include "models/decoder.h"
#include "train/loss.h"

namespace cn {
namespace {
std::map<std::string, MethodFactory>& registry() {
  static std::map<std::string, MethodFactory> methods;
  return methods;
}
}  // namespace

bool registerMethod(const std::string& name, MethodFactory factory) {
  registry()[name] = std::move(factory);
  return true;
}

std::vector<std::string> methodNames() {
  std::vector<std::string> names;
  for (const auto& [n, _] : registry()) names.push_back(n);
  return names;
}

std::unique_ptr<Method> makeMethod(const std::string& name, const Options& options) {
  auto it = registry().find(name);
  if (it == registry().end()) {
    std::string known;
    for (const auto& n : methodNames()) known += (known.empty() ? "" : ", ") + n;
    fail(code::kConfig, "unknown continual-learning method '" + name + "' (known: " + known + ")", {{"field", "method"}});
  }
  return it->second(options);
}

at::Tensor flatGradients(const std::vector<NamedTensor>& params) {
  std::vector<at::Tensor> parts;
  for (const auto& p : params) {
    const at::Tensor& g = p.tensor.grad();
    parts.push_back(g.defined() ? g.detach().to(at::kFloat).reshape({-1}) : at::zeros({p.tensor.numel()}, p.tensor.options().dtype(at::kFloat)));
  }
  return at::cat(parts);
}

void setFlatGradients(const std::vector<NamedTensor>& params, const at::Tensor& flat) {
  at::NoGradGuard noGrad;
  int64_t offset = 0;
  for (const auto& p : params) {
    const int64_t n = p.tensor.numel();
    at::Tensor piece = flat.narrow(0, offset, n).view(p.tensor.sizes()).to(p.tensor.scalar_type());
    if (p.tensor.grad().defined()) {
      p.tensor.mutable_grad().copy_(piece);
    } else {
      p.tensor.mutable_grad() = piece.clone();
    }
    offset += n;
  }
}

void zeroGradients(const std::vector<NamedTensor>& params) {
  for (const auto& p : params) {
    if (p.tensor.grad().defined()) p.tensor.mutable_grad() = at::Tensor();
  }
}

at::Tensor localFlatGradients(const MethodContext& ctx) {
  if (!ctx.shards) return flatGradients(ctx.params);
  std::vector<NamedTensor> owned;
  for (size_t k = 0; k < ctx.params.size(); ++k) if (ctx.shards->owns(k)) owned.push_back(ctx.params[k]);
  if (owned.empty()) return at::zeros({0}, at::TensorOptions().dtype(at::kFloat).device(ctx.model.device));
  return flatGradients(owned);
}

void setLocalFlatGradients(const MethodContext& ctx, const at::Tensor& flat) {
  if (!ctx.shards) return setFlatGradients(ctx.params, flat);
  std::vector<NamedTensor> owned;
  for (size_t k = 0; k < ctx.params.size(); ++k) {
    if (ctx.shards->owns(k)) owned.push_back(ctx.params[k]);
    else if (ctx.params[k].tensor.grad().defined()) ctx.params[k].tensor.mutable_grad() = at::Tensor();
  }
  setFlatGradients(owned, flat);
}

void sumOverShards(const MethodContext& ctx, at::Tensor& partial) {
  // Partial sums may be host scalars (CIA's norms, A-GEM's dots): staged through the group's
  // device (NCCL: CUDA) and written back where they are.
  if (ctx.shards && ctx.group) ctx.group->allReduceAnywhere(partial);
}

at::Tensor reduceLocalGradients(const MethodContext& ctx) {
  at::NoGradGuard noGrad;
  if (!ctx.group || ctx.group->size() == 1) return flatGradients(ctx.params);
  if (!ctx.shards) {
    at::Tensor g = flatGradients(ctx.params).contiguous();
    ctx.group->allReduce(g, false);
    return g;
  }
  // Owner 0's tensors, then owner 1's, ... (each in parameter order): reduce_scatter's parts.
  const int world = ctx.group->size();
  std::vector<at::Tensor> parts;
  for (int r = 0; r < world; ++r) {
    std::vector<NamedTensor> of;
    for (size_t k = 0; k < ctx.params.size(); ++k) if (ctx.shards->owner[k] == r) of.push_back(ctx.params[k]);
    parts.push_back(of.empty() ? at::zeros({0}, at::TensorOptions().dtype(at::kFloat).device(ctx.model.device)) : flatGradients(of).contiguous());
  }
  at::Tensor mine = at::empty_like(parts[ctx.shards->rank]);
  ctx.group->reduceScatterSumAsync(std::move(parts), mine, "memory gradient reduce-scatter").wait();
  return mine;
}

at::Tensor meanLoss(Decoder& model, const std::vector<Example>& examples, int64_t padId) {
  std::vector<int64_t> all(examples.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
  Batch b = makeBatch(examples, all, padId, model.device);
  LossSum l = causalLmLossSum(model, b.inputIds, b.labels, b.keyValid, /*keepLogits=*/false);
  return l.sum / static_cast<double>(std::max<int64_t>(1, l.tokens));
}

std::vector<NamedTensor> packExamples(const std::string& prefix, const std::vector<Example>& examples) {
  std::vector<int64_t> ids, labels, lengths;
  for (const auto& e : examples) {
    ids.insert(ids.end(), e.ids.begin(), e.ids.end());
    labels.insert(labels.end(), e.labels.begin(), e.labels.end());
    lengths.push_back(static_cast<int64_t>(e.ids.size()));
  }
  return {{prefix + ".ids", at::tensor(ids, at::kLong)},
          {prefix + ".labels", at::tensor(labels, at::kLong)},
          {prefix + ".lengths", at::tensor(lengths, at::kLong)}};
}

std::vector<Example> unpackExamples(const std::string& prefix, const std::map<std::string, at::Tensor>& state) {
  auto get = [&](const std::string& k) {
    auto it = state.find(prefix + k);
    if (it == state.end()) fail(code::kModelLoad, "method state lacks '" + prefix + k + "'", {{"tensor", prefix + k}});
    return it->second.to(at::kLong).contiguous();
  };
  at::Tensor ids = get(".ids"), labels = get(".labels"), lengths = get(".lengths");
  std::vector<Example> out;
  int64_t offset = 0;
  const int64_t* idp = ids.data_ptr<int64_t>();
  const int64_t* lp = labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < lengths.numel(); ++i) {
    const int64_t n = lengths[i].item<int64_t>();
    out.push_back({std::vector<int64_t>(idp + offset, idp + offset + n), std::vector<int64_t>(lp + offset, lp + offset + n)});
    offset += n;
  }
  return out;
}

}  // namespace cn
