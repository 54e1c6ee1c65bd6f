// The one thread of this process that runs libtorch work for JS (every runAsync job).
//
// Why one: libtorch's OpenMP keeps a team of worker threads per thread that opens a parallel
// region. Jobs spread over libuv's four pool threads each grew a team of their own, and every
// fit() after the first ran ~1.4x slower on 2 cores (measured: 100 ms/step for every fit with one
// thread, 105 then 134-149 ms/step over libuv's pool). The libuv thread that queued a job waits
// for it here, so JS still gets a Promise and the event loop never blocks; jobs run in order.
#pragma once
#include <functional>

namespace cn {

// Runs `fn` on the compute thread and returns when it has finished (rethrowing what it threw).
// Called from the compute thread itself, runs `fn` in place.
void runOnComputeThread(const std::function<void()>& fn);

// The intra-op thread count jobs run with (setThreads / OMP_NUM_THREADS / physical cores): the
// compute thread applies it before each job, since OpenMP's count is per thread.
void setComputeThreads(int n);
int computeThreads();

}  // namespace cn
