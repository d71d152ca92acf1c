// quac.Pool MaxPool from the blocked layout to the blocked layout (ResNet's stem pool, 64 channels at 112x112): each
// output pixel takes the maximum of its window for 8 channels at once, 8 contiguous floats per tap. oneDNN 2.6's AVX2
// pooling took 0.7-0.9 ms there against 0.3-0.5 ms for this loop. Other pools and layouts go to oneDNN's kernel.
#include <algorithm>
#include <limits>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define QUAC_MAXPOOL_X86 1
#endif

#include "kernels/blocked_layout.h"
#include "kernels/onednn_util.h"
#include "ops/fused_ref.h"
#include "passes/shape_infer.h"

namespace quac::kernels {
namespace {

class BlockedMaxPoolKernel : public Kernel {
 public:
  explicit BlockedMaxPoolKernel(const ir::Node& node) : node_(node), channels_(node.attr_int("channels", 0)) {}

  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.in(0);
    const int64_t cb = (channels_ + kChannelBlock - 1) / kChannelBlock;
    if (x.dtype() != DataType::kFloat || x.rank() != 5 || x.dim(1) != cb || x.dim(4) != kChannelBlock)
      ctx.fail("blocked input has unexpected type or shape " + shape_str(x.shape()));
    const int64_t n = x.dim(0), h = x.dim(2), w = x.dim(3);
    Shape kernel = node_.attr_ints("kernel_shape", {}), o, pb, pe;
    if (kernel.size() != 2) ctx.fail("kernel_shape must have two values");
    if (!passes::window_output(node_, {h, w}, kernel, &o, &pb, &pe)) ctx.fail("invalid window attributes for input");
    auto strides = node_.attr_ints("strides", {1, 1}), dil = node_.attr_ints("dilations", {1, 1});
    if (strides.size() != 2 || dil.size() != 2) ctx.fail("strides and dilations need two values");
    const int64_t oh = o[0], ow = o[1], kh = kernel[0], kw = kernel[1];
    const int64_t sh = strides[0], sw = strides[1], dh = dil[0], dw = dil[1], ph = pb[0], pw = pb[1];
    Tensor& out = ctx.allocate_output(0, DataType::kFloat, blocked_shape(n, channels_, oh, ow));
    const float* xd = x.data<float>();
    float* yd = out.data<float>();
    const int64_t valid_last = channels_ - (cb - 1) * kChannelBlock;  // channels in the last block
#if defined(QUAC_MAXPOOL_X86)
    static const bool has_avx = __builtin_cpu_supports("avx");
#endif
#pragma omp parallel for schedule(static)
    for (int64_t row = 0; row < n * cb * oh; ++row) {
      const int64_t plane = row / oh, oy = row % oh, b = plane % cb;
      const float* xp = xd + plane * h * w * kChannelBlock;
      float* yp = yd + row * ow * kChannelBlock;
#if defined(QUAC_MAXPOOL_X86)
      if (has_avx && kh <= kMaxAvxRows)
        max_row_avx(xp, oy * sh - ph, h, w, ow, kh, kw, sw, dh, dw, pw, yp);
      else
#endif
        max_row(xp, oy * sh - ph, h, w, ow, kh, kw, sw, dh, dw, pw, yp);
      if (b == cb - 1)  // the layout's padded channels stay zero even for a window entirely in the padding
        for (int64_t ox = 0; ox < ow; ++ox)
          for (int64_t c8 = valid_last; c8 < kChannelBlock; ++c8) yp[ox * kChannelBlock + c8] = 0.f;
    }
  }

 private:
#if defined(QUAC_MAXPOOL_X86)
  static constexpr int64_t kMaxAvxRows = 16;
  // max_row with the 8 channels of a pixel in one AVX register, the window's maximum kept in it over the taps
  // (where max_row reads and writes the output row once a tap); window rows outside the image are skipped once.
  __attribute__((target("avx"))) static void max_row_avx(const float* xp, int64_t y0, int64_t h, int64_t w, int64_t ow,
                                                         int64_t kh, int64_t kw, int64_t sw, int64_t dh, int64_t dw,
                                                         int64_t pw, float* yp) {
    const float* rows[kMaxAvxRows];
    int64_t nrows = 0;
    for (int64_t i = 0; i < kh; ++i) {
      const int64_t iy = y0 + i * dh;
      if (iy >= 0 && iy < h) rows[nrows++] = xp + iy * w * kChannelBlock;
    }
    const __m256 lowest = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
    for (int64_t ox = 0; ox < ow; ++ox) {
      const int64_t ix0 = ox * sw - pw;
      __m256 m = lowest;
      // maxps(a, b) returns b when either is NaN: with the running maximum second, a NaN input is skipped.
      if (ix0 >= 0 && ix0 + (kw - 1) * dw < w) {
        for (int64_t r = 0; r < nrows; ++r)
          for (int64_t j = 0; j < kw; ++j)
            m = _mm256_max_ps(_mm256_loadu_ps(rows[r] + (ix0 + j * dw) * kChannelBlock), m);
      } else {
        for (int64_t r = 0; r < nrows; ++r)
          for (int64_t j = 0; j < kw; ++j) {
            const int64_t ix = ix0 + j * dw;
            if (ix >= 0 && ix < w) m = _mm256_max_ps(_mm256_loadu_ps(rows[r] + ix * kChannelBlock), m);
          }
      }
      _mm256_storeu_ps(yp + ox * kChannelBlock, m);
    }
  }
#endif

  // One output row of 8 channels, as the reference computes it: a NaN input leaves the running maximum unchanged, an
  // empty window gives -inf. Tap by tap over the whole row (the output columns whose tap falls inside the image are
  // one contiguous range), so the inner loop has no bounds checks.
  static void max_row(const float* xp, int64_t y0, int64_t h, int64_t w, int64_t ow, int64_t kh, int64_t kw, int64_t sw,
                      int64_t dh, int64_t dw, int64_t pw, float* yp) {
    std::fill(yp, yp + ow * kChannelBlock, -std::numeric_limits<float>::infinity());
    for (int64_t i = 0; i < kh; ++i) {
      const int64_t iy = y0 + i * dh;
      if (iy < 0 || iy >= h) continue;
      const float* xr = xp + iy * w * kChannelBlock;
      for (int64_t j = 0; j < kw; ++j) {
        // Columns ox with 0 <= ox * sw - pw + j * dw < w.
        const int64_t off = j * dw - pw;
        const int64_t lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
        const int64_t hi = std::min(ow, w - off <= 0 ? 0 : (w - off - 1) / sw + 1);
        for (int64_t ox = lo; ox < hi; ++ox) {
          const float* p = xr + (ox * sw + off) * kChannelBlock;
          float* dst = yp + ox * kChannelBlock;
#if defined(QUAC_MAXPOOL_X86)
          // maxps(a, b) returns b when either is NaN: with the running maximum second, a NaN input is skipped.
          _mm_storeu_ps(dst, _mm_max_ps(_mm_loadu_ps(p), _mm_loadu_ps(dst)));
          _mm_storeu_ps(dst + 4, _mm_max_ps(_mm_loadu_ps(p + 4), _mm_loadu_ps(dst + 4)));
#else
          for (int64_t c8 = 0; c8 < kChannelBlock; ++c8) dst[c8] = dst[c8] < p[c8] ? p[c8] : dst[c8];
#endif
        }
      }
    }
  }

  const ir::Node& node_;
  int64_t channels_;
};

std::unique_ptr<Kernel> make_blocked_maxpool(const KernelInfo& info, std::string* why) {
  const ir::Node& node = info.node;
  if (node.attr_string("mode", "") != "MaxPool") {
    *why = "only MaxPool";
    return nullptr;
  }
  if (!ops::is_blocked_input(node, 0) || node.attr_int("blocked_output", 0) == 0) {
    *why = "only blocked input and output";
    return nullptr;
  }
  if (node.attr_ints("kernel_shape", {}).size() != 2 || node.attr_int("channels", 0) <= 0) {
    *why = "only 2-D windows with a known channel count";
    return nullptr;
  }
  if (node.outputs.size() > 1 && !node.outputs[1].empty()) {
    *why = "MaxPool Indices output is not supported";
    return nullptr;
  }
  return std::make_unique<BlockedMaxPoolKernel>(node);
}

QUAC_REGISTER_KERNEL({.domain = "quac",
                      .op_type = "Pool",
                      .impl = "blocked-maxpool",
                      .priority = 20,
                      .min_opset = 0,
                      .factory = make_blocked_maxpool});

}  // namespace
}  // namespace quac::kernels
