// Pad (constant / reflect / edge / wrap; negative pads crop) and CenterCropPad.
#include <algorithm>

#include "ops/shape_ops_util.h"

namespace quac::ops {
namespace {

enum class PadMode { kConstant, kReflect, kEdge, kWrap };

// Input coordinate for output coordinate `c` (already shifted by the begin pad), or -1 for the fill value. [lo, hi)
// is the part of the input that survives cropping.
int64_t source_coord(int64_t c, int64_t lo, int64_t hi, PadMode mode) {
  if (c >= lo && c < hi) return c;
  if (mode == PadMode::kConstant) return -1;
  int64_t n = hi - lo;
  if (mode == PadMode::kEdge) return std::clamp(c, lo, hi - 1);
  int64_t t = c - lo;
  if (mode == PadMode::kWrap) return lo + ((t % n) + n) % n;
  if (n == 1) return lo;
  int64_t period = 2 * (n - 1);
  t = ((t % period) + period) % period;
  if (t >= n) t = period - t;
  return lo + t;
}

// Pads x by per-axis begin/end amounts (negative crops) and writes output 0.
void pad_tensor(KernelContext& ctx, const Tensor& x, const std::vector<int64_t>& begin, const std::vector<int64_t>& end,
                PadMode mode, const Tensor& fill) {
  size_t r = static_cast<size_t>(x.rank());
  Shape out_shape(r);
  std::vector<int64_t> lo(r), hi(r);
  for (size_t d = 0; d < r; ++d) {
    int64_t dim = x.shape()[d];
    out_shape[d] = dim + begin[d] + end[d];
    if (out_shape[d] < 0) ctx.fail("pads crop axis " + std::to_string(d) + " below zero");
    lo[d] = std::max<int64_t>(0, -begin[d]);
    hi[d] = dim - std::max<int64_t>(0, -end[d]);
    if (mode != PadMode::kConstant && hi[d] <= lo[d] && out_shape[d] > 0)
      ctx.fail("cannot pad an empty axis in edge/reflect/wrap mode");
  }
  Tensor& out = ctx.allocate_output(0, x.dtype(), out_shape);
  auto strides = strides_of(x.shape());
  visit_storage_type(ctx, x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* src = elems<T>(x);
    T* dst = elems<T>(out);
    T value = fill.defined() && fill.numel() > 0 ? elems<T>(fill)[0] : T{};
    int64_t i = 0;
    for_each_index(out_shape, [&](const std::vector<int64_t>& idx) {
      int64_t off = 0;
      bool inside = true;
      for (size_t d = 0; d < r && inside; ++d) {
        int64_t c = source_coord(idx[d] - begin[d], lo[d], hi[d], mode);
        if (c < 0) inside = false;
        off += c * strides[d];
      }
      dst[i++] = inside ? src[off] : value;
    });
  });
}

PadMode pad_mode(const KernelContext& ctx) {
  std::string m = ctx.node().attr_string("mode", "constant");
  if (m == "constant") return PadMode::kConstant;
  if (m == "reflect") return PadMode::kReflect;
  if (m == "edge") return PadMode::kEdge;
  if (m == "wrap") return PadMode::kWrap;
  ctx.fail("unknown mode '" + m + "'");
}

void pad(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  int64_t r = x.rank();
  std::vector<int64_t> pads, axes;
  Tensor fill;
  if (ctx.opset() < 11) {
    pads = ctx.node().attr_ints(ctx.opset() < 2 ? "paddings" : "pads");
    fill = scalar_of_type(ctx, x.dtype(), ctx.node().attr_float("value", 0.0f));
  } else {
    pads = int_values(ctx, ctx.in(1), "pads");
    if (const Tensor* v = ctx.input(2)) {
      if (v->numel() > 0 && v->dtype() != x.dtype()) ctx.fail("constant_value and data differ in type");
      fill = *v;
    }
    if (!fill.defined() || fill.numel() == 0) fill = scalar_of_type(ctx, x.dtype(), 0.0);
    if (const Tensor* a = ctx.input(3)) axes = int_values(ctx, *a, "axes");
  }
  if (axes.empty())
    for (int64_t i = 0; i < r; ++i) axes.push_back(i);
  size_t n = axes.size();
  if (pads.size() != 2 * n)
    ctx.fail("pads has " + std::to_string(pads.size()) + " entries, expected " + std::to_string(2 * n));
  std::vector<int64_t> begin(static_cast<size_t>(r), 0), end(static_cast<size_t>(r), 0);
  for (size_t i = 0; i < n; ++i) {
    size_t a = static_cast<size_t>(checked_axis(ctx, axes[i], r));
    begin[a] = pads[i];
    end[a] = pads[i + n];
  }
  pad_tensor(ctx, x, begin, end, pad_mode(ctx), fill);
}

// CenterCropPad: per axis, a centred crop or zero pad to the target size (an odd difference puts the extra element
// at the end).
void center_crop_pad(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  int64_t r = x.rank();
  auto shape = int_values(ctx, ctx.in(1), "shape");
  std::vector<int64_t> axes = ctx.node().attr_ints("axes");
  if (axes.empty())
    for (int64_t i = 0; i < r; ++i) axes.push_back(i);
  if (shape.size() != axes.size()) ctx.fail("shape and axes differ in length");
  std::vector<int64_t> begin(static_cast<size_t>(r), 0), end(static_cast<size_t>(r), 0);
  for (size_t i = 0; i < axes.size(); ++i) {
    size_t a = static_cast<size_t>(checked_axis(ctx, axes[i], r));
    int64_t dim = x.shape()[a], want = shape[i];
    if (want < 0) ctx.fail("negative target size");
    if (want < dim) {  // crop: the larger half is removed from the end
      int64_t diff = dim - want;
      begin[a] = -(diff / 2);
      end[a] = -(diff - diff / 2);
    } else {  // pad: the larger half is added at the end
      int64_t diff = want - dim;
      begin[a] = diff / 2;
      end[a] = diff - diff / 2;
    }
  }
  pad_tensor(ctx, x, begin, end, PadMode::kConstant, scalar_of_type(ctx, x.dtype(), 0.0));
}

QUAC_REGISTER_REFERENCE_OP("Pad", pad);
QUAC_REGISTER_REFERENCE_OP("CenterCropPad", center_crop_pad);

}  // namespace
}  // namespace quac::ops
