// ConstantOfShape, Range, EyeLike, OneHot: ops that generate values from a shape or a few scalars.
#include <cmath>

#include "ops/shape_ops_util.h"

namespace quac::ops {
namespace {

// Fills every element of `out` with element 0 of `value` (same dtype).
void fill_with(const KernelContext& ctx, Tensor& out, const Tensor& value) {
  visit_storage_type(ctx, out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T v = elems<T>(value)[0];
    T* o = elems<T>(out);
    for (int64_t i = 0; i < out.numel(); ++i) o[i] = v;
  });
}

void constant_of_shape(KernelContext& ctx) {
  Shape shape = int_values(ctx, ctx.in(0), "shape");
  for (int64_t d : shape)
    if (d < 0) ctx.fail("shape " + shape_str(shape) + " has a negative dimension");
  Tensor value = scalar_of_type(ctx, DataType::kFloat, 0.0);
  if (const Tensor* v = ctx.node().attr_tensor("value")) {
    if (v->numel() != 1) ctx.fail("value must have exactly one element");
    value = *v;
  }
  Tensor& out = ctx.allocate_output(0, value.dtype(), shape);
  fill_with(ctx, out, value);
}

void range(KernelContext& ctx) {
  const Tensor &start = ctx.in(0), &limit = ctx.in(1), &delta = ctx.in(2);
  if (start.numel() != 1 || limit.numel() != 1 || delta.numel() != 1)
    ctx.fail("start, limit and delta must be scalars");
  DataType type = start.dtype();
  QUAC_DISPATCH_NUMERIC(type, ctx, {
    T s = elems<T>(start)[0], l = elems<T>(limit)[0], d = elems<T>(delta)[0];
    if (d == T(0)) ctx.fail("delta must not be 0");
    double count = std::ceil((static_cast<double>(l) - static_cast<double>(s)) / static_cast<double>(d));
    int64_t n = std::max<int64_t>(0, static_cast<int64_t>(count));
    Tensor& out = ctx.allocate_output(0, type, {n});
    T* o = elems<T>(out);
    for (int64_t i = 0; i < n; ++i) o[i] = static_cast<T>(s + static_cast<T>(i) * d);
  });
}

void eye_like(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  if (x.rank() != 2) ctx.fail("input must be 2-D, got " + shape_str(x.shape()));
  DataType type = static_cast<DataType>(ctx.node().attr_int("dtype", static_cast<int64_t>(x.dtype())));
  int64_t k = ctx.node().attr_int("k", 0);
  Tensor zero = scalar_of_type(ctx, type, 0.0), one = scalar_of_type(ctx, type, 1.0);  // fails on a bad dtype
  Tensor& out = ctx.allocate_output(0, type, x.shape());
  fill_with(ctx, out, zero);
  int64_t rows = x.shape()[0], cols = x.shape()[1];
  for (int64_t i = 0; i < rows; ++i)
    if (i + k >= 0 && i + k < cols) copy_block(ctx, one, 0, out, i * cols + i + k, 1);
}

// OneHot: indices outside [-depth, depth) give an all-off row, as the spec says.
void one_hot(KernelContext& ctx) {
  const Tensor &indices = ctx.in(0), &depth_t = ctx.in(1), &values = ctx.in(2);
  if (values.numel() != 2) ctx.fail("values must hold [off_value, on_value]");
  if (depth_t.numel() != 1) ctx.fail("depth must be a scalar");
  int64_t depth = static_cast<int64_t>(depth_t.scalar_as_double(0));
  if (depth <= 0) ctx.fail("depth must be positive");
  int64_t out_rank = indices.rank() + 1;
  int64_t axis = normalize_axis(ctx, ctx.node().attr_int("axis", -1), out_rank);
  Shape out_shape = indices.shape();
  out_shape.insert(out_shape.begin() + axis, depth);
  Tensor& out = ctx.allocate_output(0, values.dtype(), out_shape);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= indices.shape()[static_cast<size_t>(d)];
  for (int64_t d = axis; d < indices.rank(); ++d) inner *= indices.shape()[static_cast<size_t>(d)];
  visit_storage_type(ctx, values.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* v = elems<T>(values);
    T* o = elems<T>(out);
    for (int64_t i = 0; i < out.numel(); ++i) o[i] = v[0];
    for (int64_t a = 0; a < outer; ++a)
      for (int64_t b = 0; b < inner; ++b) {
        int64_t idx = static_cast<int64_t>(indices.scalar_as_double(a * inner + b));
        if (idx < 0) idx += depth;
        if (idx < 0 || idx >= depth) continue;
        o[(a * depth + idx) * inner + b] = v[1];
      }
  });
}

QUAC_REGISTER_REFERENCE_OP("ConstantOfShape", constant_of_shape);
QUAC_REGISTER_REFERENCE_OP("Range", range);
QUAC_REGISTER_REFERENCE_OP("EyeLike", eye_like);
QUAC_REGISTER_REFERENCE_OP("OneHot", one_hot);

}  // namespace
}  // namespace quac::ops
