// Conv: the reference N-D grouped convolution, as im2col + a small blocked GEMM. For each (image, group) the input
// patches are unrolled into `col` [K = channels per group * kernel size, P = output positions], then
// Y[m, p] = bias[m] + sum_k W[m, k] * col[k, p] is computed in tiles of kTileM output channels x kTileP positions
// whose accumulators stay in registers. Tiles are the parallel tasks, so depthwise convolutions parallelise too.
#include <string>

#include "core/parallel.h"
#include "ops/kernel.h"
#include "ops/nn_util.h"
#include "ops/op_util.h"

namespace quac::ops {
namespace {

constexpr int64_t kTileM = 4;
constexpr int64_t kTileP = 8;

// Range [lo, hi) of output positions o along an axis whose input position o * stride + offset lies in [0, in).
inline void valid_range(int64_t offset, int64_t stride, int64_t in, int64_t out, int64_t* lo, int64_t* hi) {
  *lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  *hi = in - 1 - offset < 0 ? 0 : std::min<int64_t>(out, (in - 1 - offset) / stride + 1);
  if (*hi < *lo) *hi = *lo;
}

// Fills col[r * p_pad + p] with the input element that kernel tap r = (channel, kernel offset) sees at output
// position p, or 0 where the tap falls into the padding (or p is past the last position).
template <typename T>
void im2col(const T* x, int64_t cpg, const WindowGeometry& g, int64_t p_pad, T* col, int threads) {
  const size_t rank = g.rank(), last = rank - 1;
  const int64_t in_plane = product(g.input), k_size = product(g.kernel);
  const std::vector<int64_t> in_strides = spatial_strides(g.input);
  const std::vector<int64_t> out_outer(g.output.begin(), g.output.end() - 1);
  const int64_t out_w = g.output[last], in_w = g.input[last], stride_w = g.strides[last];
  parallel_for(cpg * k_size, threads, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> kidx(rank), oidx(out_outer.size());
    for (int64_t r = begin; r < end; ++r) {
      const T* xp = x + (r / k_size) * in_plane;
      for (int64_t rest = r % k_size, d = static_cast<int64_t>(rank) - 1; d >= 0; --d) {
        kidx[static_cast<size_t>(d)] = rest % g.kernel[static_cast<size_t>(d)];
        rest /= g.kernel[static_cast<size_t>(d)];
      }
      T* cr = col + r * p_pad;
      std::fill(cr, cr + p_pad, T(0));
      const int64_t off_w = kidx[last] * g.dilations[last] - g.pads_begin[last];
      int64_t lo, hi;
      valid_range(off_w, stride_w, in_w, out_w, &lo, &hi);
      if (lo >= hi) continue;
      std::fill(oidx.begin(), oidx.end(), 0);
      int64_t row = 0;
      do {
        int64_t in_off = 0;
        bool inside = true;
        for (size_t d = 0; d < last && inside; ++d) {
          int64_t i = oidx[d] * g.strides[d] - g.pads_begin[d] + kidx[d] * g.dilations[d];
          inside = i >= 0 && i < g.input[d];
          in_off += i * in_strides[d];
        }
        if (inside) {
          T* dst = cr + row * out_w;
          const T* src = xp + in_off + off_w;
          for (int64_t o = lo; o < hi; ++o) dst[o] = src[o * stride_w];
        }
        ++row;
      } while (next_index(oidx, out_outer));
    }
  });
}

// y[m * positions + p] = bias[m] + sum_k w[m * depth + k] * col[k * p_pad + p] for m < maps, p < positions.
template <typename T>
void gemm_tiles(const T* w, const T* col, const T* bias, T* y, int64_t maps, int64_t depth, int64_t positions,
                int64_t p_pad, int threads) {
  const int64_t m_tiles = (maps + kTileM - 1) / kTileM, p_tiles = p_pad / kTileP;
  // Position-major task order: a thread's consecutive tiles share one slab of col, which stays in cache.
  parallel_for(m_tiles * p_tiles, threads, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t m0 = (t % m_tiles) * kTileM, p0 = (t / m_tiles) * kTileP;
      const T* wrow[kTileM];
      // Rows past the last map repeat it; their results are dropped below.
      for (int64_t i = 0; i < kTileM; ++i) wrow[i] = w + std::min(m0 + i, maps - 1) * depth;
      T acc[kTileM][kTileP] = {};
      for (int64_t k = 0; k < depth; ++k) {
        const T* c = col + k * p_pad + p0;
        for (int64_t i = 0; i < kTileM; ++i) {
          const T wv = wrow[i][k];
          for (int64_t j = 0; j < kTileP; ++j) acc[i][j] += wv * c[j];
        }
      }
      for (int64_t i = 0; i < kTileM && m0 + i < maps; ++i) {
        const T b = bias ? bias[m0 + i] : T(0);
        for (int64_t j = 0; j < kTileP && p0 + j < positions; ++j) y[(m0 + i) * positions + p0 + j] = acc[i][j] + b;
      }
    }
  });
}

template <typename T>
void conv_forward(const T* x, const T* w, const T* bias, T* y, int64_t batch, int64_t channels, int64_t maps,
                  int64_t group, const WindowGeometry& g, int threads) {
  const int64_t in_plane = product(g.input), positions = product(g.output), k_size = product(g.kernel);
  const int64_t cpg = channels / group, mpg = maps / group, depth = cpg * k_size;
  const int64_t p_pad = (positions + kTileP - 1) / kTileP * kTileP;
  std::vector<T> col(static_cast<size_t>(depth * p_pad));
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t grp = 0; grp < group; ++grp) {
      im2col(x + (n * channels + grp * cpg) * in_plane, cpg, g, p_pad, col.data(), threads);
      gemm_tiles(w + grp * mpg * depth, col.data(), bias ? bias + grp * mpg : nullptr,
                 y + (n * maps + grp * mpg) * positions, mpg, depth, positions, p_pad, threads);
    }
}

void run_conv(KernelContext& ctx) {
  const ir::Node& node = ctx.node();
  const Tensor& x = ctx.in(0);
  const Tensor& w = ctx.in(1);
  const Tensor* b = ctx.input(2);
  check_conv_operands(ctx, x, w);
  const int64_t group = node.attr_int("group", 1);
  const int64_t batch = x.dim(0), channels = x.dim(1), maps = w.dim(0);
  if (group < 1 || channels % group != 0 || maps % group != 0)
    ctx.fail("group " + std::to_string(group) + " does not divide input channels " + std::to_string(channels) +
             " and output channels " + std::to_string(maps));
  if (w.dim(1) != channels / group)
    ctx.fail("weight W has shape " + shape_str(w.shape()) + ", expected " + std::to_string(channels / group) +
             " input channels per group (input X " + shape_str(x.shape()) + ", group " + std::to_string(group) + ")");
  std::vector<int64_t> kernel(w.shape().begin() + 2, w.shape().end());
  std::vector<int64_t> kernel_attr = node.attr_ints("kernel_shape");
  if (!kernel_attr.empty() && kernel_attr != kernel)
    ctx.fail("kernel_shape " + shape_str(kernel_attr) + " does not match weight W " + shape_str(w.shape()));
  if (b && (b->rank() != 1 || b->dim(0) != maps || b->dtype() != x.dtype()))
    ctx.fail("bias B has shape " + shape_str(b->shape()) + ", expected [" + std::to_string(maps) + "]");
  WindowGeometry g = forward_window(node, std::vector<int64_t>(x.shape().begin() + 2, x.shape().end()), kernel);
  Shape out_shape{batch, maps};
  out_shape.insert(out_shape.end(), g.output.begin(), g.output.end());
  Tensor& y = ctx.allocate_output(0, x.dtype(), out_shape);
  QUAC_DISPATCH_FLOAT(x.dtype(), ctx, {
    conv_forward<T>(x.data<T>(), w.data<T>(), b ? b->data<T>() : nullptr, y.data<T>(), batch, channels, maps, group, g,
                    ctx.num_threads());
  });
}

QUAC_REGISTER_REFERENCE_OP("Conv", [](KernelContext& ctx) { run_promoting_16bit(ctx, run_conv); });

}  // namespace
}  // namespace quac::ops
