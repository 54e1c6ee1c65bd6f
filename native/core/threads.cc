#include "core/threads.h"

#include "core/compute_thread.h"

#include <ATen/Parallel.h>
#include <sched.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <utility>

namespace cn {

int physicalCores() {
  cpu_set_t mask;
  CPU_ZERO(&mask);
  if (sched_getaffinity(0, sizeof mask, &mask) != 0) {
    return std::max(1u, std::thread::hardware_concurrency());
  }
  std::set<std::pair<int, int>> cores;  // (package, core) of each CPU we may run on
  int allowed = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &mask)) continue;
    ++allowed;
    const std::string base = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
    std::ifstream coreFile(base + "core_id"), pkgFile(base + "physical_package_id");
    int core = -1, pkg = -1;
    if (!(coreFile >> core) || !(pkgFile >> pkg)) return std::max(1, allowed);  // no topology: count CPUs
    cores.insert({pkg, core});
  }
  // Re-count CPUs if the topology read failed midway; otherwise one thread per physical core.
  return std::max<int>(1, cores.empty() ? allowed : static_cast<int>(cores.size()));
}

int defaultThreads() {
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  return physicalCores();
}

void applyDefaultThreads() {
  static std::once_flag once;
  std::call_once(once, [] {
    at::set_num_threads(defaultThreads());
    setComputeThreads(defaultThreads());
  });
}

}  // namespace cn
