#include "dist/process_group.h"

#include <chrono>
#include <cstdlib>
#include <mutex>
#include <optional>

#include "core/dtype.h"
#include "core/errors.h"

#if defined(CN_WITH_GLOO) || defined(CN_WITH_NCCL)
#define CN_WITH_C10D 1
#endif

#ifdef CN_WITH_C10D
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif
#ifdef CN_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef CN_WITH_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace cn {

std::vector<std::string> builtBackends() {
  std::vector<std::string> out;
#ifdef CN_WITH_GLOO
  out.push_back("gloo");
#endif
#ifdef CN_WITH_NCCL
  out.push_back("nccl");
#endif
  return out;
}

namespace {

constexpr bool kHaveNccl =
#ifdef CN_WITH_NCCL
    true;
#else
    false;
#endif

struct Resolved {
  std::string backend;
  at::Device device{at::kCPU};
};

// options.backend and options.device → the backend and device the group uses, or a typed error
// naming the field. Runs before any connection is made.
Resolved resolveBackend(const GroupOptions& o) {
  const std::string& b = o.backend;
  if (b != "auto" && b != "gloo" && b != "nccl") {
    fail(code::kConfig, "backend must be 'auto', 'gloo' or 'nccl' (got '" + b + "')", {{"field", "backend"}});
  }
  if (o.localRank < 0) fail(code::kConfig, "localRank must be ≥ 0 (got " + std::to_string(o.localRank) + ")", {{"field", "localRank"}});
  const bool wantsCuda = o.device.rfind("cuda", 0) == 0;
  if (!o.device.empty() && o.device != "cpu" && !wantsCuda) {
    fail(code::kConfig, "device must be cpu, cuda or cuda:N (got '" + o.device + "')", {{"field", "device"}});
  }
  if (b == "nccl" && !kHaveNccl) {
    fail(code::kDistributed,
         "backend 'nccl' is not available in this build (it was compiled without NCCL: that needs a CUDA libtorch and nccl.h; "
         "this build has " + std::string(builtBackends().empty() ? "no backend" : "gloo, for CPU tensors") + ")",
         {{"field", "backend"}});
  }
  Resolved r;
  const bool nccl = b == "nccl" || (b == "auto" && wantsCuda && kHaveNccl);
  if (!nccl) {
    // 'auto' with a CUDA device in a build without NCCL is gloo too (training a CUDA model over
    // it is then refused, saying why); asking for gloo by name for CUDA tensors is a mistake.
    if (wantsCuda && b == "gloo") {
      fail(code::kConfig,
           "backend 'gloo' takes CPU tensors, but device is '" + o.device + "'" +
               (kHaveNccl ? ": use backend 'nccl' (or 'auto') for CUDA tensors" : " (this build has no NCCL for CUDA tensors)"),
           {{"field", "device"}});
    }
    r.backend = "gloo";
    return r;
  }
  if (!o.device.empty() && !wantsCuda) {
    fail(code::kConfig, "backend 'nccl' takes CUDA tensors: device must be cuda or cuda:N (got '" + o.device + "'); use 'gloo' for CPU tensors",
         {{"field", "device"}});
  }
  // "cuda" (or nothing): this rank's local device, as torchrun's LOCAL_RANK → cuda:LOCAL_RANK.
  const std::string name = o.device.empty() || o.device == "cuda" ? "cuda:" + std::to_string(o.localRank) : o.device;
  r.backend = "nccl";
  r.device = parseDevice(name);  // DeviceError (field device) when CUDA or that device is absent
  return r;
}

}  // namespace

#ifdef CN_WITH_C10D
namespace {
std::string describe(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const c10::Error& err) {
    std::string m = err.msg();
    return m.empty() ? std::string(err.what()) : m;
  } catch (const std::exception& err) {
    return err.what();
  } catch (...) {
    return "unknown error";
  }
}

// c10 messages can span lines (and carry backtraces); one line is what a user needs.
std::string firstLine(const std::string& s) {
  const auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

#ifdef CN_WITH_NCCL
// ProcessGroupNCCL's watchdog handles a failed or timed-out collective as
// TORCH_NCCL_ASYNC_ERROR_HANDLING says; torch's default (3) ends the process. A failure must be a
// DistributedError here instead, so unless the user chose a mode, use 2 (abort the communicators,
// keep the process): wait() — which blocks the host up to the group's timeout, as it is given
// one — then throws, and the group is marked broken. Read by the ProcessGroupNCCL constructor.
void preferRecoverableNcclErrors() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (!std::getenv("TORCH_NCCL_ASYNC_ERROR_HANDLING") && !std::getenv("NCCL_ASYNC_ERROR_HANDLING")) {
      setenv("TORCH_NCCL_ASYNC_ERROR_HANDLING", "2", 0);
    }
  });
}
#endif
}  // namespace

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> pg;  // ProcessGroupGloo or ProcessGroupNCCL
};

struct PendingCollective::Impl {
  std::shared_ptr<ProcessGroup> group;
  c10::intrusive_ptr<c10d::Work> work;
  std::string what;
};

void PendingCollective::wait() {
  if (!impl_) return;
  auto impl = std::move(impl_);
  const auto start = std::chrono::steady_clock::now();
  try {
    // With a timeout, NCCL's wait blocks this thread until the collective is done on the device
    // (and makes the current stream wait for it), or throws once the timeout passes.
    impl->work->wait(impl->group->timeout());
  } catch (...) {
    impl->group->failed(impl->what, describe(std::current_exception()));
  }
  std::lock_guard<std::mutex> lock(impl->group->mu_);
  impl->group->waitSeconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

ProcessGroup::ProcessGroup(GroupOptions options) : options_(std::move(options)), impl_(std::make_unique<Impl>()) {}

ProcessGroup::~ProcessGroup() {
  // The group joins its threads; the store (rank 0's server) goes after it.
  if (impl_) {
    if (impl_->pg && nccl()) {
      // ProcessGroupNCCL wants an explicit end (its destructor warns and aborts otherwise): shut
      // the communicators down cleanly, or abort them when a collective failed (a peer may be gone).
      try {
        if (brokenBy_.empty()) impl_->pg->shutdown();
        else impl_->pg->abort();
      } catch (...) {
      }
    }
    impl_->pg.reset();
    impl_->store.reset();
  }
}

bool ProcessGroup::built() const { return true; }

std::shared_ptr<ProcessGroup> ProcessGroup::create(const GroupOptions& o) {
  if (o.worldSize < 1 || o.rank < 0 || o.rank >= o.worldSize) {
    fail(code::kConfig, "rank " + std::to_string(o.rank) + " is outside a world of " + std::to_string(o.worldSize), {{"field", "rank"}});
  }
  if (o.masterPort < 1 || o.masterPort > 65535) fail(code::kConfig, "masterPort " + std::to_string(o.masterPort) + " is not a TCP port", {{"field", "masterPort"}});
  const Resolved backend = resolveBackend(o);
#ifndef CN_WITH_GLOO
  if (backend.backend == "gloo") {
    fail(code::kDistributed, "backend 'gloo' is not available in this build (it was compiled without gloo's headers: install libgloo-dev and rebuild)",
         {{"field", "backend"}});
  }
#endif
  std::shared_ptr<ProcessGroup> group(new ProcessGroup(o));
  group->backend_ = backend.backend;
  group->device_ = backend.device;
  const std::string where = o.masterAddr + ":" + std::to_string(o.masterPort);
  const std::string who = "rank " + std::to_string(o.rank) + " of " + std::to_string(o.worldSize);
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(o.masterPort);
    so.isServer = o.rank == 0;
    so.numWorkers = static_cast<std::size_t>(o.worldSize);
    so.waitWorkers = true;
    so.timeout = o.timeout;
    group->impl_->store = c10::make_intrusive<c10d::TCPStore>(o.masterAddr, so);
  } catch (...) {
    fail(code::kDistributed, who + ": the store at " + where + " did not form within " + std::to_string(o.timeout.count()) + " ms: " +
                                 firstLine(describe(std::current_exception())));
  }
#ifdef CN_WITH_NCCL
  if (backend.backend == "nccl") {
    preferRecoverableNcclErrors();
    try {
      // This rank's device is the current one for the thread that forms the group (as
      // torch.cuda.set_device(LOCAL_RANK)); every collective also runs under a guard for it.
      c10::cuda::set_device(backend.device.index());
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = o.timeout;
      auto pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(group->impl_->store, o.rank, o.worldSize, opts);
      // Bound to the device (barrier() and the communicator use it) and connected now, so a
      // failure to form the communicator is this call's error rather than the first collective's.
      pg->setBoundDeviceId(backend.device);
      pg->eagerConnectSingleDevice(backend.device);
      group->impl_->pg = pg;
    } catch (const Error&) {
      throw;
    } catch (...) {
      fail(code::kDistributed, who + ": the nccl group over " + where + " on " + deviceName(backend.device) +
                                   " did not connect: " + firstLine(describe(std::current_exception())));
    }
    return group;
  }
#endif
#ifdef CN_WITH_GLOO
  try {
    auto opts = c10d::ProcessGroupGloo::Options::create(o.timeout);
    // Bind where peers can reach us: GLOO_SOCKET_IFNAME as torch does, loopback for a local job,
    // else this host's name.
    const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
    if (ifname && *ifname) {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    } else if (o.masterAddr == "127.0.0.1" || o.masterAddr == "localhost" || o.masterAddr == "::1") {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    group->impl_->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(group->impl_->store, o.rank, o.worldSize, opts);
  } catch (...) {
    fail(code::kDistributed, who + ": the gloo group over " + where + " did not connect: " + firstLine(describe(std::current_exception())));
  }
#endif
  return group;
}

void ProcessGroup::checkUsable() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!brokenBy_.empty()) fail(code::kDistributed, "the process group is unusable after an earlier failure: " + brokenBy_);
  if (!impl_ || !impl_->pg) fail(code::kDisposed, "ProcessGroup was used after dispose()");
}

void ProcessGroup::failed(const std::string& what, const std::string& message) {
  const std::string text = what + " failed on rank " + std::to_string(options_.rank) + " of " + std::to_string(options_.worldSize) +
                           " (a peer died, or did not take part within " + std::to_string(options_.timeout.count()) + " ms): " + firstLine(message);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (brokenBy_.empty()) brokenBy_ = text;
  }
  fail(code::kDistributed, text);
}

double ProcessGroup::waitSeconds() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waitSeconds_;
}

void ProcessGroup::checkTensor(const at::Tensor& t, const char* what) const {
  if (!t.defined()) fail(code::kInvalidArgument, std::string(what) + ": the tensor is undefined", {{"field", "tensor"}});
  if (t.device() != device_) {
    fail(code::kDevice, std::string(what) + ": the " + backend_ + " group takes tensors on " + deviceName(device_) + " (got " + deviceName(t.device()) + ")",
         {{"field", "tensor"}});
  }
  if (!t.is_contiguous()) fail(code::kInvalidArgument, std::string(what) + ": the tensor must be contiguous", {{"field", "tensor"}});
}

template <class F>
PendingCollective ProcessGroup::launch(const char* what, F&& enqueue) {
  auto impl = std::make_shared<PendingCollective::Impl>();
  impl->group = shared_from_this();
  impl->what = what;
  try {
#ifdef CN_WITH_NCCL
    // Enqueued from any thread (JS, a worker, autograd's device thread): under this rank's device.
    std::optional<c10::cuda::CUDAGuard> onDevice;
    if (nccl()) onDevice.emplace(device_);
#endif
    impl->work = enqueue();
  } catch (const Error&) {
    throw;
  } catch (...) {
    failed(what, describe(std::current_exception()));
  }
  return PendingCollective(impl);
}

PendingCollective ProcessGroup::allReduceSumAsync(at::Tensor& tensor, const char* what) {
  checkUsable();
  checkTensor(tensor, what);
  return launch(what, [&] {
    std::vector<at::Tensor> ts{tensor};
    c10d::AllreduceOptions ao;
    ao.reduceOp = c10d::ReduceOp::SUM;
    ao.timeout = options_.timeout;
    return impl_->pg->allreduce(ts, ao);
  });
}

PendingCollective ProcessGroup::broadcastAsync(at::Tensor& tensor, int root) {
  checkUsable();
  checkTensor(tensor, "broadcast");
  if (root < 0 || root >= options_.worldSize) fail(code::kInvalidArgument, "broadcast root " + std::to_string(root) + " is outside the world", {{"field", "root"}});
  return launch("broadcast", [&] {
    std::vector<at::Tensor> ts{tensor};
    c10d::BroadcastOptions bo;
    bo.rootRank = root;
    bo.timeout = options_.timeout;
    return impl_->pg->broadcast(ts, bo);
  });
}

PendingCollective ProcessGroup::reduceScatterSumAsync(std::vector<at::Tensor> inputs, at::Tensor& output, const char* what) {
  checkUsable();
  checkTensor(output, what);
  if (static_cast<int>(inputs.size()) != options_.worldSize) fail(code::kInvalidArgument, std::string(what) + ": one input per rank is needed", {{"field", "inputs"}});
  for (const auto& t : inputs) checkTensor(t, what);
  if (inputs[options_.rank].numel() != output.numel()) fail(code::kInvalidArgument, std::string(what) + ": the output must have this rank's input's size", {{"field", "output"}});
  return launch(what, [&] {
    // (NCCL: parts of different sizes go out as one reduce per rank, coalesced: c10d does this.)
    std::vector<at::Tensor> outs{output};
    std::vector<std::vector<at::Tensor>> ins{inputs};
    c10d::ReduceScatterOptions ro;
    ro.reduceOp = c10d::ReduceOp::SUM;
    ro.timeout = options_.timeout;
    return impl_->pg->reduce_scatter(outs, ins, ro);
  });
}

PendingCollective ProcessGroup::allGatherAsync(const at::Tensor& tensor, std::vector<at::Tensor>& outputs) {
  checkUsable();
  checkTensor(tensor, "all-gather");
  outputs.clear();
  for (int r = 0; r < options_.worldSize; ++r) outputs.push_back(at::empty_like(tensor));
  return launch("all-gather", [&] {
    std::vector<std::vector<at::Tensor>> out{outputs};
    std::vector<at::Tensor> inputs{tensor};
    c10d::AllgatherOptions ao;
    ao.timeout = options_.timeout;
    return impl_->pg->allgather(out, inputs, ao);
  });
}

PendingCollective ProcessGroup::barrierAsync() {
  checkUsable();
  return launch("barrier", [&] {
    c10d::BarrierOptions bo;
    bo.timeout = options_.timeout;
    if (nccl()) bo.device = device_;
    return impl_->pg->barrier(bo);
  });
}

#else  // no backend compiled in: the API exists, every use says why it cannot work

struct ProcessGroup::Impl {};
struct PendingCollective::Impl {};
void PendingCollective::wait() {}
ProcessGroup::ProcessGroup(GroupOptions options) : options_(std::move(options)) {}
ProcessGroup::~ProcessGroup() = default;
bool ProcessGroup::built() const { return false; }
[[noreturn]] static void noGloo() {
  fail(code::kDistributed, "this build of continual-next has no distributed support: it was compiled without gloo's headers (install libgloo-dev and rebuild)");
}
std::shared_ptr<ProcessGroup> ProcessGroup::create(const GroupOptions& o) {
  resolveBackend(o);  // an unknown backend, or nccl asked of a build without it, says so first
  noGloo();
}
void ProcessGroup::checkUsable() const { noGloo(); }
void ProcessGroup::checkTensor(const at::Tensor&, const char*) const { noGloo(); }
void ProcessGroup::failed(const std::string& what, const std::string& message) { fail(code::kDistributed, what + ": " + message); }
double ProcessGroup::waitSeconds() const { return 0; }
PendingCollective ProcessGroup::allReduceSumAsync(at::Tensor&, const char*) { noGloo(); }
PendingCollective ProcessGroup::broadcastAsync(at::Tensor&, int) { noGloo(); }
PendingCollective ProcessGroup::allGatherAsync(const at::Tensor&, std::vector<at::Tensor>&) { noGloo(); }
PendingCollective ProcessGroup::reduceScatterSumAsync(std::vector<at::Tensor>, at::Tensor&, const char*) { noGloo(); }
PendingCollective ProcessGroup::barrierAsync() { noGloo(); }

#endif

ProcessGroup::Exclusive::Exclusive(std::shared_ptr<ProcessGroup> g) : g_(std::move(g)) {
  std::lock_guard<std::mutex> lock(g_->mu_);
  if (g_->exclusive_ > 0) fail(code::kDistributed, "the process group is already used by another training run");
  ++g_->exclusive_;
}
ProcessGroup::Exclusive::~Exclusive() {
  std::lock_guard<std::mutex> lock(g_->mu_);
  --g_->exclusive_;
}
void ProcessGroup::checkNotExclusive() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (exclusive_ > 0) fail(code::kDistributed, "the process group is in use by a training run (fit); call collectives after it ends");
}

void ProcessGroup::checkModelDevice(const at::Device& model, const char* what) const {
  if (model == device_) return;
  const std::string on = deviceName(model);
  if (!nccl() && !model.is_cpu()) {
    fail(code::kConfig,
         std::string(what) + ": the process group's backend is gloo, which carries CPU tensors, and the model is on " + on +
             (kHaveNccl ? ": create the group with backend 'nccl' (or 'auto' with device '" + on + "')" : " (this build has no NCCL backend for CUDA tensors)"),
         {{"field", "backend"}});
  }
  if (nccl() && model.is_cpu()) {
    fail(code::kConfig, std::string(what) + ": the process group's backend is nccl, which carries CUDA tensors, and the model is on cpu: use backend 'gloo' (or 'auto') for a CPU model",
         {{"field", "backend"}});
  }
  fail(code::kConfig, std::string(what) + ": the nccl group is on " + deviceName(device_) + " and the model on " + on + ": load the model on this rank's device",
       {{"field", "device"}});
}

// Shared by both builds: the blocking forms.
void ProcessGroup::allReduce(at::Tensor& tensor, bool average) {
  allReduceSumAsync(tensor, average ? "all-reduce (avg)" : "all-reduce (sum)").wait();
  // Sum, then divide (gloo has no AVG; integers with truncation).
  if (average) {
    if (at::isFloatingType(tensor.scalar_type())) tensor.div_(options_.worldSize);
    else tensor.copy_(at::div(tensor, options_.worldSize, "trunc"));
  }
}
void ProcessGroup::allReduceAnywhere(at::Tensor& tensor) {
  if (tensor.device() == device_ && tensor.is_contiguous()) return allReduce(tensor, false);
  at::Tensor staged = tensor.to(device_).contiguous();
  allReduce(staged, false);
  tensor.copy_(staged);
}
void ProcessGroup::broadcast(at::Tensor& tensor, int root) { broadcastAsync(tensor, root).wait(); }
std::vector<at::Tensor> ProcessGroup::allGather(const at::Tensor& tensor) {
  std::vector<at::Tensor> out;
  allGatherAsync(tensor, out).wait();
  return out;
}
void ProcessGroup::barrier() { barrierAsync().wait(); }

}  // namespace cn
