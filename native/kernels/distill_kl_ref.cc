#include <ATen/ATen.h>

#include "kernels/distill_kl.h"

namespace cn::kernels {

at::Tensor distillKlReference(const at::Tensor& student, const at::Tensor& teacher, double temperature) {
  at::Tensor logStudent = at::log_softmax(student.to(at::kFloat) / temperature, -1);
  at::Tensor logTeacher = at::log_softmax(teacher.to(at::kFloat).detach() / temperature, -1);
  return at::kl_div(logStudent, logTeacher, at::Reduction::Sum, /*log_target=*/true);
}

}  // namespace cn::kernels
