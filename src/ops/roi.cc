// Region and sampling ops: RoiAlign, MaxRoiPool, NonMaxSuppression and GridSample. RoiAlign and GridSample follow
// ONNX Runtime's implementations (which the ONNX reference ports), including their boundary conventions.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "core/parallel.h"
#include "ops/kernel.h"
#include "ops/op_util.h"

namespace quac::ops {
namespace {

void check_image(const KernelContext& ctx, const Tensor& x) {
  if (x.rank() != 4) ctx.fail("input X has shape " + shape_str(x.shape()) + ", expected [N, C, H, W]");
}

// --- RoiAlign ---------------------------------------------------------------------------------------------------

template <typename T>
void roi_align(KernelContext& ctx, const Tensor& x, const Tensor& rois, const std::vector<int64_t>& batch_index,
               Tensor& y) {
  const ir::Node& node = ctx.node();
  const bool is_max = node.attr_string("mode", "avg") == "max";
  const int64_t out_h = node.attr_int("output_height", 1), out_w = node.attr_int("output_width", 1);
  const int64_t sampling_ratio = node.attr_int("sampling_ratio", 0);
  const double scale = node.attr_float("spatial_scale", 1.0f);
  // Opset 10 had no attribute and behaved as output_half_pixel.
  const std::string ctm =
      node.attr_string("coordinate_transformation_mode", ctx.opset() >= 16 ? "half_pixel" : "output_half_pixel");
  if (ctm != "half_pixel" && ctm != "output_half_pixel")
    ctx.fail("unknown coordinate_transformation_mode '" + ctm + "'");
  const bool half_pixel = ctm == "half_pixel";
  const int64_t channels = x.dim(1), height = x.dim(2), width = x.dim(3), num_rois = rois.dim(0);
  const T* xp = x.data<T>();
  T* yp = y.data<T>();
  parallel_for(num_rois, ctx.num_threads(), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const double offset = half_pixel ? 0.5 : 0.0;
      const double start_w = rois.scalar_as_double(r * 4 + 0) * scale - offset;
      const double start_h = rois.scalar_as_double(r * 4 + 1) * scale - offset;
      const double end_w = rois.scalar_as_double(r * 4 + 2) * scale - offset;
      const double end_h = rois.scalar_as_double(r * 4 + 3) * scale - offset;
      double roi_w = end_w - start_w, roi_h = end_h - start_h;
      if (!half_pixel) {
        roi_w = std::max(roi_w, 1.0);
        roi_h = std::max(roi_h, 1.0);
      }
      const double bin_h = roi_h / static_cast<double>(out_h), bin_w = roi_w / static_cast<double>(out_w);
      const int64_t grid_h = sampling_ratio > 0 ? sampling_ratio : static_cast<int64_t>(std::ceil(roi_h / out_h));
      const int64_t grid_w = sampling_ratio > 0 ? sampling_ratio : static_cast<int64_t>(std::ceil(roi_w / out_w));
      const double count = static_cast<double>(std::max<int64_t>(grid_h * grid_w, 1));
      const T* plane0 = xp + batch_index[static_cast<size_t>(r)] * channels * height * width;
      for (int64_t c = 0; c < channels; ++c) {
        const T* img = plane0 + c * height * width;
        for (int64_t ph = 0; ph < out_h; ++ph)
          for (int64_t pw = 0; pw < out_w; ++pw) {
            double acc = 0;
            bool have = false;
            for (int64_t iy = 0; iy < grid_h; ++iy)
              for (int64_t ix = 0; ix < grid_w; ++ix) {
                double yy = start_h + ph * bin_h + (iy + 0.5) * bin_h / static_cast<double>(grid_h);
                double xx = start_w + pw * bin_w + (ix + 0.5) * bin_w / static_cast<double>(grid_w);
                double v[4] = {0, 0, 0, 0};
                if (!(yy < -1.0 || yy > height || xx < -1.0 || xx > width)) {
                  yy = std::max(yy, 0.0);
                  xx = std::max(xx, 0.0);
                  int64_t y0 = static_cast<int64_t>(yy), x0 = static_cast<int64_t>(xx), y1, x1;
                  if (y0 >= height - 1) {
                    y0 = y1 = height - 1;
                    yy = static_cast<double>(y0);
                  } else {
                    y1 = y0 + 1;
                  }
                  if (x0 >= width - 1) {
                    x0 = x1 = width - 1;
                    xx = static_cast<double>(x0);
                  } else {
                    x1 = x0 + 1;
                  }
                  const double ly = yy - y0, lx = xx - x0, hy = 1 - ly, hx = 1 - lx;
                  v[0] = hy * hx * static_cast<double>(img[y0 * width + x0]);
                  v[1] = hy * lx * static_cast<double>(img[y0 * width + x1]);
                  v[2] = ly * hx * static_cast<double>(img[y1 * width + x0]);
                  v[3] = ly * lx * static_cast<double>(img[y1 * width + x1]);
                }
                if (is_max) {
                  double m = std::max(std::max(v[0], v[1]), std::max(v[2], v[3]));
                  acc = have ? std::max(acc, m) : m;
                  have = true;
                } else {
                  acc += v[0] + v[1] + v[2] + v[3];
                }
              }
            yp[((r * channels + c) * out_h + ph) * out_w + pw] = static_cast<T>(is_max ? acc : acc / count);
          }
      }
    }
  });
}

void run_roi_align(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& rois = ctx.in(1);
  const Tensor& batch = ctx.in(2);
  check_image(ctx, x);
  if (rois.rank() != 2 || rois.dim(1) != 4)
    ctx.fail("rois have shape " + shape_str(rois.shape()) + ", expected [R, 4]");
  if (batch.rank() != 1 || batch.dim(0) != rois.dim(0))
    ctx.fail("batch_indices have shape " + shape_str(batch.shape()) + ", expected [" + std::to_string(rois.dim(0)) +
             "]");
  std::vector<int64_t> batch_index = batch.to_int_vector();
  for (int64_t b : batch_index)
    if (b < 0 || b >= x.dim(0)) ctx.fail("batch index " + std::to_string(b) + " is out of range");
  const int64_t out_h = ctx.node().attr_int("output_height", 1), out_w = ctx.node().attr_int("output_width", 1);
  if (out_h < 1 || out_w < 1) ctx.fail("output_height and output_width must be positive");
  if ((x.dim(2) == 0 || x.dim(3) == 0) && rois.dim(0) > 0 && x.dim(1) > 0)
    ctx.fail("input X " + shape_str(x.shape()) + " has an empty image to sample from");
  Tensor& y = ctx.allocate_output(0, x.dtype(), {rois.dim(0), x.dim(1), out_h, out_w});
  QUAC_DISPATCH_FLOAT(x.dtype(), ctx, { roi_align<T>(ctx, x, rois, batch_index, y); });
}

// --- MaxRoiPool (Caffe's ROIPooling) ----------------------------------------------------------------------------

void run_max_roi_pool(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& rois = ctx.in(1);
  check_image(ctx, x);
  if (rois.rank() != 2 || rois.dim(1) != 5)
    ctx.fail("rois have shape " + shape_str(rois.shape()) + ", expected [R, 5]");
  std::vector<int64_t> pooled = ctx.node().attr_ints("pooled_shape");
  if (pooled.size() != 2 || pooled[0] < 1 || pooled[1] < 1) ctx.fail("pooled_shape must be two positive values");
  const double scale = ctx.node().attr_float("spatial_scale", 1.0f);
  const int64_t channels = x.dim(1), height = x.dim(2), width = x.dim(3), num_rois = rois.dim(0);
  Tensor& y = ctx.allocate_output(0, x.dtype(), {num_rois, channels, pooled[0], pooled[1]});
  QUAC_DISPATCH_FLOAT(x.dtype(), ctx, {
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    for (int64_t r = 0; r < num_rois; ++r) {
      const int64_t b = static_cast<int64_t>(rois.scalar_as_double(r * 5));
      if (b < 0 || b >= x.dim(0)) ctx.fail("roi " + std::to_string(r) + " has batch index out of range");
      auto coord = [&](int k) { return static_cast<int64_t>(std::round(rois.scalar_as_double(r * 5 + k) * scale)); };
      const int64_t x1 = coord(1), y1 = coord(2), x2 = coord(3), y2 = coord(4);
      const double bin_h = static_cast<double>(std::max<int64_t>(y2 - y1 + 1, 1)) / static_cast<double>(pooled[0]);
      const double bin_w = static_cast<double>(std::max<int64_t>(x2 - x1 + 1, 1)) / static_cast<double>(pooled[1]);
      for (int64_t c = 0; c < channels; ++c) {
        const T* img = xp + (b * channels + c) * height * width;
        for (int64_t ph = 0; ph < pooled[0]; ++ph)
          for (int64_t pw = 0; pw < pooled[1]; ++pw) {
            auto clamp = [](int64_t v, int64_t hi) { return std::min(std::max<int64_t>(v, 0), hi); };
            int64_t hs = clamp(static_cast<int64_t>(std::floor(ph * bin_h)) + y1, height);
            int64_t he = clamp(static_cast<int64_t>(std::ceil((ph + 1) * bin_h)) + y1, height);
            int64_t ws = clamp(static_cast<int64_t>(std::floor(pw * bin_w)) + x1, width);
            int64_t we = clamp(static_cast<int64_t>(std::ceil((pw + 1) * bin_w)) + x1, width);
            T best = T(0);
            if (he > hs && we > ws) {
              best = std::numeric_limits<T>::lowest();
              for (int64_t h = hs; h < he; ++h)
                for (int64_t w = ws; w < we; ++w) best = std::max(best, img[h * width + w]);
            }
            yp[((r * channels + c) * pooled[0] + ph) * pooled[1] + pw] = best;
          }
      }
    }
  });
}

// --- NonMaxSuppression ------------------------------------------------------------------------------------------

struct Box {
  double y1, x1, y2, x2;
};

Box read_box(const Tensor& boxes, int64_t offset, bool center_point) {
  double a = boxes.scalar_as_double(offset), b = boxes.scalar_as_double(offset + 1);
  double c = boxes.scalar_as_double(offset + 2), d = boxes.scalar_as_double(offset + 3);
  if (center_point) return {b - d / 2, a - c / 2, b + d / 2, a + c / 2};  // [x_center, y_center, width, height]
  // Corners may come in either order.
  return {std::min(a, c), std::min(b, d), std::max(a, c), std::max(b, d)};
}

double iou(const Box& p, const Box& q) {
  const double ih = std::min(p.y2, q.y2) - std::max(p.y1, q.y1), iw = std::min(p.x2, q.x2) - std::max(p.x1, q.x1);
  if (ih <= 0 || iw <= 0) return 0.0;
  const double inter = ih * iw;
  const double uni = (p.y2 - p.y1) * (p.x2 - p.x1) + (q.y2 - q.y1) * (q.x2 - q.x1) - inter;
  return uni > 0 ? inter / uni : 0.0;
}

void run_nms(KernelContext& ctx) {
  const Tensor& boxes = ctx.in(0);
  const Tensor& scores = ctx.in(1);
  if (boxes.rank() != 3 || boxes.dim(2) != 4)
    ctx.fail("boxes have shape " + shape_str(boxes.shape()) + ", expected [batch, boxes, 4]");
  if (scores.rank() != 3 || scores.dim(0) != boxes.dim(0) || scores.dim(2) != boxes.dim(1))
    ctx.fail("scores have shape " + shape_str(scores.shape()) + ", expected [" + std::to_string(boxes.dim(0)) +
             ", classes, " + std::to_string(boxes.dim(1)) + "]");
  auto scalar_input = [&](size_t i) -> const Tensor* {
    const Tensor* t = ctx.input(i);
    if (t && t->numel() != 1) ctx.fail("input " + std::to_string(i) + " must be a scalar");
    return t;
  };
  const Tensor* max_t = scalar_input(2);
  const Tensor* iou_t = scalar_input(3);
  const Tensor* score_t = scalar_input(4);
  const int64_t max_per_class = max_t ? max_t->scalar_as_int() : 0;
  const double iou_threshold = iou_t ? iou_t->scalar_as_double() : 0.0;
  const bool center_point = ctx.node().attr_int("center_point_box", 0) != 0;
  const int64_t batches = boxes.dim(0), classes = scores.dim(1), count = boxes.dim(1);
  std::vector<int64_t> selected;  // triples
  for (int64_t b = 0; b < batches && max_per_class > 0; ++b) {
    std::vector<Box> bx(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) bx[static_cast<size_t>(i)] = read_box(boxes, (b * count + i) * 4, center_point);
    for (int64_t c = 0; c < classes; ++c) {
      const int64_t base = (b * classes + c) * count;
      std::vector<int64_t> order;
      for (int64_t i = 0; i < count; ++i)
        if (!score_t || scores.scalar_as_double(base + i) > score_t->scalar_as_double()) order.push_back(i);
      std::stable_sort(order.begin(), order.end(), [&](int64_t p, int64_t q) {
        return scores.scalar_as_double(base + p) > scores.scalar_as_double(base + q);
      });
      std::vector<int64_t> kept;
      for (int64_t i : order) {
        if (static_cast<int64_t>(kept.size()) >= max_per_class) break;
        bool suppressed = false;
        for (int64_t k : kept)
          if (iou(bx[static_cast<size_t>(i)], bx[static_cast<size_t>(k)]) > iou_threshold) {
            suppressed = true;
            break;
          }
        if (!suppressed) kept.push_back(i);
      }
      for (int64_t k : kept) selected.insert(selected.end(), {b, c, k});
    }
  }
  Tensor& out = ctx.allocate_output(0, DataType::kInt64, {static_cast<int64_t>(selected.size() / 3), 3});
  std::copy(selected.begin(), selected.end(), out.data<int64_t>());
}

// --- GridSample (opset 16, 4-D) ---------------------------------------------------------------------------------

enum class Padding { kZeros, kBorder, kReflection };

double reflect(double x, double lo, double hi) {
  const double range = hi - lo;
  if (range <= 0) return lo;
  if (x < lo) {
    const double dx = lo - x;
    const int64_t n = static_cast<int64_t>(dx / range);
    const double r = dx - static_cast<double>(n) * range;
    return n % 2 == 0 ? lo + r : hi - r;
  }
  if (x > hi) {
    const double dx = x - hi;
    const int64_t n = static_cast<int64_t>(dx / range);
    const double r = dx - static_cast<double>(n) * range;
    return n % 2 == 0 ? hi - r : lo + r;
  }
  return x;
}

void cubic_coeffs(double t, double c[4]) {
  const double a = -0.75;
  const double x = std::fabs(t);
  c[0] = ((a * (x + 1) - 5 * a) * (x + 1) + 8 * a) * (x + 1) - 4 * a;
  c[1] = ((a + 2) * x - (a + 3)) * x * x + 1;
  c[2] = ((a + 2) * (1 - x) - (a + 3)) * (1 - x) * (1 - x) + 1;
  c[3] = ((a * (2 - x) - 5 * a) * (2 - x) + 8 * a) * (2 - x) - 4 * a;
}

template <typename T>
void grid_sample(KernelContext& ctx, const Tensor& x, const Tensor& grid, Tensor& y) {
  const ir::Node& node = ctx.node();
  const std::string mode = node.attr_string("mode", "bilinear");
  const std::string pad_name = node.attr_string("padding_mode", "zeros");
  const bool align = node.attr_int("align_corners", 0) != 0;
  if (mode != "bilinear" && mode != "nearest" && mode != "bicubic") ctx.fail("unknown mode '" + mode + "'");
  Padding padding = Padding::kZeros;
  if (pad_name == "border")
    padding = Padding::kBorder;
  else if (pad_name == "reflection")
    padding = Padding::kReflection;
  else if (pad_name != "zeros")
    ctx.fail("unknown padding_mode '" + pad_name + "'");
  const int64_t batch = x.dim(0), channels = x.dim(1), in_h = x.dim(2), in_w = x.dim(3);
  const int64_t out_h = grid.dim(1), out_w = grid.dim(2);
  const double x_min = align ? 0.0 : -0.5, x_max = align ? in_w - 1.0 : in_w - 0.5;
  const double y_min = align ? 0.0 : -0.5, y_max = align ? in_h - 1.0 : in_h - 0.5;
  auto denormalize = [&](double v, int64_t len) {
    return align ? (v + 1) / 2.0 * static_cast<double>(len - 1) : ((v + 1) * static_cast<double>(len) - 1) / 2.0;
  };
  const T* xp = x.data<T>();
  const T* gp = grid.data<T>();
  T* yp = y.data<T>();
  parallel_for(batch * channels, ctx.num_threads(), [&](int64_t begin, int64_t end) {
    for (int64_t nc = begin; nc < end; ++nc) {
      const int64_t n = nc / channels;
      const T* img = xp + nc * in_h * in_w;
      auto pixel = [&](int64_t r, int64_t c) -> double {
        if (padding == Padding::kZeros) {
          return r >= 0 && r < in_h && c >= 0 && c < in_w ? static_cast<double>(img[r * in_w + c]) : 0.0;
        }
        if (padding == Padding::kBorder) {
          r = std::clamp<int64_t>(r, 0, in_h - 1);
          c = std::clamp<int64_t>(c, 0, in_w - 1);
        } else {
          c = static_cast<int64_t>(reflect(static_cast<double>(c), x_min, x_max));
          r = static_cast<int64_t>(reflect(static_cast<double>(r), y_min, y_max));
          r = std::clamp<int64_t>(r, 0, in_h - 1);  // guards the degenerate one-pixel case
          c = std::clamp<int64_t>(c, 0, in_w - 1);
        }
        return static_cast<double>(img[r * in_w + c]);
      };
      for (int64_t oy = 0; oy < out_h; ++oy)
        for (int64_t ox = 0; ox < out_w; ++ox) {
          const T* g = gp + ((n * out_h + oy) * out_w + ox) * 2;
          double gx = denormalize(static_cast<double>(g[0]), in_w), gy = denormalize(static_cast<double>(g[1]), in_h);
          if (mode == "nearest") {
            gx = std::nearbyint(gx);
            gy = std::nearbyint(gy);
          }
          // Bicubic applies the padding to each of its 16 taps only (as PyTorch and ONNX Runtime do); the other
          // modes first move an outside sampling point back into the image.
          if (mode != "bicubic" && (gx < x_min || gx > x_max || gy < y_min || gy > y_max)) {
            if (padding == Padding::kBorder) {
              gx = std::clamp(gx, 0.0, static_cast<double>(in_w - 1));
              gy = std::clamp(gy, 0.0, static_cast<double>(in_h - 1));
            } else if (padding == Padding::kReflection) {
              gx = reflect(gx, x_min, x_max);
              gy = reflect(gy, y_min, y_max);
            }
          }
          double out;
          if (mode == "nearest") {
            out = pixel(static_cast<int64_t>(gy), static_cast<int64_t>(gx));
          } else if (mode == "bilinear") {
            const int64_t x1 = static_cast<int64_t>(std::floor(gx)), y1 = static_cast<int64_t>(std::floor(gy));
            const double dx1 = gx - static_cast<double>(x1), dx2 = 1 - dx1;
            const double dy1 = gy - static_cast<double>(y1), dy2 = 1 - dy1;
            out = dy2 * (dx2 * pixel(y1, x1) + dx1 * pixel(y1, x1 + 1)) +
                  dy1 * (dx2 * pixel(y1 + 1, x1) + dx1 * pixel(y1 + 1, x1 + 1));
          } else {
            const int64_t x0 = static_cast<int64_t>(std::floor(gx)) - 1, y0 = static_cast<int64_t>(std::floor(gy)) - 1;
            double cx[4], cy[4];
            cubic_coeffs(gx - static_cast<double>(x0) - 1, cx);
            cubic_coeffs(gy - static_cast<double>(y0) - 1, cy);
            out = 0;
            for (int64_t i = 0; i < 4; ++i) {
              double row = 0;
              for (int64_t j = 0; j < 4; ++j) row += cx[j] * pixel(y0 + i, x0 + j);
              out += cy[i] * row;
            }
          }
          yp[(nc * out_h + oy) * out_w + ox] = static_cast<T>(out);
        }
    }
  });
}

void run_grid_sample(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& grid = ctx.in(1);
  check_image(ctx, x);
  if (grid.rank() != 4 || grid.dim(0) != x.dim(0) || grid.dim(3) != 2)
    ctx.fail("grid has shape " + shape_str(grid.shape()) + ", expected [" + std::to_string(x.dim(0)) +
             ", H_out, W_out, 2]");
  if (grid.dtype() != x.dtype()) ctx.fail("grid and X have different element types");
  if ((x.dim(2) == 0 || x.dim(3) == 0) && x.dim(1) > 0 && grid.dim(1) * grid.dim(2) > 0)
    ctx.fail("input X " + shape_str(x.shape()) + " has an empty image to sample from");
  Tensor& y = ctx.allocate_output(0, x.dtype(), {x.dim(0), x.dim(1), grid.dim(1), grid.dim(2)});
  QUAC_DISPATCH_FLOAT(x.dtype(), ctx, { grid_sample<T>(ctx, x, grid, y); });
}

QUAC_REGISTER_REFERENCE_OP("RoiAlign", run_roi_align);
QUAC_REGISTER_REFERENCE_OP("MaxRoiPool", run_max_roi_pool);
QUAC_REGISTER_REFERENCE_OP("NonMaxSuppression", run_nms);
QUAC_REGISTER_REFERENCE_OP("GridSample", run_grid_sample);

}  // namespace
}  // namespace quac::ops
