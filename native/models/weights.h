// WeightStore: the tensors of a checkpoint, handed out by name while a family builds its model.
// It checks each shape, and at the end reports every missing, mis-shaped and unexpected tensor
// at once (ERR_MODEL_LOAD), so a user sees the whole mismatch, not the first line of it.
#pragma once
#include <ATen/ATen.h>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace cn {

class WeightStore {
 public:
  WeightStore(std::map<std::string, at::Tensor> tensors, std::string source, at::ScalarType dtype, at::Device device);
  // A store that invents every tensor asked for: N(0, std²) weights, ones for norms, zeros for
  // biases (benchmarks and tests; speed does not depend on the values).
  static WeightStore random(uint64_t seed, double std, at::ScalarType dtype, at::Device device);

  // The tensor `name` with the expected shape, converted to the model's dtype and device.
  // Records a problem (and returns an undefined tensor) when it is missing or mis-shaped.
  at::Tensor take(const std::string& name, std::vector<int64_t> shape);
  // Like take, but absence is fine (returns undefined).
  at::Tensor takeOptional(const std::string& name, std::vector<int64_t> shape);
  bool has(const std::string& name) const { return tensors_.count(name) > 0; }
  // Names not taken that we know to be harmless (e.g. rotary inv_freq buffers).
  void ignore(const std::string& name) { taken_.insert(name); }
  // Every name `harmless` accepts is not reported as unexpected (e.g. an encoder's pooler head).
  void ignoreMatching(std::function<bool(const std::string&)> harmless) { ignored_.push_back(std::move(harmless)); }

  // Throws ERR_MODEL_LOAD listing every problem; call after the model took what it needs.
  void finish() const;

 private:
  std::map<std::string, at::Tensor> tensors_;
  std::string source_;
  at::ScalarType dtype_;
  at::Device device_;
  std::set<std::string> taken_;
  std::vector<std::function<bool(const std::string&)>> ignored_;
  std::vector<std::string> problems_;
  bool random_ = false;
  double randomStd_ = 0.02;
  at::Generator randomGen_;
  // on a GPU the values are drawn there (a CPU draw of a 7B model: ~40 s and 30 GB), from a clone of
  // the device's default generator seeded with `seed`: reproducible per device, not across devices
  at::Generator deviceGen_;
  uint64_t randomSeed_ = 0;
};

}  // namespace cn
