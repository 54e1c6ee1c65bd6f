#include "tuners/tuner.h"

#include <set>
#include <sstream>

#include "core/errors.h"
#include "models/decoder.h"

namespace cn {
namespace {
std::map<std::string, TunerFactory>& registry() {
  static std::map<std::string, TunerFactory> tuners;
  return tuners;
}
}  // namespace

bool registerTuner(const std::string& name, TunerFactory factory) {
  registry()[name] = std::move(factory);
  return true;
}

std::vector<std::string> tunerNames() {
  std::vector<std::string> names;
  for (const auto& [n, _] : registry()) names.push_back(n);
  return names;
}

std::unique_ptr<Tuner> makeTuner(const std::string& name, const Options& options, const Decoder& model) {
  auto it = registry().find(name);
  if (it == registry().end()) {
    std::string known;
    for (const auto& n : tunerNames()) known += (known.empty() ? "" : ", ") + n;
    fail(code::kConfig, "unknown tuner '" + name + "' (known: " + known + ")", {{"field", "tuner"}});
  }
  return it->second(options, model);
}

bool matchesTarget(const std::string& module, const std::vector<std::string>& targets, const std::string& headName) {
  for (const auto& t : targets) {
    if (t == "all-linear") {
      if (module != headName) return true;
      continue;
    }
    if (module == t) return true;
    if (module.size() > t.size() && module.compare(module.size() - t.size(), t.size(), t) == 0 &&
        module[module.size() - t.size() - 1] == '.') {
      return true;
    }
  }
  return false;
}

void Tuner::loadState(const std::map<std::string, at::Tensor>& saved, const std::string& source) {
  std::vector<std::string> problems;
  std::set<std::string> used;
  at::NoGradGuard noGrad;
  auto fill = [&](std::vector<NamedTensor> targets) {
    for (auto& [name, target] : targets) {
      auto it = saved.find(name);
      if (it == saved.end()) {
        problems.push_back("missing tensor '" + name + "'");
        continue;
      }
      used.insert(name);
      if (it->second.sizes() != target.sizes()) {
        std::ostringstream m;
        m << "tensor '" << name << "' has shape " << it->second.sizes() << ", expected " << target.sizes();
        problems.push_back(m.str());
        continue;
      }
      target.copy_(it->second.to(target.device(), target.scalar_type()));
    }
  };
  fill(parameters());
  fill(buffers());
  for (const auto& [name, _] : saved) {
    if (!used.count(name)) problems.push_back("unexpected tensor '" + name + "'");
  }
  if (problems.empty()) return;
  std::string msg = "the adapter " + source + " does not fit this model and tuner:";
  for (size_t i = 0; i < problems.size() && i < 20; ++i) msg += "\n  - " + problems[i];
  if (problems.size() > 20) msg += "\n  ... and " + std::to_string(problems.size() - 20) + " more";
  fail(code::kModelLoad, msg, {{"file", source}});
}

std::vector<NamedTensor> Tuner::state() {
  std::vector<NamedTensor> out;
  for (auto& p : parameters()) out.push_back({p.name, p.tensor.detach()});
  for (auto& b : buffers()) out.push_back({b.name, b.tensor.detach()});
  return out;
}

}  // namespace cn
