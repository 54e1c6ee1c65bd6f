// Intra-op thread count: OMP_NUM_THREADS when set, else the physical cores this process may use.
#pragma once

namespace cn {
int physicalCores();
int defaultThreads();
void applyDefaultThreads();
}  // namespace cn
