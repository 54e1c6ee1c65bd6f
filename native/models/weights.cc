#include "models/weights.h"

#include <sstream>

#include <ATen/CPUGeneratorImpl.h>

#include "core/errors.h"

namespace cn {
namespace {
std::string shapeStr(at::IntArrayRef shape) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << "]";
  return s.str();
}
}  // namespace

WeightStore::WeightStore(std::map<std::string, at::Tensor> tensors, std::string source, at::ScalarType dtype, at::Device device)
    : tensors_(std::move(tensors)), source_(std::move(source)), dtype_(dtype), device_(device) {}

WeightStore WeightStore::random(uint64_t seed, double std, at::ScalarType dtype, at::Device device) {
  WeightStore w({}, "(random init)", dtype, device);
  w.random_ = true;
  w.randomStd_ = std;
  w.randomGen_ = at::make_generator<at::CPUGeneratorImpl>(seed);
  w.randomSeed_ = seed;
  return w;
}

at::Tensor WeightStore::take(const std::string& name, std::vector<int64_t> shape) {
  if (random_) {
    at::Tensor t;
    if (name.find("norm") != std::string::npos) {
      t = at::ones(shape, at::kFloat);
    } else if (name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0) {
      t = at::zeros(shape, at::kFloat);
    } else if (device_.is_cpu()) {
      t = at::empty(shape, at::kFloat).normal_(0.0, randomStd_, randomGen_);
    } else {
      if (!deviceGen_.defined()) {
        deviceGen_ = at::globalContext().defaultGenerator(device_).clone();
        deviceGen_.set_current_seed(randomSeed_);
      }
      t = at::empty(shape, at::TensorOptions().dtype(at::kFloat).device(device_)).normal_(0.0, randomStd_, deviceGen_);
    }
    return t.to(device_, dtype_);
  }
  auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    problems_.push_back("missing tensor '" + name + "' (expected shape " + shapeStr(shape) + ")");
    return at::Tensor();
  }
  taken_.insert(name);
  const at::Tensor& t = it->second;
  if (t.sizes() != at::IntArrayRef(shape)) {
    problems_.push_back("tensor '" + name + "' has shape " + shapeStr(t.sizes()) + ", expected " + shapeStr(shape));
    return at::Tensor();
  }
  if (!at::isFloatingType(t.scalar_type())) {
    problems_.push_back("tensor '" + name + "' has non-floating dtype " + std::string(c10::toString(t.scalar_type())));
    return at::Tensor();
  }
  return t.to(device_, dtype_).contiguous();
}

at::Tensor WeightStore::takeOptional(const std::string& name, std::vector<int64_t> shape) {
  if (!has(name) && !random_) return at::Tensor();
  return take(name, std::move(shape));
}

void WeightStore::finish() const {
  std::vector<std::string> all = problems_;
  for (const auto& [name, t] : tensors_) {
    if (taken_.count(name)) continue;
    bool harmless = false;
    for (const auto& f : ignored_) harmless = harmless || f(name);
    if (!harmless) all.push_back("unexpected tensor '" + name + "'");
  }
  if (all.empty()) return;
  std::ostringstream msg;
  msg << "the checkpoint " << source_ << " does not fit the model config (" << all.size() << " problem"
      << (all.size() > 1 ? "s" : "") << "):";
  const size_t shown = std::min<size_t>(all.size(), 20);
  for (size_t i = 0; i < shown; ++i) msg << "\n  - " << all[i];
  if (all.size() > shown) msg << "\n  ... and " << (all.size() - shown) << " more";
  // The first offending tensor name goes into the typed error's `tensor` field.
  std::string first = all.front();
  auto q1 = first.find('\''), q2 = first.find('\'', q1 + 1);
  ErrorFields fields{{"file", source_}};
  if (q1 != std::string::npos && q2 != std::string::npos) fields.push_back({"tensor", first.substr(q1 + 1, q2 - q1 - 1)});
  fail(code::kModelLoad, msg.str(), fields);
}

}  // namespace cn
