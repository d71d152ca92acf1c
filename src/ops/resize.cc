// Resize (opsets 10, 11, 13) and Upsample (opsets 1..9): separable N-D nearest / linear / cubic interpolation.
// Each axis gets a list of (input index, weight) taps per output coordinate, following the ONNX reference
// implementation: the coordinate transform uses the float output length scale * input length, neighbours beyond the
// edge repeat the edge value (or are dropped and the weights renormalised with exclude_outside), and
// tf_crop_and_resize returns extrapolation_value for coordinates outside the input.
#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/shape_ops_util.h"

namespace quac::ops {
namespace {

enum class Interp { kNearest, kLinear, kCubic };
enum class Coord { kHalfPixel, kPytorchHalfPixel, kAlignCorners, kAsymmetric, kTfHalfPixelForNn, kTfCropAndResize };
// kSimple: opset-10 Resize and Upsample truncate when upsampling and round up when downsampling (as ONNX Runtime).
enum class Nearest { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil, kSimple };

struct Params {
  Interp mode = Interp::kNearest;
  Coord coord = Coord::kAsymmetric;
  Nearest nearest = Nearest::kSimple;
  double cubic_a = -0.75;
  bool exclude_outside = false;
  double extrapolation = 0;
};

struct Tap {
  int64_t index;
  double weight;
};
struct AxisTaps {
  std::vector<std::vector<Tap>> taps;  // per output coordinate
  std::vector<bool> outside;           // tf_crop_and_resize: the coordinate falls outside the input
};

double source_coord(double x, int64_t in_len, double scale, double roi_start, double roi_end, const Params& p) {
  double out_len = scale * static_cast<double>(in_len);
  double last = static_cast<double>(in_len - 1);
  switch (p.coord) {
    case Coord::kAlignCorners:
      return out_len == 1 ? 0 : x * last / (out_len - 1);
    case Coord::kAsymmetric:
      return x / scale;
    case Coord::kTfCropAndResize:
      return out_len == 1 ? (roi_end - roi_start) * last / 2 + roi_start * last
                          : x * (roi_end - roi_start) * last / (out_len - 1) + roi_start * last;
    case Coord::kTfHalfPixelForNn:
      return (x + 0.5) / scale;
    case Coord::kPytorchHalfPixel:
      return out_len == 1 ? -0.5 : (x + 0.5) / scale - 0.5;
    case Coord::kHalfPixel:
    default:
      return (x + 0.5) / scale - 0.5;
  }
}

std::vector<double> cubic_coeffs(double r, double a) {
  auto near = [a](double d) { return ((a + 2) * d - (a + 3)) * d * d + 1; };       // |d| <= 1
  auto far = [a](double d) { return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a; };  // 1 < |d| < 2
  return {far(1 + r), near(r), near(1 - r), far(2 - r)};
}

AxisTaps axis_taps(int64_t in_len, int64_t out_len, double scale, double roi_start, double roi_end, const Params& p) {
  AxisTaps result;
  result.taps.resize(static_cast<size_t>(out_len));
  result.outside.assign(static_cast<size_t>(out_len), false);
  auto clamp_index = [in_len](int64_t i) { return std::clamp<int64_t>(i, 0, in_len - 1); };
  for (int64_t xo = 0; xo < out_len; ++xo) {
    double x = source_coord(static_cast<double>(xo), in_len, scale, roi_start, roi_end, p);
    auto& taps = result.taps[static_cast<size_t>(xo)];
    if (p.coord == Coord::kTfCropAndResize && (x < 0 || x > static_cast<double>(in_len - 1))) {
      result.outside[static_cast<size_t>(xo)] = true;
      taps.push_back({0, 0});
      continue;
    }
    double fl = std::floor(x);
    int64_t base = static_cast<int64_t>(fl);
    double r = x - fl;
    if (p.mode == Interp::kNearest) {
      int64_t i = base;
      if (r != 0) {
        switch (p.nearest) {
          case Nearest::kRoundPreferFloor:
            i = r <= 0.5 ? base : base + 1;
            break;
          case Nearest::kRoundPreferCeil:
            i = r < 0.5 ? base : base + 1;
            break;
          case Nearest::kFloor:
            break;
          case Nearest::kCeil:
            i = base + 1;
            break;
          case Nearest::kSimple:
            i = scale < 1 ? base + 1 : base;
            break;
        }
      }
      taps.push_back({clamp_index(i), 1.0});
      continue;
    }
    std::vector<double> w;
    int64_t first;
    if (p.mode == Interp::kLinear) {
      w = {1 - r, r};
      first = base;
    } else {
      w = cubic_coeffs(r, p.cubic_a);
      first = base - 1;
    }
    double sum = 0;
    for (size_t k = 0; k < w.size(); ++k) {
      int64_t i = first + static_cast<int64_t>(k);
      if (p.exclude_outside && (i < 0 || i >= in_len)) w[k] = 0;
      sum += w[k];
    }
    for (size_t k = 0; k < w.size(); ++k) {
      double wk = p.exclude_outside && sum != 0 ? w[k] / sum : w[k];
      if (wk != 0) taps.push_back({clamp_index(first + static_cast<int64_t>(k)), wk});
    }
    if (taps.empty()) taps.push_back({clamp_index(base), 0});
  }
  return result;
}

std::vector<double> to_doubles(const KernelContext& ctx, const Tensor& x) {
  std::vector<double> v(static_cast<size_t>(x.numel()));
  if (x.dtype() == DataType::kFloat16 || x.dtype() == DataType::kBFloat16) {
    auto f = x.to_float_vector();
    std::copy(f.begin(), f.end(), v.begin());
    return v;
  }
  QUAC_DISPATCH_NUMERIC(x.dtype(), ctx, {
    const T* d = elems<T>(x);
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(d[i]);
  });
  return v;
}

void from_doubles(const KernelContext& ctx, const std::vector<double>& v, Tensor& out) {
  if (out.dtype() == DataType::kFloat16 || out.dtype() == DataType::kBFloat16) {
    uint16_t* o = elems<uint16_t>(out);
    bool half = out.dtype() == DataType::kFloat16;
    for (size_t i = 0; i < v.size(); ++i)
      o[i] = half ? float_to_half(static_cast<float>(v[i])) : float_to_bfloat16(static_cast<float>(v[i]));
    return;
  }
  QUAC_DISPATCH_NUMERIC(out.dtype(), ctx, {
    T* o = elems<T>(out);
    for (size_t i = 0; i < v.size(); ++i) {
      if constexpr (std::is_integral_v<T>) {
        double c = std::clamp(std::nearbyint(v[i]), static_cast<double>(std::numeric_limits<T>::lowest()),
                              static_cast<double>(std::numeric_limits<T>::max()));
        o[i] = static_cast<T>(c);
      } else {
        o[i] = static_cast<T>(v[i]);
      }
    }
  });
}

// Resizes x to out_shape; scales[d] is the scale used in the coordinate transform of axis d.
void resize_tensor(KernelContext& ctx, const Tensor& x, const Shape& out_shape, const std::vector<double>& scales,
                   const std::vector<double>& roi, const Params& p) {
  size_t r = static_cast<size_t>(x.rank());
  for (size_t d = 0; d < r; ++d)
    if (out_shape[d] < 0 || (x.shape()[d] == 0 && out_shape[d] > 0)) ctx.fail("invalid output size");
  std::vector<AxisTaps> axes(r);
  for (size_t d = 0; d < r; ++d) {
    double rs = roi.size() == 2 * r ? roi[d] : 0, re = roi.size() == 2 * r ? roi[d + r] : 1;
    axes[d] = axis_taps(x.shape()[d], out_shape[d], scales[d], rs, re, p);
  }
  Tensor& out = ctx.allocate_output(0, x.dtype(), out_shape);
  if (out.numel() == 0) return;
  auto strides = strides_of(x.shape());
  if (p.mode == Interp::kNearest && p.coord != Coord::kTfCropAndResize) {
    copy_by_source(ctx, x, out, [&](const std::vector<int64_t>& idx) {
      int64_t off = 0;
      for (size_t d = 0; d < r; ++d) off += axes[d].taps[static_cast<size_t>(idx[d])][0].index * strides[d];
      return off;
    });
    return;
  }
  std::vector<double> in = to_doubles(ctx, x), result(static_cast<size_t>(out.numel()));
  std::vector<const std::vector<Tap>*> taps(r);
  size_t i = 0;
  for_each_index(out_shape, [&](const std::vector<int64_t>& idx) {
    bool outside = false;
    for (size_t d = 0; d < r; ++d) {
      taps[d] = &axes[d].taps[static_cast<size_t>(idx[d])];
      outside = outside || axes[d].outside[static_cast<size_t>(idx[d])];
    }
    if (outside) {
      result[i++] = p.extrapolation;
      return;
    }
    // Sum over the product of every axis' taps.
    double sum = 0;
    auto visit = [&](auto&& self, size_t d, int64_t off, double w) -> void {
      if (d == r) {
        sum += w * in[static_cast<size_t>(off)];
        return;
      }
      for (const Tap& t : *taps[d]) self(self, d + 1, off + t.index * strides[d], w * t.weight);
    };
    visit(visit, 0, 0, 1.0);
    result[i++] = sum;
  });
  from_doubles(ctx, result, out);
}

Interp parse_mode(const KernelContext& ctx, const std::string& m) {
  if (m == "nearest") return Interp::kNearest;
  if (m == "linear" || m == "bilinear") return Interp::kLinear;
  if (m == "cubic") return Interp::kCubic;
  ctx.fail("unknown mode '" + m + "'");
}

// Output size from scales (floor of in * scale, as the reference computes it in double precision).
Shape scaled_shape(const KernelContext& ctx, const Tensor& x, const std::vector<double>& scales) {
  if (scales.size() != static_cast<size_t>(x.rank()))
    ctx.fail("scales has " + std::to_string(scales.size()) + " entries for rank " + std::to_string(x.rank()));
  Shape s(scales.size());
  for (size_t d = 0; d < scales.size(); ++d) {
    if (!(scales[d] > 0)) ctx.fail("scales must be positive");
    s[d] = static_cast<int64_t>(std::floor(scales[d] * static_cast<double>(x.shape()[d])));
  }
  return s;
}

std::vector<double> float_values(const Tensor& t) {
  auto f = t.to_float_vector();
  return {f.begin(), f.end()};
}

void resize(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const ir::Node& node = ctx.node();
  Params p;
  p.mode = parse_mode(ctx, node.attr_string("mode", "nearest"));
  std::vector<double> scales, roi;
  Shape out_shape;
  if (ctx.opset() < 11) {
    scales = float_values(ctx.in(1));
    out_shape = scaled_shape(ctx, x, scales);
  } else {
    std::string c = node.attr_string("coordinate_transformation_mode", "half_pixel");
    if (c == "half_pixel")
      p.coord = Coord::kHalfPixel;
    else if (c == "pytorch_half_pixel")
      p.coord = Coord::kPytorchHalfPixel;
    else if (c == "align_corners")
      p.coord = Coord::kAlignCorners;
    else if (c == "asymmetric")
      p.coord = Coord::kAsymmetric;
    else if (c == "tf_half_pixel_for_nn")
      p.coord = Coord::kTfHalfPixelForNn;
    else if (c == "tf_crop_and_resize")
      p.coord = Coord::kTfCropAndResize;
    else
      ctx.fail("unknown coordinate_transformation_mode '" + c + "'");
    std::string n = node.attr_string("nearest_mode", "round_prefer_floor");
    if (n == "round_prefer_floor")
      p.nearest = Nearest::kRoundPreferFloor;
    else if (n == "round_prefer_ceil")
      p.nearest = Nearest::kRoundPreferCeil;
    else if (n == "floor")
      p.nearest = Nearest::kFloor;
    else if (n == "ceil")
      p.nearest = Nearest::kCeil;
    else
      ctx.fail("unknown nearest_mode '" + n + "'");
    p.cubic_a = node.attr_float("cubic_coeff_a", -0.75f);
    p.exclude_outside = node.attr_int("exclude_outside", 0) != 0;
    p.extrapolation = node.attr_float("extrapolation_value", 0.0f);
    if (const Tensor* t = ctx.input(1); t && t->numel() > 0) roi = float_values(*t);
    const Tensor* s = ctx.input(2);
    const Tensor* z = ctx.input(3);
    if (z && z->numel() > 0) {
      if (s && s->numel() > 0) ctx.fail("only one of scales and sizes may be given");
      out_shape = int_values(ctx, *z, "sizes");
      if (out_shape.size() != static_cast<size_t>(x.rank())) ctx.fail("sizes does not match the input rank");
      for (size_t d = 0; d < out_shape.size(); ++d)
        scales.push_back(x.shape()[d] == 0 ? 1.0
                                           : static_cast<double>(out_shape[d]) / static_cast<double>(x.shape()[d]));
    } else if (s && s->numel() > 0) {
      scales = float_values(*s);
      out_shape = scaled_shape(ctx, x, scales);
    } else {
      ctx.fail("one of scales and sizes must be given");
    }
    if (p.coord == Coord::kTfCropAndResize && roi.size() != 2 * static_cast<size_t>(x.rank()))
      ctx.fail("tf_crop_and_resize needs an roi of 2 * rank values");
  }
  resize_tensor(ctx, x, out_shape, scales, roi, p);
}

void upsample(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Params p;
  p.mode = parse_mode(ctx, ctx.node().attr_string("mode", "nearest"));
  std::vector<double> scales;
  if (ctx.opset() < 7) {
    if (x.rank() != 4) ctx.fail("Upsample-1 needs a 4-D input");
    scales = {1, 1, ctx.node().attr_float("height_scale", 1), ctx.node().attr_float("width_scale", 1)};
  } else if (ctx.opset() < 9) {
    auto f = ctx.node().attr_floats("scales");
    scales.assign(f.begin(), f.end());
  } else {
    scales = float_values(ctx.in(1));
  }
  resize_tensor(ctx, x, scaled_shape(ctx, x, scales), scales, {}, p);
}

QUAC_REGISTER_REFERENCE_OP("Resize", resize);
QUAC_REGISTER_REFERENCE_OP("Upsample", upsample);

}  // namespace
}  // namespace quac::ops
