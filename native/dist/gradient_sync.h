// Data-parallel gradient synchronisation for the trainer: the trainable parameters' gradients are
// summed over the ranks in buckets (~4 MB of fp32 each, in reverse parameter order, roughly the
// order backward produces them). During the final backward of an optimizer step, a hook on each
// parameter copies its finished gradient (what .grad holds plus what is being accumulated) into
// its bucket; a bucket whose every gradient has arrived is sent at once (gloo reduces it on its own
// threads while backward goes on). Buckets go out strictly in index order, so every rank issues
// the same collectives in the same order even when some gradient never arrives (an unused
// parameter, a rank with no data in this step): finish() sends whatever is left and waits.
// Accumulation micro-steps before the last do no communication.
//
// Buffers live on the parameters' device, which must be the group's (CPU for gloo, this rank's
// CUDA device for NCCL; the trainer checks). With NCCL the hooks run on autograd's device thread:
// their copies go on that thread's current stream, which the collective's stream waits for.
//
// The trainer scales each rank's loss by the labelled tokens of the whole global step, so the sum
// is the single-process gradient of the step's mean loss.
//
// ZeRO-2 (`owners` given: each parameter's owner rank): a bucket's gradients are laid out owner by
// owner and the bucket is reduce-scattered (c10d reduce_scatter) instead of all-reduced, so each
// rank receives the summed gradient of the parameters it owns only; finish() writes those and
// frees every other parameter's .grad (and the bucket buffers, which are allocated again by the
// next step's hooks). Between steps a rank then keeps 1/world of the gradients.
#pragma once
#include <ATen/ATen.h>

#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "dist/process_group.h"
#include "tuners/tuner.h"

namespace cn {

class GradientSync {
 public:
  GradientSync(std::shared_ptr<ProcessGroup> group, std::vector<NamedTensor> params, int64_t bucketBytes = 4 << 20,
               std::vector<int> owners = {});
  ~GradientSync();
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  // Makes every rank's parameters rank 0's.
  void broadcastParameters();
  // The next backward is the step's last: its gradients are sent as they become ready.
  void arm();
  // Sends the remaining buckets (and `stats`, summed in place, when defined), waits for all of
  // them and writes the summed gradients into .grad. Disarms the hooks.
  void finish(at::Tensor stats = at::Tensor());
  size_t buckets() const { return buckets_.size(); }

 private:
  struct Bucket {
    std::vector<size_t> params;
    std::vector<int64_t> offsets;
    at::Tensor flat;  // fp32; ZeRO-2: owner 0's gradients, then owner 1's, ... (undefined between steps)
    int64_t numel = 0;
    std::vector<int64_t> segment;  // ZeRO-2: per rank, where its part of `flat` starts (and ends: [r + 1])
    at::Tensor mine;               // ZeRO-2: the reduced sum of this rank's part
    size_t arrived = 0;
    std::vector<bool> has;
    std::optional<PendingCollective> pending;
  };
  void onGradient(size_t param, const at::Tensor& incoming);
  void launchReady();  // under mu_
  void reset();        // no bucket sent, no gradient arrived
  void launch(Bucket& b);
  at::Tensor& flatOf(Bucket& b);  // allocates the buffer when a ZeRO-2 step needs it

  std::shared_ptr<ProcessGroup> group_;
  std::vector<NamedTensor> params_;
  std::vector<Bucket> buckets_;
  std::vector<std::pair<size_t, size_t>> where_;  // param → (bucket, slot)
  std::vector<int> owners_;  // ZeRO-2 when not empty
  at::TensorOptions flatOptions_;  // fp32 on the parameters' device (the group's: CPU for gloo, CUDA for NCCL)
  std::vector<unsigned> hooks_;
  std::mutex mu_;
  bool armed_ = false;
  size_t nextLaunch_ = 0;
};

}  // namespace cn
