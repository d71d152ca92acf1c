// Gather, GatherElements, GatherND, Scatter, ScatterElements, ScatterND. Every index is checked (negative indices wrap
// once); an out-of-range index fails the node instead of reading or writing out of bounds.
#include <algorithm>

#include "ops/shape_ops_util.h"

namespace quac::ops {
namespace {

int64_t checked_index(const KernelContext& ctx, int64_t index, int64_t dim) {
  int64_t i = index < 0 ? index + dim : index;
  if (i < 0 || i >= dim)
    ctx.fail("index " + std::to_string(index) + " is out of range for a dimension of size " + std::to_string(dim));
  return i;
}

void gather(KernelContext& ctx) {
  const Tensor& data = ctx.in(0);
  const Tensor& indices = ctx.in(1);
  int64_t axis = checked_axis(ctx, ctx.node().attr_int("axis", 0), data.rank());
  auto idx = int_values(ctx, indices, "indices");
  int64_t dim = data.shape()[static_cast<size_t>(axis)];
  for (auto& i : idx) i = checked_index(ctx, i, dim);
  Shape out_shape(data.shape().begin(), data.shape().begin() + axis);
  out_shape.insert(out_shape.end(), indices.shape().begin(), indices.shape().end());
  out_shape.insert(out_shape.end(), data.shape().begin() + axis + 1, data.shape().end());
  Tensor& out = ctx.allocate_output(0, data.dtype(), out_shape);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= data.shape()[static_cast<size_t>(d)];
  for (int64_t d = axis + 1; d < data.rank(); ++d) inner *= data.shape()[static_cast<size_t>(d)];
  int64_t n = static_cast<int64_t>(idx.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < n; ++j)
      copy_block(ctx, data, (o * dim + idx[static_cast<size_t>(j)]) * inner, out, (o * n + j) * inner, inner);
}

void gather_elements(KernelContext& ctx) {
  const Tensor& data = ctx.in(0);
  const Tensor& indices = ctx.in(1);
  int64_t axis = checked_axis(ctx, ctx.node().attr_int("axis", 0), data.rank());
  if (indices.rank() != data.rank()) ctx.fail("indices and data differ in rank");
  auto idx = int_values(ctx, indices, "indices");
  int64_t dim = data.shape()[static_cast<size_t>(axis)];
  for (auto& i : idx) i = checked_index(ctx, i, dim);
  for (int64_t d = 0; d < data.rank(); ++d)
    if (d != axis && indices.shape()[static_cast<size_t>(d)] > data.shape()[static_cast<size_t>(d)])
      ctx.fail("indices shape " + shape_str(indices.shape()) + " exceeds data shape " + shape_str(data.shape()));
  Tensor& out = ctx.allocate_output(0, data.dtype(), indices.shape());
  auto strides = strides_of(data.shape());
  int64_t k = 0;
  copy_by_source(ctx, data, out, [&](const std::vector<int64_t>& at) {
    int64_t off = 0;
    for (size_t d = 0; d < at.size(); ++d)
      off += (static_cast<int64_t>(d) == axis ? idx[static_cast<size_t>(k)] : at[d]) * strides[d];
    ++k;
    return off;
  });
}

// GatherND / ScatterND addressing: for every index tuple (indices.shape[:-1]), the offset of the addressed slice in
// data and the slice size.
struct NdPlan {
  std::vector<int64_t> offsets;
  int64_t slice = 1;
  Shape tuple_shape;  // indices.shape[:-1]
};

NdPlan plan_nd(const KernelContext& ctx, const Tensor& data, const Tensor& indices, int64_t batch_dims) {
  if (indices.rank() < 1) ctx.fail("indices must have rank >= 1");
  int64_t k = indices.shape().back();
  if (batch_dims < 0 || batch_dims >= std::min(data.rank(), indices.rank()))
    ctx.fail("batch_dims " + std::to_string(batch_dims) + " is out of range");
  if (k < 1 || batch_dims + k > data.rank())
    ctx.fail("index tuples of length " + std::to_string(k) + " do not fit data of shape " + shape_str(data.shape()));
  for (int64_t d = 0; d < batch_dims; ++d)
    if (data.shape()[static_cast<size_t>(d)] != indices.shape()[static_cast<size_t>(d)])
      ctx.fail("batch dimensions of data and indices differ");
  NdPlan p;
  p.tuple_shape.assign(indices.shape().begin(), indices.shape().end() - 1);
  for (int64_t d = batch_dims + k; d < data.rank(); ++d) p.slice *= data.shape()[static_cast<size_t>(d)];
  auto strides = strides_of(data.shape());
  int64_t batch_size = 1;  // data elements per batch entry
  for (int64_t d = batch_dims; d < data.rank(); ++d) batch_size *= data.shape()[static_cast<size_t>(d)];
  int64_t tuples_per_batch = 1;
  for (int64_t d = batch_dims; d < indices.rank() - 1; ++d) tuples_per_batch *= indices.shape()[static_cast<size_t>(d)];
  auto idx = int_values(ctx, indices, "indices");
  int64_t n = static_cast<int64_t>(idx.size()) / k;
  p.offsets.resize(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) {
    int64_t off = (t / tuples_per_batch) * batch_size;
    for (int64_t j = 0; j < k; ++j) {
      size_t d = static_cast<size_t>(batch_dims + j);
      off += checked_index(ctx, idx[static_cast<size_t>(t * k + j)], data.shape()[d]) * strides[d];
    }
    p.offsets[static_cast<size_t>(t)] = off;
  }
  return p;
}

void gather_nd(KernelContext& ctx) {
  const Tensor& data = ctx.in(0);
  const Tensor& indices = ctx.in(1);
  int64_t b = ctx.node().attr_int("batch_dims", 0);
  NdPlan p = plan_nd(ctx, data, indices, b);
  Shape out_shape = p.tuple_shape;
  int64_t k = indices.shape().back();
  out_shape.insert(out_shape.end(), data.shape().begin() + b + k, data.shape().end());
  Tensor& out = ctx.allocate_output(0, data.dtype(), out_shape);
  for (size_t t = 0; t < p.offsets.size(); ++t)
    copy_block(ctx, data, p.offsets[t], out, static_cast<int64_t>(t) * p.slice, p.slice);
}

enum class Reduction { kNone, kAdd, kMul, kMax, kMin };

Reduction reduction_of(const KernelContext& ctx) {
  std::string r = ctx.node().attr_string("reduction", "none");
  if (r == "none") return Reduction::kNone;
  if (r == "add") return Reduction::kAdd;
  if (r == "mul") return Reduction::kMul;
  if (r == "max") return Reduction::kMax;
  if (r == "min") return Reduction::kMin;
  ctx.fail("unknown reduction '" + r + "'");
}

template <typename T>
T reduce(T a, T b, Reduction r) {
  switch (r) {
    case Reduction::kAdd:
      return static_cast<T>(a + b);
    case Reduction::kMul:
      return static_cast<T>(a * b);
    case Reduction::kMax:
      return std::max(a, b);
    case Reduction::kMin:
      return std::min(a, b);
    default:
      return b;
  }
}

// out = copy of data; then for each (dst, src) pair, out[dst .. dst+len) op= updates[src .. src+len).
void scatter_pairs(KernelContext& ctx, const Tensor& data, const Tensor& updates,
                   const std::vector<std::pair<int64_t, int64_t>>& pairs, int64_t len, Reduction r) {
  if (updates.dtype() != data.dtype()) ctx.fail("updates and data differ in type");
  Tensor& out = ctx.allocate_output(0, data.dtype(), data.shape());
  copy_block(ctx, data, 0, out, 0, data.numel());
  if (r == Reduction::kNone) {
    for (const auto& [d, s] : pairs) copy_block(ctx, updates, s, out, d, len);
    return;
  }
  auto apply = [&](auto tag, auto to_f, auto from_f) {
    using S = typename decltype(tag)::type;
    S* o = elems<S>(out);
    const S* u = elems<S>(updates);
    for (const auto& [d, s] : pairs)
      for (int64_t i = 0; i < len; ++i) o[d + i] = from_f(reduce(to_f(o[d + i]), to_f(u[s + i]), r));
  };
  auto same = [](auto v) { return v; };
  if (data.dtype() == DataType::kFloat16) {
    apply(
        TypeTag<uint16_t>{}, [](uint16_t v) { return half_to_float(v); }, [](float v) { return float_to_half(v); });
  } else if (data.dtype() == DataType::kBFloat16) {
    apply(
        TypeTag<uint16_t>{}, [](uint16_t v) { return bfloat16_to_float(v); },
        [](float v) { return float_to_bfloat16(v); });
  } else {
    QUAC_DISPATCH_NUMERIC(data.dtype(), ctx, apply(TypeTag<T>{}, same, same));
  }
}

void scatter_elements(KernelContext& ctx) {
  const Tensor& data = ctx.in(0);
  const Tensor& indices = ctx.in(1);
  const Tensor& updates = ctx.in(2);
  int64_t axis = checked_axis(ctx, ctx.node().attr_int("axis", 0), data.rank());
  if (indices.shape() != updates.shape()) ctx.fail("indices and updates differ in shape");
  if (indices.rank() != data.rank()) ctx.fail("indices and data differ in rank");
  for (int64_t d = 0; d < data.rank(); ++d)
    if (d != axis && indices.shape()[static_cast<size_t>(d)] > data.shape()[static_cast<size_t>(d)])
      ctx.fail("indices shape " + shape_str(indices.shape()) + " exceeds data shape " + shape_str(data.shape()));
  auto idx = int_values(ctx, indices, "indices");
  int64_t dim = data.shape()[static_cast<size_t>(axis)];
  auto strides = strides_of(data.shape());
  std::vector<std::pair<int64_t, int64_t>> pairs;
  pairs.reserve(idx.size());
  int64_t k = 0;
  for_each_index(indices.shape(), [&](const std::vector<int64_t>& at) {
    int64_t off = 0;
    for (size_t d = 0; d < at.size(); ++d)
      off +=
          (static_cast<int64_t>(d) == axis ? checked_index(ctx, idx[static_cast<size_t>(k)], dim) : at[d]) * strides[d];
    pairs.push_back({off, k});
    ++k;
  });
  scatter_pairs(ctx, data, updates, pairs, 1, ctx.opset() >= 16 ? reduction_of(ctx) : Reduction::kNone);
}

void scatter_nd(KernelContext& ctx) {
  const Tensor& data = ctx.in(0);
  const Tensor& indices = ctx.in(1);
  const Tensor& updates = ctx.in(2);
  NdPlan p = plan_nd(ctx, data, indices, 0);
  Shape want = p.tuple_shape;
  want.insert(want.end(), data.shape().begin() + indices.shape().back(), data.shape().end());
  if (updates.shape() != want)
    ctx.fail("updates shape " + shape_str(updates.shape()) + ", expected " + shape_str(want));
  std::vector<std::pair<int64_t, int64_t>> pairs;
  for (size_t t = 0; t < p.offsets.size(); ++t) pairs.push_back({p.offsets[t], static_cast<int64_t>(t) * p.slice});
  scatter_pairs(ctx, data, updates, pairs, p.slice, ctx.opset() >= 16 ? reduction_of(ctx) : Reduction::kNone);
}

QUAC_REGISTER_REFERENCE_OP("Gather", gather);
QUAC_REGISTER_REFERENCE_OP("GatherElements", gather_elements);
QUAC_REGISTER_REFERENCE_OP("GatherND", gather_nd);
QUAC_REGISTER_REFERENCE_OP("Scatter", scatter_elements);
QUAC_REGISTER_REFERENCE_OP("ScatterElements", scatter_elements);
QUAC_REGISTER_REFERENCE_OP("ScatterND", scatter_nd);

}  // namespace
}  // namespace quac::ops
