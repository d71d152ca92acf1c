// Reshape, Flatten, Squeeze, Unsqueeze, Shape, Size, Dropout: ops that only change the shape (zero-copy views) or
// describe it.
#include <algorithm>
#include <set>

#include "ops/shape_ops_util.h"

namespace quac::ops {
namespace {

std::string ints_str(const std::vector<int64_t>& v) { return shape_str(v); }

void reshape(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  std::vector<int64_t> target;
  if (ctx.opset() < 5) {
    target = ctx.node().attr_ints("shape");
  } else {
    target = int_values(ctx, ctx.in(1), "shape");
  }
  bool allowzero = ctx.node().attr_int("allowzero", 0) != 0;
  Shape out(target.size());
  int64_t infer = -1, known = 1;
  for (size_t i = 0; i < target.size(); ++i) {
    int64_t d = target[i];
    if (d == 0 && !allowzero) {
      if (static_cast<int64_t>(i) >= x.rank()) ctx.fail("shape " + ints_str(target) + ": 0 copies a missing dimension");
      d = x.shape()[i];
    } else if (d == -1) {
      if (infer >= 0) ctx.fail("shape " + ints_str(target) + " has more than one -1");
      infer = static_cast<int64_t>(i);
      continue;
    } else if (d < 0) {
      ctx.fail("shape " + ints_str(target) + " has a negative dimension");
    }
    out[i] = d;
    known *= d;
  }
  if (infer >= 0) {
    if (known == 0 || x.numel() % known != 0)
      ctx.fail("cannot reshape " + shape_str(x.shape()) + " to " + ints_str(target));
    out[static_cast<size_t>(infer)] = x.numel() / known;
  }
  if (shape_numel(out) != x.numel()) ctx.fail("cannot reshape " + shape_str(x.shape()) + " to " + ints_str(target));
  ctx.set_output(0, x.reshaped(out));
}

void flatten(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  int64_t axis = ctx.node().attr_int("axis", 1);
  if (axis < 0) axis += x.rank();
  if (axis < 0 || axis > x.rank()) ctx.fail("axis out of range for rank " + std::to_string(x.rank()));
  int64_t outer = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= x.shape()[static_cast<size_t>(i)];
  int64_t inner = 1;
  for (int64_t i = axis; i < x.rank(); ++i) inner *= x.shape()[static_cast<size_t>(i)];
  ctx.set_output(0, x.reshaped({outer, inner}));
}

// Squeeze/Unsqueeze axes: attribute before opset 13, optional input from 13.
std::vector<int64_t> axes_of(KernelContext& ctx, bool* given) {
  if (ctx.opset() < 13) {
    *given = ctx.node().has("axes");
    return ctx.node().attr_ints("axes");
  }
  const Tensor* a = ctx.input(1);
  *given = a != nullptr && a->numel() > 0;  // an empty axes tensor means "not given"
  return a ? int_values(ctx, *a, "axes") : std::vector<int64_t>{};
}

void squeeze(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  bool given = false;
  auto axes = axes_of(ctx, &given);
  std::set<int64_t> drop;
  for (int64_t a : axes) {
    int64_t n = checked_axis(ctx, a, x.rank());
    if (x.shape()[static_cast<size_t>(n)] != 1)
      ctx.fail("cannot squeeze axis " + std::to_string(a) + " of shape " + shape_str(x.shape()));
    drop.insert(n);
  }
  Shape out;
  for (int64_t i = 0; i < x.rank(); ++i) {
    bool squeeze_it = given ? drop.count(i) > 0 : x.shape()[static_cast<size_t>(i)] == 1;
    if (!squeeze_it) out.push_back(x.shape()[static_cast<size_t>(i)]);
  }
  ctx.set_output(0, x.reshaped(out));
}

void unsqueeze(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  bool given = false;
  auto axes = axes_of(ctx, &given);
  int64_t rank = x.rank() + static_cast<int64_t>(axes.size());
  std::set<int64_t> add;
  for (int64_t a : axes) {
    int64_t n = normalize_axis(ctx, a, rank);
    if (!add.insert(n).second) ctx.fail("axis " + std::to_string(a) + " is repeated");
  }
  Shape out;
  size_t j = 0;
  for (int64_t i = 0; i < rank; ++i) out.push_back(add.count(i) ? 1 : x.shape()[j++]);
  ctx.set_output(0, x.reshaped(out));
}

void shape_op(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  int64_t r = x.rank();
  int64_t start = ctx.node().attr_int("start", 0), end = ctx.node().attr_int("end", r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = std::clamp<int64_t>(start, 0, r);
  end = std::clamp<int64_t>(end, 0, r);
  int64_t n = std::max<int64_t>(end - start, 0);
  Tensor& out = ctx.allocate_output(0, DataType::kInt64, {n});
  for (int64_t i = 0; i < n; ++i) out.data<int64_t>()[i] = x.shape()[static_cast<size_t>(start + i)];
}

void size_op(KernelContext& ctx) {
  Tensor& out = ctx.allocate_output(0, DataType::kInt64, {});
  out.data<int64_t>()[0] = ctx.in(0).numel();
}

// Inference Dropout is the identity; the mask (if wanted) is all true (bool from opset 10, the data type before).
void dropout(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  if (ctx.opset() >= 12) {
    bool training = ctx.input(2) && ctx.input(2)->numel() > 0 && ctx.input(2)->scalar_as_int(0) != 0;
    double ratio = ctx.input(1) && ctx.input(1)->numel() > 0 ? ctx.input(1)->scalar_as_double(0) : 0.5;
    if (training && ratio != 0) ctx.fail("training-mode Dropout with a non-zero ratio is not supported");
  }
  // Before opset 12 there is no training switch here: is_test=0 models are still run for inference.
  ctx.set_output(0, x);
  if (ctx.num_outputs() > 1 && ctx.output_wanted(1)) {
    DataType mask_type = ctx.opset() >= 10 ? DataType::kBool : x.dtype();
    Tensor& mask = ctx.allocate_output(1, mask_type, x.shape());
    Tensor one = scalar_of_type(ctx, mask_type, 1.0);
    for (int64_t i = 0; i < mask.numel(); ++i) copy_block(ctx, one, 0, mask, i, 1);
  }
}

QUAC_REGISTER_REFERENCE_OP("Reshape", reshape);
QUAC_REGISTER_REFERENCE_OP("Flatten", flatten);
QUAC_REGISTER_REFERENCE_OP("Squeeze", squeeze);
QUAC_REGISTER_REFERENCE_OP("Unsqueeze", unsqueeze);
QUAC_REGISTER_REFERENCE_OP("Shape", shape_op);
QUAC_REGISTER_REFERENCE_OP("Size", size_op);
QUAC_REGISTER_REFERENCE_OP("Dropout", dropout);

}  // namespace
}  // namespace quac::ops
