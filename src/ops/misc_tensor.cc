// Compress, NonZero, Trilu, ReverseSequence: data-dependent selections and masks; Col2Im (opset 18, the inverse of
// im2col) is here too.
#include <algorithm>

#include "ops/shape_ops_util.h"

namespace quac::ops {
namespace {

void compress(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& cond = ctx.in(1);
  if (cond.rank() != 1) ctx.fail("condition must be 1-D");
  bool has_axis = ctx.node().has("axis");
  Tensor data = has_axis ? x : x.reshaped({x.numel()});
  int64_t axis = has_axis ? checked_axis(ctx, ctx.node().attr_int("axis", 0), x.rank()) : 0;
  int64_t dim = data.shape()[static_cast<size_t>(axis)];
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < cond.numel(); ++i) {
    if (cond.scalar_as_double(i) == 0) continue;
    if (i >= dim)
      ctx.fail("condition selects index " + std::to_string(i) + " beyond the axis size " + std::to_string(dim));
    keep.push_back(i);
  }
  Shape out_shape = data.shape();
  out_shape[static_cast<size_t>(axis)] = static_cast<int64_t>(keep.size());
  Tensor& out = ctx.allocate_output(0, x.dtype(), out_shape);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= data.shape()[static_cast<size_t>(d)];
  for (int64_t d = axis + 1; d < data.rank(); ++d) inner *= data.shape()[static_cast<size_t>(d)];
  int64_t n = static_cast<int64_t>(keep.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < n; ++j)
      copy_block(ctx, data, (o * dim + keep[static_cast<size_t>(j)]) * inner, out, (o * n + j) * inner, inner);
}

void non_zero(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  if (x.dtype() == DataType::kString) ctx.fail("string input is not supported");
  std::vector<int64_t> hits;
  for (int64_t i = 0; i < x.numel(); ++i)
    if (x.scalar_as_double(i) != 0) hits.push_back(i);
  int64_t r = std::max<int64_t>(x.rank(), 1), n = static_cast<int64_t>(hits.size());
  // A scalar is treated as a 1-element 1-D tensor (as numpy's nonzero on a 0-d array via atleast_1d).
  Shape shape = x.rank() == 0 ? Shape{1} : x.shape();
  auto strides = strides_of(shape);
  Tensor& out = ctx.allocate_output(0, DataType::kInt64, {r, n});
  int64_t* o = out.data<int64_t>();
  for (int64_t j = 0; j < n; ++j) {
    int64_t rem = hits[static_cast<size_t>(j)];
    for (int64_t d = 0; d < r; ++d) {
      o[d * n + j] = rem / strides[static_cast<size_t>(d)];
      rem %= strides[static_cast<size_t>(d)];
    }
  }
}

void trilu(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  if (x.rank() < 2) ctx.fail("input must have rank >= 2");
  int64_t k = ctx.input(1) ? ctx.input(1)->scalar_as_int(0) : 0;
  bool upper = ctx.node().attr_int("upper", 1) != 0;
  int64_t rows = x.dim(-2), cols = x.dim(-1);
  Tensor& out = ctx.allocate_output(0, x.dtype(), x.shape());
  Tensor zero = scalar_of_type(ctx, x.dtype(), 0.0);
  int64_t mats = rows * cols == 0 ? 0 : x.numel() / (rows * cols);
  for (int64_t m = 0; m < mats; ++m)
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) {
        int64_t off = (m * rows + i) * cols + j;
        bool keep = upper ? j - i >= k : j - i <= k;
        if (keep)
          copy_block(ctx, x, off, out, off, 1);
        else
          copy_block(ctx, zero, 0, out, off, 1);
      }
}

void reverse_sequence(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  auto lens = int_values(ctx, ctx.in(1), "sequence_lens");
  if (x.rank() < 2) ctx.fail("input must have rank >= 2");
  int64_t batch_axis = checked_axis(ctx, ctx.node().attr_int("batch_axis", 1), x.rank());
  int64_t time_axis = checked_axis(ctx, ctx.node().attr_int("time_axis", 0), x.rank());
  if (batch_axis == time_axis) ctx.fail("batch_axis and time_axis must differ");
  int64_t batch = x.shape()[static_cast<size_t>(batch_axis)], steps = x.shape()[static_cast<size_t>(time_axis)];
  if (static_cast<int64_t>(lens.size()) != batch) ctx.fail("sequence_lens must have one entry per batch element");
  for (int64_t l : lens)
    if (l < 0 || l > steps) ctx.fail("sequence length " + std::to_string(l) + " is out of range");
  Tensor& out = ctx.allocate_output(0, x.dtype(), x.shape());
  auto strides = strides_of(x.shape());
  size_t ta = static_cast<size_t>(time_axis), ba = static_cast<size_t>(batch_axis);
  copy_by_source(ctx, x, out, [&](const std::vector<int64_t>& idx) {
    int64_t len = lens[static_cast<size_t>(idx[ba])];
    int64_t off = 0;
    for (size_t d = 0; d < idx.size(); ++d) {
      int64_t c = idx[d];
      if (d == ta && c < len) c = len - 1 - c;
      off += c * strides[d];
    }
    return off;
  });
}

// Col2Im: sums every column of `input` [N, C * prod(block), L] back into its block position of the N-D image.
void col2im(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  auto image = int_values(ctx, ctx.in(1), "image_shape");
  auto block = int_values(ctx, ctx.in(2), "block_shape");
  size_t nd = image.size();
  if (nd == 0 || block.size() != nd) ctx.fail("image_shape and block_shape must have the same non-zero length");
  if (x.rank() != 3) ctx.fail("input must be 3-D, got " + shape_str(x.shape()));
  auto dil = ctx.node().attr_ints("dilations", std::vector<int64_t>(nd, 1));
  auto str = ctx.node().attr_ints("strides", std::vector<int64_t>(nd, 1));
  auto pads = ctx.node().attr_ints("pads", std::vector<int64_t>(2 * nd, 0));
  if (dil.size() != nd || str.size() != nd || pads.size() != 2 * nd) ctx.fail("dilations/strides/pads do not match");
  int64_t k_total = 1, l_total = 1;
  std::vector<int64_t> blocks(nd);
  for (size_t d = 0; d < nd; ++d) {
    if (block[d] <= 0 || image[d] < 0 || dil[d] <= 0 || str[d] <= 0)
      ctx.fail("invalid block, image, dilation or stride");
    k_total *= block[d];
    int64_t span = image[d] + pads[d] + pads[d + nd] - (dil[d] * (block[d] - 1) + 1);
    blocks[d] = span < 0 ? 0 : span / str[d] + 1;
    l_total *= blocks[d];
  }
  int64_t n = x.shape()[0];
  if (x.shape()[1] % k_total != 0) ctx.fail("input channels are not a multiple of prod(block_shape)");
  if (x.shape()[2] != l_total)
    ctx.fail("input has " + std::to_string(x.shape()[2]) + " blocks, expected " + std::to_string(l_total));
  int64_t c = x.shape()[1] / k_total;
  Shape out_shape{n, c};
  out_shape.insert(out_shape.end(), image.begin(), image.end());
  Tensor& out = ctx.allocate_output(0, x.dtype(), out_shape);
  int64_t image_size = shape_numel(Shape(image.begin(), image.end()));
  QUAC_DISPATCH_FLOAT(x.dtype(), ctx, {
    const T* in = elems<T>(x);
    T* o = elems<T>(out);
    std::fill(o, o + out.numel(), T(0));
    Shape k_shape(block.begin(), block.end()), l_shape(blocks.begin(), blocks.end());
    for (int64_t plane = 0; plane < n * c; ++plane) {
      int64_t k = 0;
      for_each_index(k_shape, [&](const std::vector<int64_t>& kidx) {
        int64_t l = 0;
        for_each_index(l_shape, [&](const std::vector<int64_t>& lidx) {
          int64_t off = 0;
          bool inside = true;
          for (size_t d = 0; d < nd && inside; ++d) {
            int64_t pos = lidx[d] * str[d] - pads[d] + kidx[d] * dil[d];
            inside = pos >= 0 && pos < image[d];
            off = off * image[d] + pos;
          }
          if (inside) o[plane * image_size + off] += in[(plane * k_total + k) * l_total + l];
          ++l;
        });
        ++k;
      });
    }
  });
}

QUAC_REGISTER_REFERENCE_OP("Compress", compress);
QUAC_REGISTER_REFERENCE_OP("NonZero", non_zero);
QUAC_REGISTER_REFERENCE_OP("Trilu", trilu);
QUAC_REGISTER_REFERENCE_OP("ReverseSequence", reverse_sequence);
QUAC_REGISTER_REFERENCE_OP("Col2Im", col2im);

}  // namespace
}  // namespace quac::ops
