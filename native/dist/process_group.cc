#include "dist/process_group.h"

#include <chrono>
#include <cstdlib>

#include "core/errors.h"

#ifdef CN_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace cn {

#ifdef CN_WITH_GLOO
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
}  // namespace

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
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
    impl_->pg.reset();
    impl_->store.reset();
  }
}

bool ProcessGroup::built() const { return true; }

std::shared_ptr<ProcessGroup> ProcessGroup::create(const GroupOptions& o) {
  if (o.backend != "gloo") {
    fail(code::kDistributed, "backend '" + o.backend + "' is not available in this build (gloo is; NCCL needs a CUDA libtorch)", {{"field", "backend"}});
  }
  if (o.worldSize < 1 || o.rank < 0 || o.rank >= o.worldSize) {
    fail(code::kConfig, "rank " + std::to_string(o.rank) + " is outside a world of " + std::to_string(o.worldSize), {{"field", "rank"}});
  }
  if (o.masterPort < 1 || o.masterPort > 65535) fail(code::kConfig, "masterPort " + std::to_string(o.masterPort) + " is not a TCP port", {{"field", "masterPort"}});
  std::shared_ptr<ProcessGroup> group(new ProcessGroup(o));
  const std::string where = o.masterAddr + ":" + std::to_string(o.masterPort);
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(o.masterPort);
    so.isServer = o.rank == 0;
    so.numWorkers = static_cast<std::size_t>(o.worldSize);
    so.waitWorkers = true;
    so.timeout = o.timeout;
    group->impl_->store = c10::make_intrusive<c10d::TCPStore>(o.masterAddr, so);
  } catch (...) {
    fail(code::kDistributed, "rank " + std::to_string(o.rank) + " of " + std::to_string(o.worldSize) + ": the store at " + where +
                                 " did not form within " + std::to_string(o.timeout.count()) + " ms: " + firstLine(describe(std::current_exception())));
  }
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
    fail(code::kDistributed, "rank " + std::to_string(o.rank) + " of " + std::to_string(o.worldSize) + ": the gloo group over " + where +
                                 " did not connect: " + firstLine(describe(std::current_exception())));
  }
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

static void checkTensor(const at::Tensor& t, const char* what) {
  if (!t.defined()) fail(code::kInvalidArgument, std::string(what) + ": the tensor is undefined", {{"field", "tensor"}});
  if (!t.device().is_cpu()) fail(code::kDevice, std::string(what) + ": gloo needs CPU tensors (got " + t.device().str() + ")", {{"field", "tensor"}});
  if (!t.is_contiguous()) fail(code::kInvalidArgument, std::string(what) + ": the tensor must be contiguous", {{"field", "tensor"}});
}

template <class F>
PendingCollective ProcessGroup::launch(const char* what, F&& enqueue) {
  auto impl = std::make_shared<PendingCollective::Impl>();
  impl->group = shared_from_this();
  impl->what = what;
  try {
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
    return impl_->pg->barrier(bo);
  });
}

#else  // no gloo headers: the API exists, every use says why it cannot work

struct ProcessGroup::Impl {};
struct PendingCollective::Impl {};
void PendingCollective::wait() {}
ProcessGroup::ProcessGroup(GroupOptions options) : options_(std::move(options)) {}
ProcessGroup::~ProcessGroup() = default;
bool ProcessGroup::built() const { return false; }
[[noreturn]] static void noGloo() {
  fail(code::kDistributed, "this build of continual-next has no distributed support: it was compiled without gloo's headers (install libgloo-dev and rebuild)");
}
std::shared_ptr<ProcessGroup> ProcessGroup::create(const GroupOptions&) { noGloo(); }
void ProcessGroup::checkUsable() const { noGloo(); }
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

// Shared by both builds: the blocking forms.
void ProcessGroup::allReduce(at::Tensor& tensor, bool average) {
  allReduceSumAsync(tensor, average ? "all-reduce (avg)" : "all-reduce (sum)").wait();
  // gloo has no AVG: sum, then divide (integers with truncation).
  if (average) {
    if (at::isFloatingType(tensor.scalar_type())) tensor.div_(options_.worldSize);
    else tensor.copy_(at::div(tensor, options_.worldSize, "trunc"));
  }
}
void ProcessGroup::broadcast(at::Tensor& tensor, int root) { broadcastAsync(tensor, root).wait(); }
std::vector<at::Tensor> ProcessGroup::allGather(const at::Tensor& tensor) {
  std::vector<at::Tensor> out;
  allGatherAsync(tensor, out).wait();
  return out;
}
void ProcessGroup::barrier() { barrierAsync().wait(); }

}  // namespace cn
