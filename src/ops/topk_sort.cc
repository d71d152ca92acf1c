// TopK, ArgMax, ArgMin, Unique: ops that compare values. Ties always resolve to the lower index first (the stable
// order numpy and the ONNX reference use), except ArgMax/ArgMin with select_last_index.
#include <algorithm>
#include <numeric>

#include "ops/shape_ops_util.h"

namespace quac::ops {
namespace {

// Calls fn(const T* values) with the elements of x in a comparable C++ type (16-bit floats widened to float).
template <typename Fn>
void with_comparable(const KernelContext& ctx, const Tensor& x, Fn&& fn) {
  if (x.dtype() == DataType::kFloat16 || x.dtype() == DataType::kBFloat16) {
    std::vector<float> v = x.to_float_vector();
    fn(v.data());
    return;
  }
  if (x.dtype() == DataType::kString) {
    fn(elems<std::string>(x));
    return;
  }
  if (x.dtype() == DataType::kBool) {
    fn(elems<uint8_t>(x));
    return;
  }
  QUAC_DISPATCH_NUMERIC(x.dtype(), ctx, fn(elems<T>(x)));
}

// outer x dim x inner decomposition around `axis`.
struct AxisView {
  int64_t outer = 1, dim = 1, inner = 1;
};
AxisView axis_view(const Shape& s, int64_t axis) {
  AxisView v;
  for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d) {
    if (d < axis) v.outer *= s[static_cast<size_t>(d)];
    if (d == axis) v.dim = s[static_cast<size_t>(d)];
    if (d > axis) v.inner *= s[static_cast<size_t>(d)];
  }
  return v;
}

void top_k(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  int64_t axis = checked_axis(ctx, ctx.node().attr_int("axis", -1), x.rank());
  int64_t k = ctx.opset() < 10 ? ctx.node().attr_int("k", 0) : ctx.in(1).scalar_as_int(0);
  bool largest = ctx.node().attr_int("largest", 1) != 0;
  AxisView v = axis_view(x.shape(), axis);
  if (k < 0 || k > v.dim)
    ctx.fail("k = " + std::to_string(k) + " is out of range for an axis of size " + std::to_string(v.dim));
  Shape out_shape = x.shape();
  out_shape[static_cast<size_t>(axis)] = k;
  Tensor& values = ctx.allocate_output(0, x.dtype(), out_shape);
  Tensor& indices = ctx.allocate_output(1, DataType::kInt64, out_shape);
  int64_t* ind = indices.data<int64_t>();
  with_comparable(ctx, x, [&](const auto* data) {
    std::vector<int64_t> order(static_cast<size_t>(v.dim));
    for (int64_t o = 0; o < v.outer; ++o)
      for (int64_t i = 0; i < v.inner; ++i) {
        auto at = [&](int64_t j) { return data[(o * v.dim + j) * v.inner + i]; };
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(),
                         [&](int64_t a, int64_t b) { return largest ? at(b) < at(a) : at(a) < at(b); });
        for (int64_t j = 0; j < k; ++j) {
          int64_t dst = (o * k + j) * v.inner + i;
          ind[dst] = order[static_cast<size_t>(j)];
          copy_block(ctx, x, (o * v.dim + order[static_cast<size_t>(j)]) * v.inner + i, values, dst, 1);
        }
      }
  });
}

void arg_extreme(KernelContext& ctx, bool want_max) {
  const Tensor& x = ctx.in(0);
  int64_t axis = checked_axis(ctx, ctx.node().attr_int("axis", 0), x.rank());
  bool keepdims = ctx.node().attr_int("keepdims", 1) != 0;
  bool last = ctx.node().attr_int("select_last_index", 0) != 0;
  AxisView v = axis_view(x.shape(), axis);
  if (v.dim == 0) ctx.fail("cannot take ArgMax/ArgMin over an empty axis");
  Shape out_shape = x.shape();
  if (keepdims)
    out_shape[static_cast<size_t>(axis)] = 1;
  else
    out_shape.erase(out_shape.begin() + axis);
  Tensor& out = ctx.allocate_output(0, DataType::kInt64, out_shape);
  int64_t* o_data = out.data<int64_t>();
  with_comparable(ctx, x, [&](const auto* data) {
    for (int64_t o = 0; o < v.outer; ++o)
      for (int64_t i = 0; i < v.inner; ++i) {
        auto at = [&](int64_t j) { return data[(o * v.dim + j) * v.inner + i]; };
        int64_t best = 0;
        for (int64_t j = 1; j < v.dim; ++j) {
          bool better = want_max ? at(best) < at(j) : at(j) < at(best);
          bool equal = !(at(best) < at(j)) && !(at(j) < at(best));
          if (better || (last && equal)) best = j;
        }
        o_data[o * v.inner + i] = best;
      }
  });
}

void unique(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  bool sorted = ctx.node().attr_int("sorted", 1) != 0;
  bool has_axis = ctx.node().has("axis");
  Tensor data = has_axis ? x : x.reshaped({x.numel()});
  int64_t axis = has_axis ? checked_axis(ctx, ctx.node().attr_int("axis", 0), x.rank()) : 0;
  AxisView v = axis_view(data.shape(), axis);
  int64_t n = v.dim;
  // Group rows (slices along the axis) that compare equal; rows compare lexicographically.
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::vector<int64_t> group(static_cast<size_t>(n));
  std::vector<int64_t> first, counts;  // per group, in sorted order
  with_comparable(ctx, data, [&](const auto* d) {
    auto cmp = [&](int64_t a, int64_t b) {  // -1, 0, 1
      for (int64_t o = 0; o < v.outer; ++o)
        for (int64_t i = 0; i < v.inner; ++i) {
          const auto& va = d[(o * v.dim + a) * v.inner + i];
          const auto& vb = d[(o * v.dim + b) * v.inner + i];
          if (va < vb) return -1;
          if (vb < va) return 1;
        }
      return 0;
    };
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return cmp(a, b) < 0; });
    for (size_t j = 0; j < order.size(); ++j) {
      if (j == 0 || cmp(order[j - 1], order[j]) != 0) {
        first.push_back(order[j]);
        counts.push_back(0);
      }
      group[static_cast<size_t>(order[j])] = static_cast<int64_t>(first.size()) - 1;
      ++counts.back();
    }
  });
  size_t u = first.size();
  std::vector<int64_t> rank(u);  // output position of each sorted group
  std::iota(rank.begin(), rank.end(), 0);
  if (!sorted) {
    std::vector<int64_t> by_first(u);
    std::iota(by_first.begin(), by_first.end(), 0);
    std::sort(by_first.begin(), by_first.end(),
              [&](int64_t a, int64_t b) { return first[static_cast<size_t>(a)] < first[static_cast<size_t>(b)]; });
    for (size_t p = 0; p < u; ++p) rank[static_cast<size_t>(by_first[p])] = static_cast<int64_t>(p);
  }
  std::vector<int64_t> out_first(u), out_counts(u);
  for (size_t g = 0; g < u; ++g) {
    out_first[static_cast<size_t>(rank[g])] = first[g];
    out_counts[static_cast<size_t>(rank[g])] = counts[g];
  }
  Shape y_shape = data.shape();
  y_shape[static_cast<size_t>(axis)] = static_cast<int64_t>(u);
  Tensor& y = ctx.allocate_output(0, x.dtype(), y_shape);
  int64_t nu = static_cast<int64_t>(u);
  for (int64_t o = 0; o < v.outer; ++o)
    for (int64_t p = 0; p < nu; ++p)
      copy_block(ctx, data, (o * n + out_first[static_cast<size_t>(p)]) * v.inner, y, (o * nu + p) * v.inner, v.inner);
  auto write = [&](size_t index, const std::vector<int64_t>& values) {
    if (ctx.num_outputs() <= index) return;
    Tensor& t = ctx.allocate_output(index, DataType::kInt64, {static_cast<int64_t>(values.size())});
    std::copy(values.begin(), values.end(), t.data<int64_t>());
  };
  write(1, out_first);
  std::vector<int64_t> inverse(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    inverse[static_cast<size_t>(i)] = rank[static_cast<size_t>(group[static_cast<size_t>(i)])];
  write(2, inverse);
  write(3, out_counts);
}

QUAC_REGISTER_REFERENCE_OP("TopK", top_k);
QUAC_REGISTER_REFERENCE_OP("ArgMax", [](KernelContext& ctx) { arg_extreme(ctx, true); });
QUAC_REGISTER_REFERENCE_OP("ArgMin", [](KernelContext& ctx) { arg_extreme(ctx, false); });
QUAC_REGISTER_REFERENCE_OP("Unique", unique);

}  // namespace
}  // namespace quac::ops
