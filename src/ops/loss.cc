// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (opsets 12/13): inference-time reference kernels.
#include <cmath>

#include "ops/op_util.h"

namespace quac::ops {
namespace {

// loss[n, d] = -input[n, target[n, d], d] * weight[target[n, d]], with ignored targets contributing nothing.
// `input` is [N, C, D...] flattened to (N, C, inner); `target` is [N, D...].
template <typename T>
void nll(KernelContext& ctx, const T* input, const Shape& in_shape, const Tensor& target, const Tensor* weight,
         size_t out_index) {
  if (in_shape.size() < 2) ctx.fail("input must have rank >= 2 ([N, C, ...])");
  int64_t n = in_shape[0], c = in_shape[1];
  int64_t inner = 1;
  for (size_t i = 2; i < in_shape.size(); ++i) inner *= in_shape[i];
  Shape target_shape{n};
  target_shape.insert(target_shape.end(), in_shape.begin() + 2, in_shape.end());
  if (target.shape() != target_shape)
    ctx.fail("target shape " + shape_str(target.shape()) + " does not match input " + shape_str(in_shape));
  if (!dtype_is_integer(target.dtype())) ctx.fail("target must be an integer tensor");
  if (weight && (weight->rank() != 1 || weight->dim(0) != c)) ctx.fail("weight must have shape [C]");
  const ir::Node& node = ctx.node();
  std::string reduction = node.attr_string("reduction", "mean");
  bool has_ignore = node.has("ignore_index");
  int64_t ignore = node.attr_int("ignore_index", 0);
  std::vector<T> w;
  if (weight) {
    w.resize(static_cast<size_t>(c));
    for (int64_t k = 0; k < c; ++k) w[static_cast<size_t>(k)] = static_cast<T>(weight->scalar_as_double(k));
  }
  std::vector<int64_t> labels = target.to_int_vector();
  std::vector<T> loss(static_cast<size_t>(n * inner));
  double loss_sum = 0, weight_sum = 0;
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < inner; ++i) {
      size_t at = static_cast<size_t>(b * inner + i);
      int64_t label = labels[at];
      if (has_ignore && label == ignore) {
        loss[at] = T(0);
        continue;
      }
      if (label < 0 || label >= c)
        ctx.fail("target value " + std::to_string(label) + " is out of range for " + std::to_string(c) + " classes");
      T wt = weight ? w[static_cast<size_t>(label)] : T(1);
      loss[at] = -input[(b * c + label) * inner + i] * wt;
      loss_sum += static_cast<double>(loss[at]);
      weight_sum += static_cast<double>(wt);
    }
  if (reduction == "none") {
    Tensor& out = ctx.allocate_output(out_index, dtype_of<T>(), target_shape);
    std::copy(loss.begin(), loss.end(), out.data<T>());
  } else if (reduction == "sum" || reduction == "mean") {
    Tensor& out = ctx.allocate_output(out_index, dtype_of<T>(), {});
    // A mean over zero total weight is 0/0, as the reference implementation computes it.
    out.data<T>()[0] = static_cast<T>(reduction == "sum" ? loss_sum : loss_sum / weight_sum);
  } else {
    ctx.fail("unknown reduction '" + reduction + "'");
  }
}

void nll_kernel(KernelContext& ctx) {
  const Tensor& input = ctx.in(0);
  QUAC_DISPATCH_FLOAT(input.dtype(), ctx, nll<T>(ctx, input.data<T>(), input.shape(), ctx.in(1), ctx.input(2), 0));
}

template <typename T>
void softmax_cross_entropy(KernelContext& ctx) {
  const Tensor& scores = ctx.in(0);
  if (scores.rank() < 2) ctx.fail("scores must have rank >= 2 ([N, C, ...])");
  int64_t n = scores.dim(0), c = scores.dim(1), inner = scores.numel() / std::max<int64_t>(n * c, 1);
  // log_softmax over the class axis (axis 1).
  Tensor log_prob(dtype_of<T>(), scores.shape());
  const T* s = scores.data<T>();
  T* lp = log_prob.data<T>();
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < inner; ++i) {
      T m = s[b * c * inner + i];
      for (int64_t k = 1; k < c; ++k) m = std::max(m, s[(b * c + k) * inner + i]);
      double sum = 0;
      for (int64_t k = 0; k < c; ++k) sum += std::exp(static_cast<double>(s[(b * c + k) * inner + i] - m));
      T log_sum = static_cast<T>(std::log(sum));
      for (int64_t k = 0; k < c; ++k) lp[(b * c + k) * inner + i] = s[(b * c + k) * inner + i] - m - log_sum;
    }
  nll<T>(ctx, lp, scores.shape(), ctx.in(1), ctx.input(2), 0);
  if (ctx.output_wanted(1)) ctx.set_output(1, log_prob);
}

void sce_kernel(KernelContext& ctx) { QUAC_DISPATCH_FLOAT(ctx.in(0).dtype(), ctx, softmax_cross_entropy<T>(ctx)); }

QUAC_REGISTER_REFERENCE_OP("NegativeLogLikelihoodLoss", nll_kernel);
QUAC_REGISTER_REFERENCE_OP("SoftmaxCrossEntropyLoss", sce_kernel);

}  // namespace
}  // namespace quac::ops
