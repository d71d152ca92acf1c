// Transpose, DepthToSpace, SpaceToDepth: axis permutations (the latter two are a reshape + transpose + reshape).
#include <algorithm>

#include "ops/shape_ops_util.h"

namespace quac::ops {
namespace {

void transpose(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  size_t r = static_cast<size_t>(x.rank());
  std::vector<int64_t> perm = ctx.node().attr_ints("perm");
  if (perm.empty()) {
    for (size_t i = 0; i < r; ++i) perm.push_back(static_cast<int64_t>(r - 1 - i));
  }
  if (perm.size() != r) ctx.fail("perm has " + std::to_string(perm.size()) + " entries for rank " + std::to_string(r));
  std::vector<bool> seen(r, false);
  for (auto& p : perm) {
    p = normalize_axis(ctx, p, x.rank());
    if (seen[static_cast<size_t>(p)]) ctx.fail("perm is not a permutation");
    seen[static_cast<size_t>(p)] = true;
  }
  Shape out_shape(r);
  for (size_t i = 0; i < r; ++i) out_shape[i] = x.shape()[static_cast<size_t>(perm[i])];
  Tensor& out = ctx.allocate_output(0, x.dtype(), out_shape);
  transpose_into(ctx, x, perm, out);
}

// Views x as `view`, permutes by `perm`, and returns the result reshaped to `out_shape`.
void permute_blocks(KernelContext& ctx, const Tensor& x, const Shape& view, const std::vector<int64_t>& perm,
                    const Shape& out_shape) {
  Tensor v = x.reshaped(view);
  Shape permuted(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) permuted[i] = view[static_cast<size_t>(perm[i])];
  Tensor& out = ctx.allocate_output(0, x.dtype(), out_shape);
  Tensor o = out.reshaped(permuted);
  transpose_into(ctx, v, perm, o);
}

void depth_to_space(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  if (x.rank() != 4) ctx.fail("input must be 4-D, got " + shape_str(x.shape()));
  int64_t b = ctx.node().attr_int("blocksize", 0);
  int64_t n = x.shape()[0], c = x.shape()[1], h = x.shape()[2], w = x.shape()[3];
  if (b <= 0 || c % (b * b) != 0) ctx.fail("channels must be divisible by blocksize^2");
  int64_t oc = c / (b * b);
  Shape out_shape{n, oc, h * b, w * b};
  if (ctx.node().attr_string("mode", "DCR") == "CRD")
    permute_blocks(ctx, x, {n, oc, b, b, h, w}, {0, 1, 4, 2, 5, 3}, out_shape);
  else
    permute_blocks(ctx, x, {n, b, b, oc, h, w}, {0, 3, 4, 1, 5, 2}, out_shape);
}

void space_to_depth(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  if (x.rank() != 4) ctx.fail("input must be 4-D, got " + shape_str(x.shape()));
  int64_t b = ctx.node().attr_int("blocksize", 0);
  int64_t n = x.shape()[0], c = x.shape()[1], h = x.shape()[2], w = x.shape()[3];
  if (b <= 0 || h % b != 0 || w % b != 0) ctx.fail("height and width must be divisible by blocksize");
  permute_blocks(ctx, x, {n, c, h / b, b, w / b, b}, {0, 3, 5, 1, 2, 4}, {n, c * b * b, h / b, w / b});
}

QUAC_REGISTER_REFERENCE_OP("Transpose", transpose);
QUAC_REGISTER_REFERENCE_OP("DepthToSpace", depth_to_space);
QUAC_REGISTER_REFERENCE_OP("SpaceToDepth", space_to_depth);

}  // namespace
}  // namespace quac::ops
