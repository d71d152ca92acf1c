// Slice: starts/ends/axes attributes before opset 10, inputs (with steps) from 10. Out-of-range starts and ends are
// clamped as numpy does, negative steps walk backwards.
#include <algorithm>

#include "ops/shape_ops_util.h"

namespace quac::ops {
namespace {

void slice(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  int64_t rank = x.rank();
  std::vector<int64_t> starts, ends, axes, steps;
  if (ctx.opset() < 10) {
    starts = ctx.node().attr_ints("starts");
    ends = ctx.node().attr_ints("ends");
    axes = ctx.node().attr_ints("axes");
  } else {
    starts = int_values(ctx, ctx.in(1), "starts");
    ends = int_values(ctx, ctx.in(2), "ends");
    if (ctx.input(3)) axes = int_values(ctx, *ctx.input(3), "axes");
    if (ctx.input(4)) steps = int_values(ctx, *ctx.input(4), "steps");
  }
  if (starts.size() != ends.size()) ctx.fail("starts and ends differ in length");
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (axes.size() != starts.size() || steps.size() != starts.size())
    ctx.fail("starts, ends, axes and steps differ in length");

  std::vector<int64_t> begin(static_cast<size_t>(rank), 0), step(static_cast<size_t>(rank), 1);
  Shape out_shape = x.shape();
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (size_t i = 0; i < starts.size(); ++i) {
    size_t a = static_cast<size_t>(checked_axis(ctx, axes[i], rank));
    if (seen[a]) ctx.fail("axis " + std::to_string(axes[i]) + " is repeated");
    seen[a] = true;
    int64_t dim = x.shape()[a], s = starts[i], e = ends[i], st = steps[i];
    if (st == 0) ctx.fail("steps must not be 0");
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    int64_t len;
    if (st > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      len = e > s ? (e - s - 1) / st + 1 : 0;
    } else if (dim == 0) {
      s = 0;
      len = 0;
    } else {
      s = std::clamp<int64_t>(s, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      len = s > e ? (s - e - 1) / -std::max(st, -INT64_MAX) + 1 : 0;
    }
    begin[a] = s;
    step[a] = st;
    out_shape[a] = len;
  }
  Tensor& out = ctx.allocate_output(0, x.dtype(), out_shape);
  auto strides = strides_of(x.shape());
  int64_t base = 0;
  std::vector<int64_t> s(static_cast<size_t>(rank));
  for (size_t d = 0; d < static_cast<size_t>(rank); ++d) {
    base += begin[d] * strides[d];
    s[d] = step[d] * strides[d];
  }
  copy_strided(ctx, x, out, base, s);
}

QUAC_REGISTER_REFERENCE_OP("Slice", slice);

}  // namespace
}  // namespace quac::ops
