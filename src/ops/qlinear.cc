// Quantized convolutions and matmul: ConvInteger, QLinearConv, QLinearMatMul.
// All of them subtract the zero points into int32, accumulate exactly in int32, and (QLinear*) requantize with
// y = saturate(round_half_to_even(acc * x_scale * w_scale / y_scale) + y_zero_point).
#include <string>

#include "core/parallel.h"
#include "ops/kernel.h"
#include "ops/op_util.h"
#include "ops/quant_util.h"

namespace quac::ops {
namespace {

// ---------------------------------------------------------------------------------------------------------------
// Convolution geometry, for any number of spatial dims. Kept here (not shared with the float Conv) so the
// quantized oracle stands on its own.

struct ConvGeometry {
  int64_t batch = 0, in_channels = 0, out_channels = 0, group = 1;
  Shape in_spatial, kernel, out_spatial;
  std::vector<int64_t> strides, dilations, pads_begin;
};

ConvGeometry conv_geometry(const KernelContext& ctx, const Shape& x, const Shape& w) {
  const ir::Node& node = ctx.node();
  if (x.size() < 3 || w.size() != x.size())
    ctx.fail("x must be [N, C, spatial...] and w [M, C/group, kernel...] of the same rank, got " + shape_str(x) +
             " and " + shape_str(w));
  size_t dims = x.size() - 2;
  ConvGeometry g;
  g.batch = x[0];
  g.in_channels = x[1];
  g.out_channels = w[0];
  g.group = node.attr_int("group", 1);
  if (g.group < 1 || g.in_channels % g.group != 0 || g.out_channels % g.group != 0 || w[1] * g.group != g.in_channels)
    ctx.fail("channels do not match group " + std::to_string(g.group) + ": x " + shape_str(x) + ", w " + shape_str(w));
  g.in_spatial.assign(x.begin() + 2, x.end());
  g.kernel.assign(w.begin() + 2, w.end());
  auto kernel_shape = node.attr_ints("kernel_shape");
  if (!kernel_shape.empty() && kernel_shape != g.kernel)
    ctx.fail("kernel_shape attribute does not match the weight shape " + shape_str(w));
  g.strides = node.attr_ints("strides", std::vector<int64_t>(dims, 1));
  g.dilations = node.attr_ints("dilations", std::vector<int64_t>(dims, 1));
  auto pads = node.attr_ints("pads", std::vector<int64_t>(2 * dims, 0));
  if (g.strides.size() != dims || g.dilations.size() != dims || pads.size() != 2 * dims)
    ctx.fail("strides, dilations and pads must have one (pads: two) entries per spatial dim");
  std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
  g.pads_begin.assign(dims, 0);
  g.out_spatial.assign(dims, 0);
  for (size_t d = 0; d < dims; ++d) {
    int64_t in = g.in_spatial[d], s = g.strides[d], span = (g.kernel[d] - 1) * g.dilations[d] + 1;
    if (s < 1 || g.dilations[d] < 1) ctx.fail("strides and dilations must be positive");
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      // Output covers ceil(in / stride) positions; the odd padding unit goes at the end (UPPER) or start (LOWER).
      int64_t out = (in + s - 1) / s;
      int64_t total = std::max<int64_t>(0, (out - 1) * s + span - in);
      g.pads_begin[d] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      g.out_spatial[d] = out;
      continue;
    }
    int64_t pad_begin = 0, pad_end = 0;
    if (auto_pad == "NOTSET") {
      pad_begin = pads[d];
      pad_end = pads[d + dims];
    } else if (auto_pad != "VALID") {
      ctx.fail("unknown auto_pad '" + auto_pad + "'");
    }
    if (pad_begin < 0 || pad_end < 0) ctx.fail("pads must be non-negative");
    int64_t padded = in + pad_begin + pad_end;
    if (padded < span) ctx.fail("kernel is larger than the padded input " + shape_str(x));
    g.pads_begin[d] = pad_begin;
    g.out_spatial[d] = (padded - span) / s + 1;
  }
  return g;
}

Shape conv_output_shape(const ConvGeometry& g) {
  Shape out{g.batch, g.out_channels};
  out.insert(out.end(), g.out_spatial.begin(), g.out_spatial.end());
  return out;
}

// y[n, m, o...] = bias[m] + sum over c in m's group and kernel positions k of x[n, c, o*stride - pad + k*dilation]
// * w[m, c, k], skipping positions in the padding. One (n, m) output plane per parallel task.
void conv_int32(const ConvGeometry& g, const int32_t* x, const int32_t* w, const int32_t* bias, int32_t* y,
                int threads) {
  size_t dims = g.in_spatial.size();
  int64_t in_size = shape_numel(g.in_spatial), k_size = shape_numel(g.kernel), out_size = shape_numel(g.out_spatial);
  int64_t c_per_group = g.in_channels / g.group, m_per_group = g.out_channels / g.group;
  std::vector<int64_t> in_strides = strides_of(g.in_spatial);
  // Per-dim index of every kernel position, so the inner loops need no div/mod.
  std::vector<std::vector<int64_t>> kernel_index(k_size, std::vector<int64_t>(dims));
  for (int64_t k = 0; k < k_size; ++k)
    for (size_t d = dims, rest = static_cast<size_t>(k); d-- > 0;) {
      kernel_index[k][d] = static_cast<int64_t>(rest % g.kernel[d]);
      rest /= g.kernel[d];
    }
  parallel_for(g.batch * g.out_channels, threads, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> out_index(dims), start(dims);
    for (int64_t plane = begin; plane < end; ++plane) {
      int64_t n = plane / g.out_channels, m = plane % g.out_channels, group = m / m_per_group;
      const int32_t* x_group = x + (n * g.in_channels + group * c_per_group) * in_size;
      const int32_t* w_m = w + m * c_per_group * k_size;
      int32_t* y_plane = y + plane * out_size;
      std::fill(out_index.begin(), out_index.end(), 0);
      for (int64_t o = 0; o < out_size; ++o) {
        for (size_t d = 0; d < dims; ++d) start[d] = out_index[d] * g.strides[d] - g.pads_begin[d];
        int32_t acc = bias ? bias[m] : 0;
        for (int64_t k = 0; k < k_size; ++k) {
          int64_t offset = 0;
          bool inside = true;
          for (size_t d = 0; d < dims && inside; ++d) {
            int64_t pos = start[d] + kernel_index[k][d] * g.dilations[d];
            inside = pos >= 0 && pos < g.in_spatial[d];
            offset += pos * in_strides[d];
          }
          if (!inside) continue;
          for (int64_t c = 0; c < c_per_group; ++c) acc += x_group[c * in_size + offset] * w_m[c * k_size + k];
        }
        y_plane[o] = acc;
        for (size_t d = dims; d-- > 0;) {
          if (++out_index[d] < g.out_spatial[d]) break;
          out_index[d] = 0;
        }
      }
    }
  });
}

// The weight zero point is per tensor or per output channel ([M]); shape it [M, 1, ...] to broadcast over w.
Tensor weight_zero_point(const Tensor& w, const Tensor* zp) {
  if (!zp || zp->numel() == 1 || zp->rank() != 1) return zp ? *zp : Tensor();
  Shape s(w.shape().size(), 1);
  s[0] = zp->numel();
  return zp->reshaped(s);
}

void check_8bit(const KernelContext& ctx, DataType type, const char* what) {
  if (!is_quantized_8bit(type)) ctx.fail(std::string(what) + " must be uint8 or int8, got " + dtype_name(type));
}

void check_per_tensor(const KernelContext& ctx, const Tensor* t, const char* what) {
  if (t && t->numel() != 1) ctx.fail(std::string(what) + " must be a scalar, got shape " + shape_str(t->shape()));
}

// Per-tensor (1 value) or per-channel (`count` values) parameter.
void check_per_channel(const KernelContext& ctx, const Tensor* t, int64_t count, const char* what) {
  if (t && t->numel() != 1 && (t->rank() != 1 || t->numel() != count))
    ctx.fail(std::string(what) + " must be a scalar or have " + std::to_string(count) + " elements, got shape " +
             shape_str(t->shape()));
}

// ConvInteger: int32 convolution of (x - x_zero_point) and (w - w_zero_point).
void conv_integer(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& w = ctx.in(1);
  check_8bit(ctx, x.dtype(), "x");
  check_8bit(ctx, w.dtype(), "w");
  const Tensor* x_zp = ctx.input(2);
  const Tensor* w_zp = ctx.input(3);
  check_per_tensor(ctx, x_zp, "x_zero_point");
  check_per_channel(ctx, w_zp, w.rank() > 0 ? w.dim(0) : 1, "w_zero_point");
  ConvGeometry g = conv_geometry(ctx, x.shape(), w.shape());
  Tensor w_zp_b = weight_zero_point(w, w_zp);
  Tensor x32 = subtract_zero_point(ctx, x, x_zp);
  Tensor w32 = subtract_zero_point(ctx, w, w_zp ? &w_zp_b : nullptr);
  Tensor& y = ctx.allocate_output(0, DataType::kInt32, conv_output_shape(g));
  conv_int32(g, x32.data<int32_t>(), w32.data<int32_t>(), nullptr, y.data<int32_t>(), ctx.num_threads());
}

template <typename Q>
Q requantize(int32_t acc, float multiplier, int64_t zero_point) {
  return saturate<Q>(round_half_to_even(static_cast<double>(acc) * multiplier) + static_cast<double>(zero_point));
}

// QLinearConv inputs: x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, B (int32, [M]).
// w_scale and w_zero_point may be per output channel.
void qlinear_conv(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& w = ctx.in(3);
  check_8bit(ctx, x.dtype(), "x");
  check_8bit(ctx, w.dtype(), "w");
  const Tensor& x_scale = ctx.in(1);
  const Tensor& w_scale = ctx.in(4);
  const Tensor& y_scale = ctx.in(6);
  const Tensor* x_zp = ctx.input(2);
  const Tensor* w_zp = ctx.input(5);
  const Tensor* y_zp = ctx.input(7);
  const Tensor* bias = ctx.input(8);
  ConvGeometry g = conv_geometry(ctx, x.shape(), w.shape());
  int64_t M = g.out_channels;
  check_per_tensor(ctx, &x_scale, "x_scale");
  check_per_tensor(ctx, &y_scale, "y_scale");
  check_per_tensor(ctx, x_zp, "x_zero_point");
  check_per_tensor(ctx, y_zp, "y_zero_point");
  check_per_channel(ctx, &w_scale, M, "w_scale");
  check_per_channel(ctx, w_zp, M, "w_zero_point");
  if (bias && (bias->dtype() != DataType::kInt32 || bias->numel() != M))
    ctx.fail("B must be int32 with " + std::to_string(M) + " elements, got " + dtype_name(bias->dtype()) + " " +
             shape_str(bias->shape()));
  DataType out_type = y_zp ? y_zp->dtype() : x.dtype();
  check_8bit(ctx, out_type, "y_zero_point");

  Tensor w_zp_b = weight_zero_point(w, w_zp);
  Tensor x32 = subtract_zero_point(ctx, x, x_zp);
  Tensor w32 = subtract_zero_point(ctx, w, w_zp ? &w_zp_b : nullptr);
  Shape out_shape = conv_output_shape(g);
  Tensor acc(DataType::kInt32, out_shape);
  conv_int32(g, x32.data<int32_t>(), w32.data<int32_t>(), bias ? bias->data<int32_t>() : nullptr, acc.data<int32_t>(),
             ctx.num_threads());

  // The combined scale is formed in float, as in the ONNX reference, then applied to the exact int32 sum.
  std::vector<float> ws = w_scale.to_float_vector(), multiplier(M);
  float xs = x_scale.scalar_as_double(), ys = y_scale.scalar_as_double();
  for (int64_t m = 0; m < M; ++m) multiplier[m] = xs * ws[ws.size() == 1 ? 0 : m] / ys;
  int64_t zp = y_zp ? y_zp->scalar_as_int() : 0;
  QuantParams layout{{}, {}, g.batch, M, shape_numel(g.out_spatial)};
  Tensor& y = ctx.allocate_output(0, out_type, out_shape);
  const int32_t* a = acc.data<int32_t>();
  if (out_type == DataType::kUInt8) {
    uint8_t* out = y.data<uint8_t>();
    for_each_channel(layout, [&](int64_t i, int64_t m) { out[i] = requantize<uint8_t>(a[i], multiplier[m], zp); });
  } else {
    int8_t* out = y.data<int8_t>();
    for_each_channel(layout, [&](int64_t i, int64_t m) { out[i] = requantize<int8_t>(a[i], multiplier[m], zp); });
  }
}

// QLinearMatMul inputs: a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point. a's and y's
// parameters are per tensor or per row ([M]); b's are per tensor or per column ([N]).
void qlinear_matmul(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(3);
  check_8bit(ctx, a.dtype(), "a");
  check_8bit(ctx, b.dtype(), "b");
  const Tensor& a_scale = ctx.in(1);
  const Tensor& b_scale = ctx.in(4);
  const Tensor& y_scale = ctx.in(6);
  const Tensor* a_zp = ctx.input(2);
  const Tensor* b_zp = ctx.input(5);
  const Tensor* y_zp = ctx.input(7);
  MatMulShapes s = matmul_shapes(ctx, a.shape(), b.shape());
  check_per_channel(ctx, &a_scale, s.M, "a_scale");
  check_per_channel(ctx, a_zp, s.M, "a_zero_point");
  check_per_channel(ctx, &b_scale, s.N, "b_scale");
  check_per_channel(ctx, b_zp, s.N, "b_zero_point");
  check_per_channel(ctx, &y_scale, s.M, "y_scale");
  check_per_channel(ctx, y_zp, s.M, "y_zero_point");
  DataType out_type = y_zp ? y_zp->dtype() : a.dtype();
  check_8bit(ctx, out_type, "y_zero_point");

  // Per-row / per-column zero points broadcast as [M, 1] / [1, N].
  Tensor a_zp_b, b_zp_b;
  if (a_zp) a_zp_b = a_zp->numel() == 1 || a.rank() < 2 ? *a_zp : a_zp->reshaped({s.M, 1});
  if (b_zp) b_zp_b = b_zp->numel() == 1 || b.rank() < 2 ? *b_zp : b_zp->reshaped({1, s.N});
  Tensor a32 = subtract_zero_point(ctx, a, a_zp ? &a_zp_b : nullptr);
  Tensor b32 = subtract_zero_point(ctx, b, b_zp ? &b_zp_b : nullptr);
  int64_t batches = shape_numel(s.out_batch);
  Tensor acc(DataType::kInt32, {batches * s.M * s.N});
  batched_matmul<int32_t>(a32.data<int32_t>(), s.a_batch, b32.data<int32_t>(), s.b_batch, s.out_batch, s.M, s.K, s.N,
                          acc.data<int32_t>(), ctx.num_threads());

  std::vector<float> as = a_scale.to_float_vector(), bs = b_scale.to_float_vector(), ys = y_scale.to_float_vector();
  std::vector<int64_t> yz = y_zp ? y_zp->to_int_vector() : std::vector<int64_t>{0};
  auto pick = [](const auto& v, int64_t i) { return v[v.size() == 1 ? 0 : i]; };
  Tensor& y = ctx.allocate_output(0, out_type, s.out);
  const int32_t* acc_data = acc.data<int32_t>();
  auto store = [&](auto* out) {
    using Q = std::remove_pointer_t<decltype(out)>;
    for (int64_t r = 0; r < batches * s.M; ++r) {
      int64_t i = r % s.M;
      for (int64_t j = 0; j < s.N; ++j) {
        float multiplier = pick(as, i) * pick(bs, j) / pick(ys, i);
        out[r * s.N + j] = requantize<Q>(acc_data[r * s.N + j], multiplier, pick(yz, i));
      }
    }
  };
  if (out_type == DataType::kUInt8)
    store(y.data<uint8_t>());
  else
    store(y.data<int8_t>());
}

QUAC_REGISTER_REFERENCE_OP("ConvInteger", conv_integer);
QUAC_REGISTER_REFERENCE_OP("QLinearConv", qlinear_conv);
QUAC_REGISTER_REFERENCE_OP("QLinearMatMul", qlinear_matmul);

}  // namespace
}  // namespace quac::ops
