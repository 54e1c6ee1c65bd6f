// LwF, learning without forgetting (Li & Hoiem 2017), for language models.
// Teacher = the model as it was at the start of the task (the previous task's adapter), frozen.
// Loss = CE + α · T² · KL(p_teacher^T ‖ p_student^T) over the labelled (response) tokens of the
// current task's batches only: never prompt or padding positions (the reference averages over all
// positions). Normalised like the CE: summed over tokens, divided by the step's labelled tokens.
// The teacher needs no second model: the same base runs with the snapshot of the trainable tensors
// swapped in (by pointer), without grad and without dropout, before the student's forward on the same batch.
// Options: alpha (default 1.0), temperature (2.0). The reference hard-codes α 0.001, T 2.
#include <ATen/record_function.h>

#include "core/errors.h"
#include "kernels/distill_kl.h"
#include "methods/math.h"
#include "methods/method.h"
#include "models/decoder.h"
#include "train/loss.h"

namespace cn {

// Σ p_t (log p_t − log p_s) over the rows: the fused CPU kernel, or the ATen reference
// (native/kernels/distill_kl.h).
at::Tensor lwfDistillation(const at::Tensor& student, const at::Tensor& teacher, double temperature) {
  return kernels::distillKl(student, teacher, temperature);
}

namespace {

class Lwf : public Method {
 public:
  explicit Lwf(const Options& o) : alpha_(o.number("alpha", 1.0)), temperature_(o.number("temperature", 2.0)) {
    if (!(alpha_ >= 0)) fail(code::kConfig, "lwf.alpha must be ≥ 0", {{"field", "method.alpha"}});
    if (!(temperature_ > 0)) fail(code::kConfig, "lwf.temperature must be > 0", {{"field", "method.temperature"}});
  }
  std::string name() const override { return "lwf"; }
  bool needsStudentLogits() const override { return true; }

  void beforeTask(MethodContext& ctx, int64_t task) override {
    teacher_.clear();
    if (task == 0) return;  // nothing learned yet to preserve
    at::NoGradGuard noGrad;
    for (const auto& p : ctx.params) teacher_.push_back(p.tensor.detach().clone());
  }

  void beforeForward(MethodContext& ctx, const Batch& batch) override {
    teacherLogits_ = at::Tensor();
    if (teacher_.empty() || batch.labelledTokens == 0) return;
    RECORD_FUNCTION("cn::lwf teacher", std::vector<c10::IValue>());  // its share of a step in CN_PROFILE tables
    at::NoGradGuard noGrad;
    TeacherSwap swap(ctx, teacher_);
    auto [h, targets] = labelledHidden(ctx.model, batch.inputIds, batch.labels, batch.keyValid);
    teacherLogits_ = ctx.model.logits(h);
  }

  at::Tensor extraLoss(MethodContext& ctx, const StudentOutput& s) override {
    if (!teacherLogits_.defined() || !s.labelledLogits.defined()) return at::Tensor();
    at::Tensor kl = lwfDistillation(s.labelledLogits, teacherLogits_, temperature_);
    teacherLogits_ = at::Tensor();
    return kl * (alpha_ * temperature_ * temperature_ / static_cast<double>(std::max<int64_t>(1, s.stepTokens)));
  }

  std::vector<NamedTensor> state() override {
    std::vector<NamedTensor> out;
    for (size_t i = 0; i < teacher_.size(); ++i) out.push_back({"teacher." + std::to_string(i), teacher_[i]});
    return out;
  }
  void loadState(const std::map<std::string, at::Tensor>& s) override {
    teacher_.clear();
    for (size_t i = 0; s.count("teacher." + std::to_string(i)); ++i) teacher_.push_back(s.at("teacher." + std::to_string(i)).clone());
  }

 private:
  // While alive, the trainable tensors hold the teacher's values and the tuner is in eval mode
  // (no dropout). The tensors are re-pointed at the snapshot's storage, not copied into: the
  // modules, the optimizer and autograd hold the same tensor objects, and nothing is written.
  struct TeacherSwap {
    TeacherSwap(MethodContext& ctx, const std::vector<at::Tensor>& teacher) : ctx_(ctx), wasTraining_(ctx.tuner.training()) {
      at::NoGradGuard noGrad;
      try {
        for (size_t i = 0; i < teacher.size(); ++i) {
          student_.push_back(ctx.params[i].tensor.detach());  // keeps the student's storage
          ctx.params[i].tensor.set_(teacher[i]);
        }
        ctx.tuner.setTraining(false);
      } catch (...) {
        restore();
        throw;
      }
    }
    ~TeacherSwap() { restore(); }
    void restore() noexcept {
      at::NoGradGuard noGrad;
      for (size_t i = 0; i < student_.size(); ++i) ctx_.params[i].tensor.set_(student_[i]);
      ctx_.tuner.setTraining(wasTraining_);
    }
    MethodContext& ctx_;
    const bool wasTraining_;
    std::vector<at::Tensor> student_;
  };

  double alpha_, temperature_;
  std::vector<at::Tensor> teacher_;
  at::Tensor teacherLogits_;
};

std::unique_ptr<Method> makeLwf(const Options& o) { return std::make_unique<Lwf>(o); }

}  // namespace
CN_REGISTER_METHOD("lwf", makeLwf);
}  // namespace cn
