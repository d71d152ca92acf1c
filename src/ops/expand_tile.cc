// Expand (broadcast to a shape) and Tile (repeat along every axis).
#include "ops/shape_ops_util.h"

namespace quac::ops {
namespace {

void expand(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Shape target = int_values(ctx, ctx.in(1), "shape");
  for (int64_t d : target)
    if (d < 0) ctx.fail("shape " + shape_str(target) + " has a negative dimension");
  Shape out_shape = broadcast_shapes(ctx, {x.shape(), target});
  Tensor& out = ctx.allocate_output(0, x.dtype(), out_shape);
  auto s = broadcast_strides(x.shape(), out_shape);
  copy_strided(ctx, x, out, 0, s);
}

void tile(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  std::vector<int64_t> repeats;
  if (ctx.opset() < 6) {
    // Tile-1: `tiles` (count) and `axis` inputs repeat a single axis.
    int64_t tiles = ctx.in(1).scalar_as_int(0), axis = checked_axis(ctx, ctx.in(2).scalar_as_int(0), x.rank());
    repeats.assign(static_cast<size_t>(x.rank()), 1);
    repeats[static_cast<size_t>(axis)] = tiles;
  } else {
    repeats = int_values(ctx, ctx.in(1), "repeats");
  }
  if (static_cast<int64_t>(repeats.size()) != x.rank())
    ctx.fail("repeats has " + std::to_string(repeats.size()) + " entries for rank " + std::to_string(x.rank()));
  Shape out_shape = x.shape();
  for (size_t d = 0; d < repeats.size(); ++d) {
    if (repeats[d] < 0) ctx.fail("repeats must be non-negative");
    out_shape[d] *= repeats[d];
  }
  Tensor& out = ctx.allocate_output(0, x.dtype(), out_shape);
  // The output viewed as [repeat0, dim0, repeat1, dim1, ...] reads the input with stride 0 on the repeat axes.
  auto strides = strides_of(x.shape());
  Shape view;
  std::vector<int64_t> view_strides;
  for (size_t d = 0; d < repeats.size(); ++d) {
    view.insert(view.end(), {repeats[d], x.shape()[d]});
    view_strides.insert(view_strides.end(), {0, strides[d]});
  }
  Tensor o = out.reshaped(view);
  copy_strided(ctx, x, o, 0, view_strides);
}

QUAC_REGISTER_REFERENCE_OP("Expand", expand);
QUAC_REGISTER_REFERENCE_OP("Tile", tile);

}  // namespace
}  // namespace quac::ops
