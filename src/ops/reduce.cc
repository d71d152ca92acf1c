// ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2, ReduceLogSum, ReduceLogSumExp,
// ReduceSumSquare. Axes come from the `axes` attribute, or from the second input for ReduceSum from opset 13 and for
// the others from opset 18. Reducing an empty set yields the op's identity (0 for sums, 1 for Prod, -inf for Max and
// the log-sums, +inf for Min; the lowest/highest value for integers).
#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/kernel.h"
#include "ops/op_util.h"
#include "ops/quant_util.h"

namespace quac::ops {
namespace {

enum class ReduceKind { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kLogSum, kLogSumExp, kSumSquare };

// Floating types accumulate in double (a plain running sum in float would drift on long reductions); integers in
// 64 bits of their own signedness, which wraps to the same low bits as a T accumulator would.
template <typename T>
using ReduceAcc =
    std::conditional_t<std::is_floating_point_v<T>, double, std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>;

// Geometry of a reduction: the input's dims split into kept ones (which index the output, in order) and reduced ones.
struct ReducePlan {
  Shape out_shape;
  std::vector<int64_t> kept_sizes, kept_strides;  // input strides of the kept dims
  std::vector<int64_t> red_sizes, red_strides;    // input strides of the reduced dims
  int64_t reduced_count = 1;
};

ReducePlan plan_reduction(const KernelContext& ctx, const Shape& in, std::vector<int64_t> axes, bool keepdims) {
  int64_t rank = static_cast<int64_t>(in.size());
  std::vector<bool> reduce(in.size(), axes.empty());
  for (int64_t& a : axes) {
    if (a < -rank || a >= rank)
      ctx.fail("axis " + std::to_string(a) + " is out of range for rank " + std::to_string(rank));
    a = a < 0 ? a + rank : a;
    if (reduce[a]) ctx.fail("axis " + std::to_string(a) + " is listed twice");
    reduce[a] = true;
  }
  ReducePlan p;
  std::vector<int64_t> strides = strides_of(in);
  // Adjacent dims of the same kind merge into one (their strides chain), so the common reductions over one run of
  // dims walk a single loop.
  for (int64_t d = 0; d < rank; ++d) {
    bool merge = d > 0 && reduce[d] == reduce[d - 1];
    std::vector<int64_t>& sizes = reduce[d] ? p.red_sizes : p.kept_sizes;
    std::vector<int64_t>& dim_strides = reduce[d] ? p.red_strides : p.kept_strides;
    if (merge) {
      sizes.back() *= in[d];
      dim_strides.back() = strides[d];
    } else {
      sizes.push_back(in[d]);
      dim_strides.push_back(strides[d]);
    }
    if (reduce[d]) p.reduced_count *= in[d];
    if (!reduce[d] || keepdims) p.out_shape.push_back(reduce[d] ? 1 : in[d]);
  }
  return p;
}

// Calls fn(offset) for every input element reduced into the output element whose kept-dims offset is `base`, in
// row-major order of the reduced dims: a plain loop over the innermost one, an odometer over the others.
template <typename Fn>
void for_each_reduced(const ReducePlan& p, int64_t base, Fn&& fn) {
  if (p.reduced_count == 0) return;
  size_t n = p.red_sizes.size();
  if (n == 0) {
    fn(base);
    return;
  }
  int64_t inner_size = p.red_sizes[n - 1], inner_stride = p.red_strides[n - 1];
  std::vector<int64_t> idx(n - 1, 0);
  int64_t off = base;
  for (int64_t r = 0; r < p.reduced_count / inner_size; ++r) {
    for (int64_t e = 0; e < inner_size; ++e) fn(off + e * inner_stride);
    for (size_t d = n - 1; d-- > 0;) {
      off += p.red_strides[d];
      if (++idx[d] < p.red_sizes[d]) break;
      off -= p.red_strides[d] * p.red_sizes[d];
      idx[d] = 0;
    }
  }
}

template <typename T>
void reduce_typed(KernelContext& ctx, ReduceKind kind, const ReducePlan& p, const T* x, T* y) {
  using Acc = ReduceAcc<T>;
  constexpr bool kFloat = std::is_floating_point_v<T>;
  const Acc max_identity = kFloat ? -std::numeric_limits<Acc>::infinity() : std::numeric_limits<T>::lowest();
  const Acc min_identity = kFloat ? std::numeric_limits<Acc>::infinity() : std::numeric_limits<T>::max();
  int64_t outputs = shape_numel(p.out_shape);
  int64_t n = p.reduced_count;
  // Results computed in double (L2, the log-sums) come back to an integer T clamped: log(0) = -inf has no integer.
  auto from_double = [](double v) -> Acc {
    if constexpr (kFloat) {
      return v;
    } else {
      if (std::isnan(v)) return 0;
      return static_cast<Acc>(std::clamp(v, static_cast<double>(std::numeric_limits<T>::lowest()),
                                         static_cast<double>(std::numeric_limits<T>::max())));
    }
  };

  auto reduce_one = [&](int64_t base) -> Acc {
    Acc acc = 0;
    switch (kind) {
      case ReduceKind::kSum:
      case ReduceKind::kMean:
      case ReduceKind::kLogSum:
        for_each_reduced(p, base, [&](int64_t i) { acc += static_cast<Acc>(x[i]); });
        break;
      case ReduceKind::kSumSquare:
      case ReduceKind::kL2:
        for_each_reduced(p, base, [&](int64_t i) { acc += static_cast<Acc>(x[i]) * static_cast<Acc>(x[i]); });
        break;
      case ReduceKind::kL1:
        for_each_reduced(p, base, [&](int64_t i) {
          Acc v = static_cast<Acc>(x[i]);
          acc += v < 0 ? Acc(0) - v : v;
        });
        break;
      case ReduceKind::kProd:
        acc = 1;
        for_each_reduced(p, base, [&](int64_t i) { acc *= static_cast<Acc>(x[i]); });
        break;
      case ReduceKind::kMax:
        // NaN propagates, as in numpy: once acc is NaN no comparison replaces it.
        acc = max_identity;
        for_each_reduced(p, base, [&](int64_t i) {
          Acc v = static_cast<Acc>(x[i]);
          if (v > acc || v != v) acc = v;
        });
        break;
      case ReduceKind::kMin:
        acc = min_identity;
        for_each_reduced(p, base, [&](int64_t i) {
          Acc v = static_cast<Acc>(x[i]);
          if (v < acc || v != v) acc = v;
        });
        break;
      case ReduceKind::kLogSumExp: {
        // Shift by the maximum so exp() cannot overflow; an all -inf (or empty) set stays -inf.
        Acc m = max_identity;
        for_each_reduced(p, base, [&](int64_t i) { m = std::max<Acc>(m, static_cast<Acc>(x[i])); });
        if constexpr (kFloat) {
          if (std::isinf(m)) return m;
          for_each_reduced(p, base, [&](int64_t i) { acc += std::exp(static_cast<Acc>(x[i]) - m); });
          return m + std::log(acc);
        } else {
          double sum = 0;
          for_each_reduced(p, base, [&](int64_t i) { sum += std::exp(static_cast<double>(x[i] - m)); });
          return from_double(static_cast<double>(m) + std::log(sum));
        }
      }
    }
    switch (kind) {
      case ReduceKind::kMean:
        if constexpr (kFloat) return acc / static_cast<Acc>(n);
        return n == 0 ? Acc(0) : acc / static_cast<Acc>(n);
      case ReduceKind::kL2:
        return from_double(std::sqrt(static_cast<double>(acc)));
      case ReduceKind::kLogSum:
        return from_double(std::log(static_cast<double>(acc)));
      default:
        return acc;
    }
  };

  // Output elements are independent: split them over threads. Each one is reduced in a fixed order.
  int64_t min_chunk = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, n));
  parallel_for(
      outputs, ctx.num_threads(),
      [&](int64_t begin, int64_t end) {
        size_t kept = p.kept_sizes.size();
        std::vector<int64_t> idx(kept, 0);
        int64_t base = 0;
        // Start the kept-dims odometer at `begin`.
        for (size_t d = kept, rest = static_cast<size_t>(begin); d-- > 0;) {
          idx[d] = static_cast<int64_t>(rest % p.kept_sizes[d]);
          rest /= p.kept_sizes[d];
          base += idx[d] * p.kept_strides[d];
        }
        for (int64_t o = begin; o < end; ++o) {
          y[o] = static_cast<T>(reduce_one(base));
          for (size_t d = kept; d-- > 0;) {
            base += p.kept_strides[d];
            if (++idx[d] < p.kept_sizes[d]) break;
            base -= p.kept_strides[d] * p.kept_sizes[d];
            idx[d] = 0;
          }
        }
      },
      min_chunk);
}

void reduce(KernelContext& ctx, ReduceKind kind) {
  const ir::Node& node = ctx.node();
  const Tensor& x_in = ctx.in(0);
  bool keepdims = node.attr_int("keepdims", 1) != 0;
  // Axes moved from the attribute to an optional input: ReduceSum at opset 13, the other reductions at 18.
  int64_t axes_input_opset = kind == ReduceKind::kSum ? 13 : 18;
  std::vector<int64_t> axes;
  bool noop_with_empty_axes = false;
  if (ctx.opset() >= axes_input_opset) {
    if (const Tensor* a = ctx.input(1)) {
      if (!dtype_is_integer(a->dtype()) || a->rank() > 1) ctx.fail("axes must be a 1-D integer tensor");
      axes = a->to_int_vector();
    }
    noop_with_empty_axes = node.attr_int("noop_with_empty_axes", 0) != 0;
  } else {
    axes = node.attr_ints("axes");
  }
  if (axes.empty() && noop_with_empty_axes) {
    ctx.set_output(0, x_in);
    return;
  }
  ReducePlan p = plan_reduction(ctx, x_in.shape(), axes, keepdims);
  DataType type = x_in.dtype();
  Tensor& y = ctx.allocate_output(0, type, p.out_shape);
  Tensor x = widen_half(x_in);
  Tensor result = is_half(type) ? Tensor(DataType::kFloat, p.out_shape) : y;
  QUAC_DISPATCH_NUMERIC(x.dtype(), ctx, { reduce_typed<T>(ctx, kind, p, x.data<T>(), result.data<T>()); });
  if (is_half(type)) narrow_half(result, y);
}

QUAC_REGISTER_REFERENCE_OP("ReduceSum", [](KernelContext& ctx) { reduce(ctx, ReduceKind::kSum); });
QUAC_REGISTER_REFERENCE_OP("ReduceMean", [](KernelContext& ctx) { reduce(ctx, ReduceKind::kMean); });
QUAC_REGISTER_REFERENCE_OP("ReduceMax", [](KernelContext& ctx) { reduce(ctx, ReduceKind::kMax); });
QUAC_REGISTER_REFERENCE_OP("ReduceMin", [](KernelContext& ctx) { reduce(ctx, ReduceKind::kMin); });
QUAC_REGISTER_REFERENCE_OP("ReduceProd", [](KernelContext& ctx) { reduce(ctx, ReduceKind::kProd); });
QUAC_REGISTER_REFERENCE_OP("ReduceL1", [](KernelContext& ctx) { reduce(ctx, ReduceKind::kL1); });
QUAC_REGISTER_REFERENCE_OP("ReduceL2", [](KernelContext& ctx) { reduce(ctx, ReduceKind::kL2); });
QUAC_REGISTER_REFERENCE_OP("ReduceLogSum", [](KernelContext& ctx) { reduce(ctx, ReduceKind::kLogSum); });
QUAC_REGISTER_REFERENCE_OP("ReduceLogSumExp", [](KernelContext& ctx) { reduce(ctx, ReduceKind::kLogSumExp); });
QUAC_REGISTER_REFERENCE_OP("ReduceSumSquare", [](KernelContext& ctx) { reduce(ctx, ReduceKind::kSumSquare); });

}  // namespace
}  // namespace quac::ops
