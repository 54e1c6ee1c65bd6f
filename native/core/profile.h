// Op-level profile of one native job, for performance work: with CN_PROFILE=<path> set, fit()
// and generate() run under libtorch's (Kineto) profiler, write a Chrome trace to <path> (open it
// in chrome://tracing or Perfetto) and print the ops with the most self time to stderr.
// Unset, a ScopedProfile costs one getenv.
#pragma once
#include <memory>
#include <string>

namespace cn {

class ScopedProfile {
 public:
  explicit ScopedProfile(std::string what);
  ~ScopedProfile();
  ScopedProfile(const ScopedProfile&) = delete;
  ScopedProfile& operator=(const ScopedProfile&) = delete;

 private:
  std::string what_, path_;
  bool active_ = false;
};

}  // namespace cn
