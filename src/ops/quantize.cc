// QuantizeLinear, DequantizeLinear (per tensor, and per axis from opset 13) and DynamicQuantizeLinear; also ONNX
// Runtime's com.microsoft QuantizeLinear/DequantizeLinear, which quac writes for 16-bit quantizers (GNA).
#include <cmath>

#include "ops/kernel.h"
#include "ops/op_util.h"
#include "ops/quant_util.h"

namespace quac::ops {
namespace {

template <typename Q, typename F>
void quantize_typed(const QuantParams& p, const F* x, Q* y) {
  for_each_channel(p, [&](int64_t i, int64_t c) {
    y[i] = quantize_value<Q, F>(x[i], static_cast<F>(p.scale[c]), static_cast<int32_t>(p.zero_point[c]));
  });
}

// Dispatches on the output type.
template <typename F>
void quantize_to(const QuantParams& p, const F* x, Tensor& y) {
  switch (y.dtype()) {
    case DataType::kUInt8:
      quantize_typed(p, x, y.data<uint8_t>());
      break;
    case DataType::kInt8:
      quantize_typed(p, x, y.data<int8_t>());
      break;
    case DataType::kUInt16:  // 16-bit outputs arrived in opset 21; they cost nothing extra here
      quantize_typed(p, x, y.data<uint16_t>());
      break;
    default:
      quantize_typed(p, x, y.data<int16_t>());
  }
}

// y = saturate(round_half_to_even(x / y_scale) + y_zero_point); the output type is that of y_zero_point (uint8 when
// it is omitted). Opset 10 has per-tensor parameters only; opset 13 adds `axis` for per-axis ones.
void quantize_linear(KernelContext& ctx) {
  const Tensor& x_in = ctx.in(0);
  const Tensor& scale = ctx.in(1);
  const Tensor* zero_point = ctx.input(2);
  DataType out_type = zero_point ? zero_point->dtype() : DataType::kUInt8;
  if (!is_quantized_8bit(out_type) && out_type != DataType::kUInt16 && out_type != DataType::kInt16)
    ctx.fail(std::string("y_zero_point must be uint8, int8, uint16 or int16, got ") + dtype_name(out_type));
  if (!dtype_is_float(x_in.dtype()) && x_in.dtype() != DataType::kInt32)
    ctx.fail(std::string("x must be float or int32, got ") + dtype_name(x_in.dtype()));
  QuantParams p = resolve_quant_params(ctx, x_in.shape(), scale, zero_point, ctx.node().attr_int("axis", 1));
  Tensor x = widen_half(x_in);
  Tensor& y = ctx.allocate_output(0, out_type, x_in.shape());
  if (x.dtype() == DataType::kFloat) {
    quantize_to(p, x.data<float>(), y);
  } else {
    // int32 and double inputs divide in double, like numpy's promotion in the ONNX reference.
    std::vector<double> xd(static_cast<size_t>(x.numel()));
    for (int64_t i = 0; i < x.numel(); ++i) xd[i] = x.scalar_as_double(i);
    quantize_to(p, xd.data(), y);
  }
}

// y = (x - x_zero_point) * x_scale, in float (or the scale's 16-bit float type, opset 19+).
void dequantize_linear(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& scale = ctx.in(1);
  const Tensor* zero_point = ctx.input(2);
  if (!dtype_is_integer(x.dtype())) ctx.fail(std::string("x must be an integer tensor, got ") + dtype_name(x.dtype()));
  if (zero_point && zero_point->dtype() != x.dtype())
    ctx.fail(std::string("x_zero_point has type ") + dtype_name(zero_point->dtype()) + " but x has " +
             dtype_name(x.dtype()));
  if (!dtype_is_float(scale.dtype())) ctx.fail("x_scale must be a float tensor");
  QuantParams p = resolve_quant_params(ctx, x.shape(), scale, zero_point, ctx.node().attr_int("axis", 1));
  DataType out_type = is_half(scale.dtype()) ? scale.dtype() : DataType::kFloat;
  Tensor& y = ctx.allocate_output(0, out_type, x.shape());
  Tensor result = is_half(out_type) ? Tensor(DataType::kFloat, x.shape()) : y;
  float* out = result.data<float>();
  QUAC_DISPATCH_NUMERIC(x.dtype(), ctx, {
    if constexpr (std::is_integral_v<T>) {
      const T* in = x.data<T>();
      for_each_channel(p,
                       [&](int64_t i, int64_t c) { out[i] = dequantize_value<T>(in[i], p.scale[c], p.zero_point[c]); });
    }
  });
  if (is_half(out_type)) narrow_half(result, y);
}

// Quantizes x to uint8 with a scale and zero point chosen from its range (extended to include 0, so that 0 is exactly
// representable), computed in float like the ONNX function body.
void dynamic_quantize_linear(KernelContext& ctx) {
  Tensor x_in = widen_half(ctx.in(0));
  if (x_in.dtype() != DataType::kFloat) ctx.fail(std::string("x must be float, got ") + dtype_name(ctx.in(0).dtype()));
  const float* x = x_in.data<float>();
  int64_t n = x_in.numel();
  float lo = 0.0f, hi = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  constexpr float kQMin = 0.0f, kQMax = 255.0f;
  float scale = (hi - lo) / (kQMax - kQMin);
  // An all-zero input has no range; any scale represents it, and 1 avoids dividing by zero below.
  if (scale == 0.0f) scale = 1.0f;
  float zp_real = kQMin - lo / scale;
  uint8_t zero_point = saturate<uint8_t>(round_half_to_even(zp_real));
  Tensor& y = ctx.allocate_output(0, DataType::kUInt8, x_in.shape());
  uint8_t* out = y.data<uint8_t>();
  for (int64_t i = 0; i < n; ++i) out[i] = quantize_value<uint8_t>(x[i], scale, zero_point);
  ctx.allocate_output(1, DataType::kFloat, {}).data<float>()[0] = scale;
  ctx.allocate_output(2, DataType::kUInt8, {}).data<uint8_t>()[0] = zero_point;
}

QUAC_REGISTER_REFERENCE_OP("QuantizeLinear", quantize_linear);
QUAC_REGISTER_REFERENCE_OP("DequantizeLinear", dequantize_linear);
QUAC_REGISTER_REFERENCE_OP("DynamicQuantizeLinear", dynamic_quantize_linear);

// ONNX Runtime's contrib ops (domain com.microsoft, version 1): the same semantics as the ai.onnx ops with `axis`
// (default 1), and int16/uint16 next to int8/uint8 before ai.onnx had them (opset 21). The kernels above accept all
// four types, so they serve both domains.
std::unique_ptr<Kernel> make_ms_quantize(const KernelInfo&, std::string*) {
  return std::make_unique<FunctionKernel>(quantize_linear);
}
std::unique_ptr<Kernel> make_ms_dequantize(const KernelInfo&, std::string*) {
  return std::make_unique<FunctionKernel>(dequantize_linear);
}
QUAC_REGISTER_KERNEL({.domain = "com.microsoft",
                      .op_type = "QuantizeLinear",
                      .impl = "reference",
                      .priority = 0,
                      .factory = make_ms_quantize});
QUAC_REGISTER_KERNEL({.domain = "com.microsoft",
                      .op_type = "DequantizeLinear",
                      .impl = "reference",
                      .priority = 0,
                      .factory = make_ms_dequantize});

}  // namespace
}  // namespace quac::ops
