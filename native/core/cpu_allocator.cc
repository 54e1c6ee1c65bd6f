#include "core/cpu_allocator.h"

#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace cn {
namespace {

constexpr size_t kMinCached = 64 << 10;  // below this, glibc's own free lists are fast
constexpr size_t kAlignment = 64;        // as c10's default allocator

size_t roundUp(size_t n) {
  const size_t step = n < (1u << 20) ? 4096 : n < (16u << 20) ? (64u << 10) : (1u << 20);
  return (n + step - 1) / step * step;
}

class CachingCpuAllocator final : public c10::Allocator {
 public:
  CachingCpuAllocator(c10::Allocator* fallback, size_t limit) : fallback_(fallback), limit_(limit) {}

  c10::DataPtr allocate(size_t n) override {
    if (n < kMinCached) return fallback_->allocate(n);
    size_t size = roundUp(n);
    void* p = take(size);
    if (p == nullptr) {
      p = systemAlloc(size);
      if (p == nullptr) {
        releaseAll();
        p = systemAlloc(size);
      }
      TORCH_CHECK_WITH(OutOfMemoryError, p != nullptr, "continual-next: out of CPU memory allocating ", n, " bytes");
      std::lock_guard<std::mutex> lock(mu_);
      ++misses_;
      live_[p] = size;
    }
    // A "simple" DataPtr (context == data) so raw_allocate/raw_deleter work as with c10's.
    return {p, p, &deleteBlock, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &deleteBlock; }
  void copy_data(void* dest, const void* src, std::size_t count) const override { default_copy_data(dest, src, count); }

  void releaseAll() {
    std::vector<void*> blocks;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& [size, p] : free_) blocks.push_back(p);
      free_.clear();
      cached_ = 0;
    }
    for (void* p : blocks) std::free(p);
  }

  CpuAllocatorStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return {"caching", cached_, limit_, hits_, misses_};
  }

  static CachingCpuAllocator* instance;

 private:
  static void* systemAlloc(size_t size) {
    void* p = nullptr;
    return posix_memalign(&p, kAlignment, size) == 0 ? p : nullptr;
  }

  // The smallest free block that fits and wastes at most a fifth of itself; marks it live.
  void* take(size_t& size) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = free_.lower_bound(size);
    if (it == free_.end() || it->first - size > it->first / 5) return nullptr;
    void* p = it->second;
    size = it->first;
    cached_ -= size;
    free_.erase(it);
    live_[p] = size;
    ++hits_;
    return p;
  }

  static void deleteBlock(void* p) {
    if (p == nullptr) return;
    CachingCpuAllocator* self = instance;
    bool keep = false;
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      auto it = self->live_.find(p);
      if (it == self->live_.end()) return;  // not ours (cannot happen: our DataPtrs only)
      const size_t size = it->second;
      self->live_.erase(it);
      if (self->cached_ + size <= self->limit_) {
        self->free_.emplace(size, p);
        self->cached_ += size;
        keep = true;
      }
    }
    if (!keep) std::free(p);
  }

  c10::Allocator* fallback_;
  size_t limit_;
  std::mutex mu_;
  std::multimap<size_t, void*> free_;
  std::unordered_map<void*, size_t> live_;
  size_t cached_ = 0, hits_ = 0, misses_ = 0;
};

CachingCpuAllocator* CachingCpuAllocator::instance = nullptr;

}  // namespace

void installCpuAllocator() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* kind = std::getenv("CN_CPU_ALLOCATOR");
    if (kind != nullptr && std::strcmp(kind, "system") == 0) return;
    size_t limitMb = 2048;
    if (const char* mb = std::getenv("CN_CPU_CACHE_MB")) {
      const long v = std::atol(mb);
      if (v >= 0) limitMb = static_cast<size_t>(v);
    }
    // Never destroyed: tensors may outlive every other static.
    CachingCpuAllocator::instance = new CachingCpuAllocator(c10::GetDefaultCPUAllocator(), limitMb << 20);
    // Priority above c10's default (0) so nothing else silently replaces it.
    c10::SetCPUAllocator(CachingCpuAllocator::instance, /*priority=*/10);
  });
}

CpuAllocatorStats cpuAllocatorStats() {
  if (CachingCpuAllocator::instance == nullptr) return {"system", 0, 0, 0, 0};
  return CachingCpuAllocator::instance->stats();
}

void releaseCachedCpuMemory() {
  if (CachingCpuAllocator::instance != nullptr) CachingCpuAllocator::instance->releaseAll();
}

}  // namespace cn
