// ConvTranspose: the reference N-D grouped transposed convolution. Each (batch, output channel) plane is one
// parallel task that gathers the contributions of its group's input channels, so tasks never write the same memory.
#include <string>

#include "core/parallel.h"
#include "ops/kernel.h"
#include "ops/nn_util.h"
#include "ops/op_util.h"

namespace quac::ops {
namespace {

// Range [lo, hi) of input positions i along an axis whose output position i * stride + offset lies in [0, out).
inline void valid_range(int64_t offset, int64_t stride, int64_t out, int64_t in, int64_t* lo, int64_t* hi) {
  *lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  *hi = out - 1 - offset < 0 ? 0 : std::min<int64_t>(in, (out - 1 - offset) / stride + 1);
  if (*hi < *lo) *hi = *lo;
}

template <typename T>
void conv_transpose(const T* x, const T* w, const T* bias, T* y, int64_t batch, int64_t channels, int64_t maps,
                    int64_t group, const WindowGeometry& g, int threads) {
  const size_t rank = g.rank(), last = rank - 1;
  const int64_t in_plane = product(g.input), out_plane = product(g.output), k_size = product(g.kernel);
  const int64_t cpg = channels / group, mpg = maps / group;
  const std::vector<int64_t> out_strides = spatial_strides(g.output);
  const std::vector<int64_t> in_outer(g.input.begin(), g.input.end() - 1);
  const int64_t out_w = g.output[last], in_w = g.input[last], stride_w = g.strides[last];

  parallel_for(batch * maps, threads, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> kidx(rank), iidx(in_outer.size());
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / maps, m = task % maps, grp = m / mpg;
      T* yp = y + task * out_plane;
      const T init = bias ? bias[m] : T(0);
      for (int64_t i = 0; i < out_plane; ++i) yp[i] = init;
      for (int64_t ci = 0; ci < cpg; ++ci) {
        const int64_t c = grp * cpg + ci;
        const T* xp = x + (n * channels + c) * in_plane;
        const T* wp = w + (c * mpg + m % mpg) * k_size;
        std::fill(kidx.begin(), kidx.end(), 0);
        for (int64_t kk = 0; kk < k_size; ++kk, next_index(kidx, g.kernel)) {
          const T wv = wp[kk];
          const int64_t off_w = kidx[last] * g.dilations[last] - g.pads_begin[last];
          int64_t lo, hi;
          valid_range(off_w, stride_w, out_w, in_w, &lo, &hi);
          if (lo >= hi) continue;
          std::fill(iidx.begin(), iidx.end(), 0);
          int64_t row = 0;
          do {
            int64_t out_off = 0;
            bool inside = true;
            for (size_t d = 0; d < last; ++d) {
              int64_t o = iidx[d] * g.strides[d] - g.pads_begin[d] + kidx[d] * g.dilations[d];
              if (o < 0 || o >= g.output[d]) {
                inside = false;
                break;
              }
              out_off += o * out_strides[d];
            }
            if (inside) {
              const T* xr = xp + row * in_w;
              T* yr = yp + out_off + off_w;
              for (int64_t i = lo; i < hi; ++i) yr[i * stride_w] += wv * xr[i];
            }
            ++row;
          } while (next_index(iidx, in_outer));
        }
      }
    }
  });
}

void run_conv_transpose(KernelContext& ctx) {
  const ir::Node& node = ctx.node();
  const Tensor& x = ctx.in(0);
  const Tensor& w = ctx.in(1);
  const Tensor* b = ctx.input(2);
  check_conv_operands(ctx, x, w);
  const int64_t group = node.attr_int("group", 1);
  const int64_t batch = x.dim(0), channels = x.dim(1);
  if (w.dim(0) != channels)
    ctx.fail("weight W has shape " + shape_str(w.shape()) + ", expected " + std::to_string(channels) +
             " input channels to match input X " + shape_str(x.shape()));
  if (group < 1 || channels % group != 0)
    ctx.fail("group " + std::to_string(group) + " does not divide input channels " + std::to_string(channels));
  const int64_t maps = w.dim(1) * group;
  std::vector<int64_t> kernel(w.shape().begin() + 2, w.shape().end());
  std::vector<int64_t> kernel_attr = node.attr_ints("kernel_shape");
  if (!kernel_attr.empty() && kernel_attr != kernel)
    ctx.fail("kernel_shape " + shape_str(kernel_attr) + " does not match weight W " + shape_str(w.shape()));
  if (b && (b->rank() != 1 || b->dim(0) != maps || b->dtype() != x.dtype()))
    ctx.fail("bias B has shape " + shape_str(b->shape()) + ", expected [" + std::to_string(maps) + "]");
  std::vector<int64_t> output_padding;
  WindowGeometry g =
      transpose_window(node, std::vector<int64_t>(x.shape().begin() + 2, x.shape().end()), kernel, &output_padding);
  Shape out_shape{batch, maps};
  out_shape.insert(out_shape.end(), g.output.begin(), g.output.end());
  Tensor& y = ctx.allocate_output(0, x.dtype(), out_shape);
  QUAC_DISPATCH_FLOAT(x.dtype(), ctx, {
    conv_transpose<T>(x.data<T>(), w.data<T>(), b ? b->data<T>() : nullptr, y.data<T>(), batch, channels, maps, group,
                      g, ctx.num_threads());
  });
}

QUAC_REGISTER_REFERENCE_OP("ConvTranspose", [](KernelContext& ctx) { run_promoting_16bit(ctx, run_conv_transpose); });

}  // namespace
}  // namespace quac::ops
