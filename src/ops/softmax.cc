// Ops that work along one axis: Softmax LogSoftmax Hardmax CumSum.
#include <cmath>
#include <limits>

#include "ops/elementwise_util.h"

namespace quac::ops {
namespace {

// The input viewed as [outer, n, inner] with the reduced axis in the middle.
struct Lanes {
  int64_t outer = 1, n = 1, inner = 1;
};

Lanes lanes_at(const Shape& shape, int64_t axis, bool flatten_tail) {
  Lanes l;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (d < axis)
      l.outer *= shape[d];
    else if (d == axis || flatten_tail)
      l.n *= shape[d];
    else
      l.inner *= shape[d];
  }
  return l;
}

// Before opset 13 the input is coerced to 2-D [prod(dims[:axis]), prod(dims[axis:])] (axis defaults to 1); from
// 13 the op runs along one axis (default -1).
Lanes softmax_lanes(const KernelContext& ctx, const Tensor& x) {
  const bool legacy = ctx.opset() < 13;
  int64_t axis = ctx.node().attr_int("axis", legacy ? 1 : -1);
  if (legacy && x.rank() > 0 && axis == x.rank()) return lanes_at(x.shape(), x.rank(), true);  // [N, 1]
  axis = x.rank() == 0 ? 0 : normalize_axis(ctx, axis, x.rank());
  return lanes_at(x.shape(), axis, legacy);
}

enum class Kind { kSoftmax, kLogSoftmax, kHardmax };

template <typename T>
void softmax_lanes_loop(const KernelContext& ctx, const Tensor& x, Tensor& y, const Lanes& l, Kind kind) {
  const T* px = x.data<T>();
  T* py = y.data<T>();
  const int64_t lanes = l.outer * l.inner;
  parallel_for(
      lanes, ctx.num_threads(),
      [&](int64_t begin, int64_t end) {
        for (int64_t lane = begin; lane < end; ++lane) {
          const int64_t base = (lane / l.inner) * l.n * l.inner + lane % l.inner;
          auto at = [&](int64_t k) { return base + k * l.inner; };
          double max_v = -std::numeric_limits<double>::infinity();
          int64_t arg = 0;
          for (int64_t k = 0; k < l.n; ++k) {
            double v = static_cast<double>(load(px[at(k)]));
            if (v > max_v) max_v = v, arg = k;
          }
          if (kind == Kind::kHardmax) {
            for (int64_t k = 0; k < l.n; ++k) py[at(k)] = store<T>(k == arg ? 1.0 : 0.0);
            continue;
          }
          double sum = 0;
          for (int64_t k = 0; k < l.n; ++k) sum += std::exp(static_cast<double>(load(px[at(k)])) - max_v);
          const double log_sum = std::log(sum);
          for (int64_t k = 0; k < l.n; ++k) {
            double shifted = static_cast<double>(load(px[at(k)])) - max_v;
            py[at(k)] = store<T>(kind == Kind::kSoftmax ? std::exp(shifted) / sum : shifted - log_sum);
          }
        }
      },
      std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(l.n, 1)));
}

template <Kind kind>
void softmax_family(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Lanes l = softmax_lanes(ctx, x);
  Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
  QUAC_EW_DISPATCH_FLOAT(x.dtype(), ctx, softmax_lanes_loop<T>(ctx, x, y, l, kind));
}

// CumSum(x, axis) with the exclusive and reverse attributes.
void cumsum(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& axis_t = ctx.in(1);
  if (axis_t.numel() != 1 || !dtype_is_integer(axis_t.dtype())) ctx.fail("axis must be a single integer");
  const int64_t axis = normalize_axis(ctx, axis_t.scalar_as_int(0), x.rank());
  const bool exclusive = ctx.node().attr_int("exclusive", 0) != 0;
  const bool reverse = ctx.node().attr_int("reverse", 0) != 0;
  const Lanes l = lanes_at(x.shape(), axis, false);
  Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
  QUAC_EW_DISPATCH_NUMERIC(x.dtype(), ctx, {
    using C = compute_t<T>;
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallel_for(
        l.outer * l.inner, ctx.num_threads(),
        [&](int64_t begin, int64_t end) {
          for (int64_t lane = begin; lane < end; ++lane) {
            const int64_t base = (lane / l.inner) * l.n * l.inner + lane % l.inner;
            C acc{0};
            for (int64_t j = 0; j < l.n; ++j) {
              const int64_t k = reverse ? l.n - 1 - j : j;
              const int64_t at = base + k * l.inner;
              C v = load(px[at]);
              if (!exclusive) acc = wrap_add(acc, v);
              py[at] = store<T>(acc);
              if (exclusive) acc = wrap_add(acc, v);
            }
          }
        },
        std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(l.n, 1)));
  });
}

}  // namespace

QUAC_REGISTER_REFERENCE_OP("Softmax", softmax_family<Kind::kSoftmax>);
QUAC_REGISTER_REFERENCE_OP("LogSoftmax", softmax_family<Kind::kLogSoftmax>);
QUAC_REGISTER_REFERENCE_OP("Hardmax", softmax_family<Kind::kHardmax>);
QUAC_REGISTER_REFERENCE_OP("CumSum", cumsum);

}  // namespace quac::ops
