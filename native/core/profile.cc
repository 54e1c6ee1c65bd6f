#include "core/profile.h"

#include <torch/csrc/autograd/profiler_kineto.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace cn {

namespace prof = torch::autograd::profiler;
using torch::profiler::impl::ActivityType;
using torch::profiler::impl::ProfilerConfig;
using torch::profiler::impl::ProfilerState;

namespace {

// "[16,256] [8192,256]": the inputs' sizes, for the by-shape table.
std::string shapeText(c10::ArrayRef<std::vector<int64_t>> shapes) {
  std::string out;
  for (const auto& s : shapes) {
    if (!out.empty()) out += ' ';
    out += '[';
    for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
    out += ']';
  }
  return out;
}

}  // namespace

ScopedProfile::ScopedProfile(std::string what) : what_(std::move(what)) {
  const char* path = std::getenv("CN_PROFILE");
  if (path == nullptr || *path == '\0') return;
  path_ = path;
  // Input shapes are recorded so the trace (and CN_PROFILE_SHAPES=1's table) tells which product is slow.
  const ProfilerConfig config(ProfilerState::KINETO, /*report_input_shapes=*/true);
  prof::prepareProfiler(config, {ActivityType::CPU});
  prof::enableProfiler(config, {ActivityType::CPU});
  active_ = true;
}

ScopedProfile::~ScopedProfile() {
  if (!active_) return;
  try {
    std::unique_ptr<prof::ProfilerResult> result = prof::disableProfiler();
    // Self time: an event's duration less its direct children's, per thread.
    struct Ev {
      std::string name;
      uint64_t start, end, thread;
    };
    std::vector<Ev> evs;
    const char* byShape = std::getenv("CN_PROFILE_SHAPES");
    const bool withShapes = byShape != nullptr && *byShape != '\0' && *byShape != '0';
    for (const auto& e : result->events()) {
      if (e.isAsync() || e.durationNs() == 0) continue;
      std::string name = e.name();
      if (withShapes && e.hasShapes()) name += " " + shapeText(e.shapes());
      evs.push_back({std::move(name), e.startNs(), e.startNs() + e.durationNs(), e.startThreadId()});
    }
    std::sort(evs.begin(), evs.end(), [](const Ev& a, const Ev& b) {
      return a.thread != b.thread ? a.thread < b.thread : a.start != b.start ? a.start < b.start : a.end > b.end;
    });
    struct Sum {
      double self = 0, total = 0;
      int64_t calls = 0;
    };
    std::map<std::string, Sum> sums;
    std::vector<std::pair<size_t, uint64_t>> stack;  // (open event, its children's time so far)
    // Closes the innermost open event: its self time, and its time counted as its parent's child.
    auto pop = [&] {
      auto [top, children] = stack.back();
      stack.pop_back();
      auto& sum = sums[evs[top].name];
      const uint64_t d = evs[top].end - evs[top].start;
      sum.total += static_cast<double>(d);
      sum.self += static_cast<double>(d - std::min(d, children));
      ++sum.calls;
      if (!stack.empty()) stack.back().second += d;
    };
    uint64_t thread = UINT64_MAX;
    for (size_t k = 0; k < evs.size(); ++k) {
      if (evs[k].thread != thread) {
        while (!stack.empty()) pop();
        thread = evs[k].thread;
      }
      while (!stack.empty() && evs[stack.back().first].end <= evs[k].start) pop();
      stack.push_back({k, 0});
    }
    while (!stack.empty()) pop();
    std::vector<std::pair<std::string, Sum>> rows(sums.begin(), sums.end());
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.self > b.second.self; });
    double all = 0;
    for (const auto& r : rows) all += r.second.self;
    std::fprintf(stderr, "[continual-next profile] %s: %.1f ms of op self time; trace in %s\n", what_.c_str(), all / 1e6, path_.c_str());
    std::fprintf(stderr, "%10s %10s %8s  %s\n", "self ms", "total ms", "calls", "op");
    for (size_t i = 0; i < rows.size() && i < 30; ++i) {
      std::fprintf(stderr, "%10.2f %10.2f %8lld  %s\n", rows[i].second.self / 1e6, rows[i].second.total / 1e6,
                   static_cast<long long>(rows[i].second.calls), rows[i].first.c_str());
    }
    result->save(path_);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "[continual-next profile] failed: %s\n", e.what());
  }
}

}  // namespace cn
