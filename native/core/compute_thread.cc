#include "core/compute_thread.h"

#include <ATen/Parallel.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <future>
#include <mutex>
#include <thread>

namespace cn {
namespace {

std::atomic<int> gThreads{0};

class ComputeThread {
 public:
  ComputeThread() : thread_([this] { loop(); }) { thread_.detach(); }  // lives as long as the process

  void run(const std::function<void()>& fn) {
    if (std::this_thread::get_id() == id_.load()) {
      fn();
      return;
    }
    std::packaged_task<void()> task([&fn] {
      const int want = gThreads.load();
      if (want > 0 && at::get_num_threads() != want) at::set_num_threads(want);
      fn();
    });
    std::future<void> done = task.get_future();
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(task));
    }
    cv_.notify_one();
    done.get();  // rethrows the job's exception
  }

 private:
  void loop() {
    id_.store(std::this_thread::get_id());
    for (;;) {
      std::packaged_task<void()> task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return !queue_.empty(); });
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::packaged_task<void()>> queue_;
  std::atomic<std::thread::id> id_{};
  std::thread thread_;
};

ComputeThread& computeThread() {
  static ComputeThread* t = new ComputeThread();  // never destroyed: jobs may run at exit
  return *t;
}

}  // namespace

void runOnComputeThread(const std::function<void()>& fn) { computeThread().run(fn); }

void setComputeThreads(int n) { gThreads.store(n); }
int computeThreads() { return gThreads.load(); }

}  // namespace cn
