// Concat and Split: joining and cutting along one axis, as contiguous block copies.
#include "ops/shape_ops_util.h"

namespace quac::ops {
namespace {

void concat(KernelContext& ctx) {
  std::vector<const Tensor*> ins;
  for (size_t i = 0; i < ctx.num_inputs(); ++i)
    if (ctx.input(i)) ins.push_back(ctx.input(i));
  if (ins.empty()) ctx.fail("needs at least one input");
  const Tensor& first = *ins[0];
  int64_t rank = first.rank();
  int64_t axis = checked_axis(ctx, ctx.node().attr_int("axis", ctx.opset() < 4 ? 1 : 0), rank);
  Shape out_shape = first.shape();
  out_shape[static_cast<size_t>(axis)] = 0;
  for (const Tensor* t : ins) {
    if (t->rank() != rank || t->dtype() != first.dtype()) ctx.fail("inputs differ in rank or type");
    for (int64_t d = 0; d < rank; ++d)
      if (d != axis && t->shape()[static_cast<size_t>(d)] != first.shape()[static_cast<size_t>(d)])
        ctx.fail("input shapes " + shape_str(first.shape()) + " and " + shape_str(t->shape()) +
                 " differ outside the concat axis");
    out_shape[static_cast<size_t>(axis)] += t->shape()[static_cast<size_t>(axis)];
  }
  Tensor& out = ctx.allocate_output(0, first.dtype(), out_shape);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= out_shape[static_cast<size_t>(d)];
  for (int64_t d = axis + 1; d < rank; ++d) inner *= out_shape[static_cast<size_t>(d)];
  int64_t out_row = out_shape[static_cast<size_t>(axis)] * inner, col = 0;
  for (const Tensor* t : ins) {
    int64_t row = t->shape()[static_cast<size_t>(axis)] * inner;
    for (int64_t o = 0; o < outer; ++o) copy_block(ctx, *t, o * row, out, o * out_row + col, row);
    col += row;
  }
}

void split(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  int64_t axis = checked_axis(ctx, ctx.node().attr_int("axis", 0), x.rank());
  int64_t dim = x.shape()[static_cast<size_t>(axis)];
  std::vector<int64_t> parts;
  if (ctx.opset() < 13) {
    parts = ctx.node().attr_ints("split");
    if (parts.empty() && ctx.opset() < 2 && ctx.input(1)) parts = int_values(ctx, *ctx.input(1), "split");
  } else if (ctx.input(1)) {
    parts = int_values(ctx, *ctx.input(1), "split");
  }
  size_t n = ctx.num_outputs();
  if (parts.empty()) {
    // Even split; a smaller last chunk when it does not divide (as opset 18 allows).
    int64_t chunk = (dim + static_cast<int64_t>(n) - 1) / static_cast<int64_t>(n);
    for (size_t i = 0; i < n; ++i)
      parts.push_back(std::max<int64_t>(0, std::min(chunk, dim - chunk * static_cast<int64_t>(i))));
  }
  if (parts.size() != n)
    ctx.fail("split has " + std::to_string(parts.size()) + " parts for " + std::to_string(n) + " outputs");
  int64_t total = 0;
  for (int64_t p : parts) {
    if (p < 0) ctx.fail("split sizes must be non-negative");
    total += p;
  }
  if (total != dim) ctx.fail("split sizes sum to " + std::to_string(total) + ", axis has " + std::to_string(dim));
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.shape()[static_cast<size_t>(d)];
  for (int64_t d = axis + 1; d < x.rank(); ++d) inner *= x.shape()[static_cast<size_t>(d)];
  int64_t start = 0;
  for (size_t i = 0; i < n; ++i) {
    Shape s = x.shape();
    s[static_cast<size_t>(axis)] = parts[i];
    Tensor& out = ctx.allocate_output(i, x.dtype(), s);
    int64_t row = parts[i] * inner;
    for (int64_t o = 0; o < outer; ++o) copy_block(ctx, x, o * dim * inner + start * inner, out, o * row, row);
    start += parts[i];
  }
}

QUAC_REGISTER_REFERENCE_OP("Concat", concat);
QUAC_REGISTER_REFERENCE_OP("Split", split);

}  // namespace
}  // namespace quac::ops
