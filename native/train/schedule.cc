#include "train/schedule.h"

#include <algorithm>
#include <cmath>

#include "core/errors.h"

namespace cn {

Schedule::Kind Schedule::parse(const std::string& name) {
  if (name == "constant") return Kind::Constant;
  if (name == "linear") return Kind::Linear;
  if (name == "cosine") return Kind::Cosine;
  fail(code::kConfig, "unknown lr schedule '" + name + "' (expected constant, linear or cosine)", {{"field", "lrScheduler"}});
}

double Schedule::factor(int64_t step) const {
  if (step < warmupSteps) return static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmupSteps));
  const double span = static_cast<double>(std::max<int64_t>(1, totalSteps - warmupSteps));
  const double progress = static_cast<double>(step - warmupSteps) / span;
  switch (kind) {
    case Kind::Constant: return 1.0;
    case Kind::Linear: return std::max(0.0, 1.0 - progress);
    case Kind::Cosine: return std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
  }
  return 1.0;
}

}  // namespace cn
