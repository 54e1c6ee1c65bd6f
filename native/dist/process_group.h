// A process group over libtorch's c10d: a TCPStore (rank 0 serves it) for rendezvous and one
// backend: ProcessGroupGloo for CPU tensors, or ProcessGroupNCCL for CUDA tensors on this rank's
// device (cuda:LOCAL_RANK unless told otherwise). Collectives are enqueued in call order (gloo
// runs them on its own threads, NCCL on its own CUDA stream, matched across ranks by that order)
// and waited for separately, so a caller can overlap them with other work. Any failure — a dead or
// missing peer, a timeout — becomes a cn::Error with code ERR_DISTRIBUTED and the group is marked
// broken: every later call fails at once with the first error, never a hang or an abort.
//
// Backends are compiled in when their headers are there: gloo with gloo's headers (CN_WITH_GLOO),
// NCCL with a CUDA libtorch and nccl.h (CN_WITH_NCCL). Asking for one that is not built fails
// with ERR_DISTRIBUTED saying so. c10d types stay inside the .cc (gloo's headers are Debian's,
// older than torch's bundled gloo: they are used through c10d's API only).
#pragma once
#include <ATen/ATen.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace cn {

struct GroupOptions {
  int rank = 0;
  int worldSize = 1;
  std::string masterAddr = "127.0.0.1";
  int masterPort = 29500;
  std::chrono::milliseconds timeout{60000};
  // 'auto' (nccl when `device` is a CUDA device and NCCL is built, else gloo), 'gloo' or 'nccl'.
  std::string backend = "auto";
  // The device this rank's tensors live on (the model's): "" or "cpu" for gloo; "cuda" (this
  // rank's cuda:<localRank>) or "cuda:N" for nccl. Empty: cpu, or cuda:<localRank> for 'nccl'.
  std::string device;
  int localRank = 0;
};

// The backends compiled into this build ("gloo", "nccl").
std::vector<std::string> builtBackends();

// A launched collective; wait() blocks until it is done and throws ERR_DISTRIBUTED on failure.
class PendingCollective {
 public:
  struct Impl;
  explicit PendingCollective(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  void wait();

 private:
  std::shared_ptr<Impl> impl_;
};

class ProcessGroup : public std::enable_shared_from_this<ProcessGroup> {
 public:
  struct Impl;
  // Connects to (rank 0: serves) the store and forms the group; blocks up to the timeout.
  static std::shared_ptr<ProcessGroup> create(const GroupOptions& options);
  ~ProcessGroup();

  int rank() const { return options_.rank; }
  int size() const { return options_.worldSize; }
  std::chrono::milliseconds timeout() const { return options_.timeout; }
  bool built() const;  // false when compiled without any backend
  // The backend in use ("gloo" or "nccl"; 'auto' resolved) and the device its tensors must be on
  // (cpu for gloo, this rank's CUDA device for nccl).
  const std::string& backend() const { return backend_; }
  at::Device device() const { return device_; }
  bool nccl() const { return backend_ == "nccl"; }
  // Float32 (or `dtype`) tensor options on the group's device, for buffers that go on the wire.
  at::TensorOptions options(at::ScalarType dtype = at::kFloat) const { return at::TensorOptions().dtype(dtype).device(device_); }

  // In place; contiguous tensors on device(). The async forms return at once.
  PendingCollective allReduceSumAsync(at::Tensor& tensor, const char* what = "all-reduce");
  PendingCollective broadcastAsync(at::Tensor& tensor, int root);
  // c10d reduce_scatter: `inputs` holds one tensor per rank (sizes may differ, 0 allowed); rank r's
  // `output` (inputs[r]'s size, not aliasing them) gets the sum over the ranks of their inputs[r].
  PendingCollective reduceScatterSumAsync(std::vector<at::Tensor> inputs, at::Tensor& output, const char* what = "reduce-scatter");
  // `outputs` gets one tensor per rank (filled when the collective is done).
  PendingCollective allGatherAsync(const at::Tensor& tensor, std::vector<at::Tensor>& outputs);
  PendingCollective barrierAsync();
  void allReduce(at::Tensor& tensor, bool average);
  void broadcast(at::Tensor& tensor, int root);
  std::vector<at::Tensor> allGather(const at::Tensor& tensor);
  void barrier();
  // All-reduce (sum) of a tensor on any device (small host-side statistics): staged through the
  // group's device when it is not already there, the sum written back in place.
  void allReduceAnywhere(at::Tensor& tensor);
  // Seconds spent blocked in wait() since creation (for benchmarks).
  double waitSeconds() const;

  // Throws if an earlier collective failed (the group cannot be used after a failure).
  void checkUsable() const;
  // A model whose tensors this group is to carry (fit, afterTask) must be on its device: gloo a
  // CPU model, nccl a model on this rank's CUDA device. ConfigError naming the field otherwise.
  void checkModelDevice(const at::Device& model, const char* what) const;
  // A training run owns the group's collective order while it runs: collectives from JS are
  // refused meanwhile (interleaving them could differ between ranks and mismatch the peers).
  class Exclusive {
   public:
    explicit Exclusive(std::shared_ptr<ProcessGroup> g);
    ~Exclusive();
    Exclusive(const Exclusive&) = delete;
    Exclusive& operator=(const Exclusive&) = delete;
   private:
    std::shared_ptr<ProcessGroup> g_;
  };
  void checkNotExclusive() const;
  // Records a failure and rethrows it as ERR_DISTRIBUTED.
  [[noreturn]] void failed(const std::string& what, const std::string& message);

 private:
  explicit ProcessGroup(GroupOptions options);
  template <class F>
  PendingCollective launch(const char* what, F&& enqueue);
  void checkTensor(const at::Tensor& t, const char* what) const;
  GroupOptions options_;
  std::string backend_ = "gloo";
  at::Device device_{at::kCPU};
  std::unique_ptr<Impl> impl_;
  mutable std::mutex mu_;
  std::string brokenBy_;
  int exclusive_ = 0;
  double waitSeconds_ = 0;
  friend class PendingCollective;
};

}  // namespace cn
