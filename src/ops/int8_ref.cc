// Reference kernels (the oracle) for the INT8 ops the Int8Lowering pass creates. Each one is the exact QDQ
// decomposition of the pattern it replaces: dequantize the 8-bit inputs, compute in float like the float op, apply
// the fused post-ops, then quantize to the output's scale and zero point (or leave float when no output scale).
//
// quac.QConv   inputs: x, x_scale, x_zero_point, w (int8), w_scale ([M]), bias (float [M], optional),
//                      y_scale, y_zero_point (both optional: float output), sum, sum_scale, sum_zero_point (optional)
//              attributes: Conv's window attributes, post_ops / post_alpha / post_beta as quac.FusedConv ("Sum" adds
//                      the dequantized `sum` input, or the float `sum` when it has no scale; "QDQ_U8" / "QDQ_S8"
//                      quantize and dequantize with scale alpha and zero point beta), nhwc_inputs / nhwc_output.
// quac.QMatMul inputs: x ([..., K]), x_scale, x_zero_point, w (int8 [K, N]), w_scale ([N]), bias ([N], optional),
//                      y_scale, y_zero_point (optional); post_ops as above (no Sum).
// quac.QPool   inputs: x, x_scale, x_zero_point, y_scale, y_zero_point (optional); attribute mode (MaxPool or
//                      GlobalAveragePool) and the pool's window attributes, nhwc_inputs / nhwc_output.
// Scales and zero points of x, y and sum are scalars. 8-bit activations between INT8 ops may be stored channels-last
// (physical shape [N, H, W, C] for logical [N, C, H, W]); the node says which through nhwc_inputs / nhwc_output.
#include <cmath>

#include "ops/fused_ref.h"
#include "ops/int8_layout.h"
#include "ops/kernel.h"
#include "ops/quant_util.h"

namespace quac::ops {
namespace {

float scalar_float(const KernelContext& ctx, size_t index) {
  const Tensor& t = ctx.in(index);
  if (t.dtype() != DataType::kFloat || t.numel() != 1)
    ctx.fail("input " + std::to_string(index) + " must be a float scalar");
  return t.data<float>()[0];
}

int32_t scalar_zero_point(const KernelContext& ctx, size_t index, DataType want) {
  const Tensor& t = ctx.in(index);
  if (!is_quantized_8bit(t.dtype()) || t.numel() != 1 || t.dtype() != want)
    ctx.fail("input " + std::to_string(index) + " must be a " + dtype_name(want) + " scalar zero point");
  return static_cast<int32_t>(t.scalar_as_int(0));
}

// Input `index` (8-bit) dequantized to a plain float tensor.
Tensor dequantized_input(const KernelContext& ctx, size_t index) {
  const Tensor& q = ctx.in(index);
  if (!is_quantized_8bit(q.dtype())) ctx.fail("input " + std::to_string(index) + " must be uint8 or int8");
  float scale = scalar_float(ctx, index + 1);
  int32_t zp = scalar_zero_point(ctx, index + 2, q.dtype());
  bool nhwc = is_nhwc_input(ctx.node(), index);
  if (nhwc && q.rank() != 4) ctx.fail("a channels-last input must have rank 4");
  Tensor plain = nhwc ? nhwc_to_nchw(q) : q;
  Tensor f(DataType::kFloat, plain.shape());
  float* out = f.data<float>();
  if (plain.dtype() == DataType::kUInt8) {
    const uint8_t* in = plain.data<uint8_t>();
    for (int64_t i = 0; i < plain.numel(); ++i) out[i] = dequantize_value<uint8_t>(in[i], scale, zp);
  } else {
    const int8_t* in = plain.data<int8_t>();
    for (int64_t i = 0; i < plain.numel(); ++i) out[i] = dequantize_value<int8_t>(in[i], scale, zp);
  }
  return f;
}

// Writes the float result as output 0: quantized with inputs (scale_index, scale_index + 1) when present.
void write_quantized(KernelContext& ctx, const Tensor& y, size_t scale_index) {
  if (!ctx.input(scale_index)) {  // float: plain, channels-last or blocked as the passes say
    if (ctx.node().attr_int("nhwc_output", 0)) {
      if (y.rank() != 4) ctx.fail("a channels-last output must have rank 4");
      ctx.set_output(0, nchw_to_nhwc(y));
    } else {
      write_output(ctx, y);
    }
    return;
  }
  float scale = scalar_float(ctx, scale_index);
  const Tensor& zpt = ctx.in(scale_index + 1);
  if (!is_quantized_8bit(zpt.dtype()) || zpt.numel() != 1) ctx.fail("the output zero point must be an 8-bit scalar");
  int32_t zp = static_cast<int32_t>(zpt.scalar_as_int(0));
  Tensor q(zpt.dtype(), y.shape());
  const float* in = y.data<float>();
  if (q.dtype() == DataType::kUInt8) {
    for (int64_t i = 0; i < y.numel(); ++i) q.data<uint8_t>()[i] = quantize_value<uint8_t>(in[i], scale, zp);
  } else {
    for (int64_t i = 0; i < y.numel(); ++i) q.data<int8_t>()[i] = quantize_value<int8_t>(in[i], scale, zp);
  }
  bool nhwc = ctx.node().attr_int("nhwc_output", 0) != 0;
  if (nhwc && q.rank() != 4) ctx.fail("a channels-last output must have rank 4");
  ctx.set_output(0, nhwc ? nchw_to_nhwc(q) : q);
}

// Float weights w * w_scale[channel], the channel being axis `axis` of w.
Tensor dequantized_weights(const KernelContext& ctx, size_t index, int64_t axis) {
  const Tensor& w = ctx.in(index);
  const Tensor& s = ctx.in(index + 1);
  if (w.dtype() != DataType::kInt8) ctx.fail("weights must be int8");
  if (s.dtype() != DataType::kFloat || s.numel() != w.dim(axis)) ctx.fail("weight scales must be float, one a channel");
  int64_t outer = 1, inner = 1, ch = w.dim(axis);
  for (int64_t i = 0; i < axis; ++i) outer *= w.dim(i);
  for (int64_t i = axis + 1; i < w.rank(); ++i) inner *= w.dim(i);
  Tensor f(DataType::kFloat, w.shape());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < ch; ++c)
      for (int64_t i = 0; i < inner; ++i) {
        int64_t k = (o * ch + c) * inner + i;
        f.data<float>()[k] = static_cast<float>(w.data<int8_t>()[k]) * s.data<float>()[c];
      }
  return f;
}

void apply_post_ops(KernelContext& ctx, Tensor& y, bool allow_sum) {
  const ir::Node& node = ctx.node();
  auto ops = node.attr_strings("post_ops");
  auto alphas = node.attr_floats("post_alpha"), betas = node.attr_floats("post_beta");
  if (alphas.size() != ops.size() || betas.size() != ops.size()) ctx.fail("post-op attributes disagree in length");
  float* yd = y.data<float>();
  for (size_t p = 0; p < ops.size(); ++p) {
    if (ops[p] == "Sum") {
      if (!allow_sum || !ctx.input(8)) ctx.fail("the Sum post-op needs input 8");
      // An 8-bit residual is dequantized; a float one (no sum_scale) is added as it is.
      Tensor sum = ctx.input(9) ? dequantized_input(ctx, 8) : ctx.in(8);
      if (!ctx.input(9) && is_nhwc_input(ctx.node(), 8)) {
        if (sum.rank() != 4) ctx.fail("a channels-last input must have rank 4");
        sum = nhwc_to_nchw(sum);
      }
      if (sum.dtype() != DataType::kFloat) ctx.fail("a residual without scale must be float");
      if (sum.shape() != y.shape()) ctx.fail("the Sum input must have the output's shape " + shape_str(y.shape()));
      for (int64_t i = 0; i < y.numel(); ++i) yd[i] += sum.data<float>()[i];
      continue;
    }
    if (ops[p] == "QDQ_U8" || ops[p] == "QDQ_S8") {  // QuantizeLinear then DequantizeLinear (scale, zero point)
      float scale = alphas[p];
      auto zp = static_cast<int32_t>(betas[p]);
      for (int64_t i = 0; i < y.numel(); ++i)
        yd[i] = ops[p] == "QDQ_U8" ? dequantize_value<uint8_t>(quantize_value<uint8_t>(yd[i], scale, zp), scale, zp)
                                   : dequantize_value<int8_t>(quantize_value<int8_t>(yd[i], scale, zp), scale, zp);
      continue;
    }
    for (int64_t i = 0; i < y.numel(); ++i) yd[i] = apply_post_op(ops[p], alphas[p], betas[p], yd[i]);
  }
}

void qconv_ref(KernelContext& ctx) {
  Tensor x = dequantized_input(ctx, 0);
  Tensor w = dequantized_weights(ctx, 3, 0);
  const Tensor* b = ctx.input(5);
  Tensor y = conv_forward_ref(ctx, x, w, b);
  apply_post_ops(ctx, y, true);
  write_quantized(ctx, y, 6);
}

void qmatmul_ref(KernelContext& ctx) {
  Tensor x = dequantized_input(ctx, 0);
  Tensor w = dequantized_weights(ctx, 3, 1);
  if (w.rank() != 2 || x.rank() < 1 || x.dim(x.rank() - 1) != w.dim(0))
    ctx.fail("input " + shape_str(x.shape()) + " does not match weights " + shape_str(w.shape()));
  int64_t k = w.dim(0), n = w.dim(1), rows = x.numel() / std::max<int64_t>(k, 1);
  const Tensor* b = ctx.input(5);
  if (b && (b->dtype() != DataType::kFloat || b->numel() != n)) ctx.fail("bias must be float with N elements");
  Shape ys = x.shape();
  ys.back() = n;
  Tensor y(DataType::kFloat, ys);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < n; ++j) {
      double acc = b ? b->data<float>()[j] : 0.0;
      for (int64_t i = 0; i < k; ++i)
        acc += static_cast<double>(x.data<float>()[r * k + i]) * w.data<float>()[i * n + j];
      y.data<float>()[r * n + j] = static_cast<float>(acc);
    }
  apply_post_ops(ctx, y, false);
  write_quantized(ctx, y, 6);
}

void qpool_ref(KernelContext& ctx) {
  std::string mode = ctx.node().attr_string("mode", "");
  if (mode != "MaxPool" && mode != "GlobalAveragePool") ctx.fail("unknown quac.QPool mode '" + mode + "'");
  Tensor x = dequantized_input(ctx, 0);
  write_quantized(ctx, pool_forward_ref(ctx, x, mode), 3);
}

QUAC_REGISTER_QUAC_REFERENCE("QConv", qconv_ref);
QUAC_REGISTER_QUAC_REFERENCE("QMatMul", qmatmul_ref);
QUAC_REGISTER_QUAC_REFERENCE("QPool", qpool_ref);

}  // namespace
}  // namespace quac::ops
