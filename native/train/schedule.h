// Learning-rate schedules with linear warmup, as HF's get_*_schedule_with_warmup compute them:
// the factor at optimizer step s (0-based) is s / warmup during warmup, then
//   constant: 1;  linear: (total − s) / (total − warmup);  cosine: ½(1 + cos(π · progress)).
#pragma once
#include <cstdint>
#include <string>

namespace cn {

struct Schedule {
  enum class Kind { Constant, Linear, Cosine };
  Kind kind = Kind::Linear;
  int64_t warmupSteps = 0;
  int64_t totalSteps = 1;

  static Kind parse(const std::string& name);
  double factor(int64_t step) const;
};

}  // namespace cn
