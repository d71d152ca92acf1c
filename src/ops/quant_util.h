// Helpers shared by the linear-algebra and quantization reference kernels (and the INT8 work):
// round-half-to-even quantization with saturation, per-tensor / per-axis scale and zero point handling,
// float16 widening, and the batched i-k-j matrix product every matmul-like kernel is built on.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/parallel.h"
#include "ops/kernel.h"
#include "ops/op_util.h"

namespace quac::ops {

// ---------------------------------------------------------------------------------------------------------------
// Quantization arithmetic

// ONNX rounds half to even (numpy.rint); nearbyint does so under the default rounding mode and never raises
// FE_INEXACT, unlike rint.
inline double round_half_to_even(double v) { return std::nearbyint(v); }

// Clamps to Q's range and converts. NaN has no meaningful quantized value; it maps to 0 rather than to UB.
template <typename Q>
Q saturate(double v) {
  if (std::isnan(v)) return Q{0};
  constexpr double lo = static_cast<double>(std::numeric_limits<Q>::lowest());
  constexpr double hi = static_cast<double>(std::numeric_limits<Q>::max());
  return static_cast<Q>(std::clamp(v, lo, hi));
}

// y = saturate(round(x / scale) + zero_point). The division (not a multiplication by 1/scale) happens in F: float
// for float inputs, double for int32/double ones, as in the ONNX reference (numpy promotes int32 / float32 to
// float64), so ties land exactly where the spec expects them. A NaN quotient (NaN input, or 0 / 0 with a degenerate
// zero scale) has no meaningful value and maps to the zero point, i.e. to real 0.
template <typename Q, typename F = float>
Q quantize_value(F x, F scale, int32_t zero_point) {
  F q = x / scale;
  if (std::isnan(q)) q = 0;
  return saturate<Q>(round_half_to_even(static_cast<double>(q)) + zero_point);
}

// y = (x - zero_point) * scale, the difference taken exactly in 64-bit integers.
template <typename Q>
float dequantize_value(Q x, float scale, int64_t zero_point) {
  return static_cast<float>(static_cast<int64_t>(x) - zero_point) * scale;
}

inline bool is_quantized_8bit(DataType t) { return t == DataType::kUInt8 || t == DataType::kInt8; }

// Scale and zero point of a QuantizeLinear / DequantizeLinear-style node resolved against the data tensor. The data
// is viewed as [outer, channels, inner] around `axis`; per-tensor parameters have channels == 1 (and span the whole
// tensor as `inner`).
struct QuantParams {
  std::vector<float> scale;         // one per channel
  std::vector<int64_t> zero_point;  // one per channel (0 when omitted)
  int64_t outer = 1, channels = 1, inner = 1;
};

// `scale` is a scalar / 1-element tensor (per tensor) or a 1-D tensor of data.dim(axis) elements (per axis, opset
// 13+); `zero_point` (optional) must have the same number of elements.
inline QuantParams resolve_quant_params(const KernelContext& ctx, const Shape& data_shape, const Tensor& scale,
                                        const Tensor* zero_point, int64_t axis_attr) {
  QuantParams p;
  int64_t numel = shape_numel(data_shape);
  if (zero_point && zero_point->numel() != scale.numel())
    ctx.fail("zero point has " + std::to_string(zero_point->numel()) + " elements but scale has " +
             std::to_string(scale.numel()));
  bool per_tensor = scale.numel() == 1;
  if (per_tensor) {
    p.inner = numel;
  } else {
    if (scale.rank() != 1) ctx.fail("scale must be a scalar or a 1-D tensor, got shape " + shape_str(scale.shape()));
    int64_t rank = static_cast<int64_t>(data_shape.size());
    int64_t axis = normalize_axis(ctx, axis_attr, rank);
    if (data_shape[axis] != scale.numel())
      ctx.fail("per-axis scale has " + std::to_string(scale.numel()) + " elements but axis " + std::to_string(axis) +
               " of the input " + shape_str(data_shape) + " has " + std::to_string(data_shape[axis]));
    p.channels = data_shape[axis];
    for (int64_t d = 0; d < axis; ++d) p.outer *= data_shape[d];
    for (int64_t d = axis + 1; d < rank; ++d) p.inner *= data_shape[d];
  }
  std::vector<float> s = scale.to_float_vector();
  p.scale = per_tensor ? std::vector<float>{s.at(0)} : s;
  p.zero_point.assign(p.channels, 0);
  if (zero_point) {
    if (!dtype_is_integer(zero_point->dtype())) ctx.fail("zero point must be an integer tensor");
    for (int64_t c = 0; c < p.channels; ++c) p.zero_point[c] = zero_point->scalar_as_int(c);
  }
  return p;
}

// Calls fn(index, channel) for every element of data laid out as [outer, channels, inner].
template <typename Fn>
void for_each_channel(const QuantParams& p, Fn&& fn) {
  int64_t i = 0;
  for (int64_t o = 0; o < p.outer; ++o)
    for (int64_t c = 0; c < p.channels; ++c)
      for (int64_t e = 0; e < p.inner; ++e) fn(i++, c);
}

// Integer tensor with the zero point subtracted, as int32 (the accumulator type of every integer matmul and conv).
// `zero_point` may be omitted (nullptr) or broadcast to `x` (numpy rules, unidirectional).
inline Tensor subtract_zero_point(const KernelContext& ctx, const Tensor& x, const Tensor* zero_point) {
  if (zero_point &&
      (zero_point->rank() > x.rank() || broadcast_shapes(ctx, {x.shape(), zero_point->shape()}) != x.shape()))
    ctx.fail("zero point of shape " + shape_str(zero_point->shape()) + " does not broadcast to " +
             shape_str(x.shape()));
  Tensor out(DataType::kInt32, x.shape());
  int32_t* y = out.data<int32_t>();
  std::vector<int64_t> zp = zero_point ? zero_point->to_int_vector() : std::vector<int64_t>{0};
  std::vector<int64_t> zp_strides =
      zero_point ? broadcast_strides(zero_point->shape(), x.shape()) : std::vector<int64_t>(x.shape().size(), 0);
  QUAC_DISPATCH_NUMERIC(x.dtype(), ctx, {
    if constexpr (std::is_integral_v<T>) {
      const T* xv = x.data<T>();
      for_each_broadcast(x.shape(), {zp_strides}, [&](int64_t i, const std::vector<int64_t>& off) {
        y[i] = static_cast<int32_t>(static_cast<int64_t>(xv[i]) - zp[off[0]]);
      });
    } else {
      ctx.fail(std::string("expected an integer tensor, got ") + dtype_name(x.dtype()));
    }
  });
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// float16 / bfloat16: kernels compute those in float, converting at the boundary.

inline bool is_half(DataType t) { return t == DataType::kFloat16 || t == DataType::kBFloat16; }

// The tensor itself unless it is float16/bfloat16, which is converted to a new float tensor.
inline Tensor widen_half(const Tensor& t) {
  if (!is_half(t.dtype())) return t;
  Tensor f(DataType::kFloat, t.shape());
  const uint16_t* src = static_cast<const uint16_t*>(t.raw_data());
  float* dst = f.data<float>();
  bool bf = t.dtype() == DataType::kBFloat16;
  for (int64_t i = 0; i < t.numel(); ++i) dst[i] = bf ? bfloat16_to_float(src[i]) : half_to_float(src[i]);
  return f;
}

// Writes float `src` into `dst` (float16 or bfloat16, same shape).
inline void narrow_half(const Tensor& src, Tensor& dst) {
  const float* s = src.data<float>();
  uint16_t* d = static_cast<uint16_t*>(dst.raw_data());
  bool bf = dst.dtype() == DataType::kBFloat16;
  for (int64_t i = 0; i < src.numel(); ++i) d[i] = bf ? float_to_bfloat16(s[i]) : float_to_half(s[i]);
}

// ---------------------------------------------------------------------------------------------------------------
// Matrix product

// out[b] = a[b] (M x K) * b[b] (K x N) for every batch index b of `out_batch`, where the batch dims of a and b
// broadcast to out_batch (numpy rules, already checked by the caller). All matrices are dense row-major.
// Accumulates in T: float for float (as the fast kernels do), double for double, wrapping integers (int32 for the
// zero-point-corrected quantized products).
// Loop order i-k-j (i in small blocks) keeps the innermost loop on contiguous rows of b and out; each output element
// is always accumulated over k in ascending order, so the result does not depend on the thread count.
template <typename T>
void batched_matmul(const T* a, const Shape& a_batch, const T* b, const Shape& b_batch, const Shape& out_batch,
                    int64_t M, int64_t K, int64_t N, T* out, int threads) {
  int64_t batches = shape_numel(out_batch);
  std::vector<int64_t> a_index(batches), b_index(batches);
  for_each_broadcast(out_batch, {broadcast_strides(a_batch, out_batch), broadcast_strides(b_batch, out_batch)},
                     [&](int64_t i, const std::vector<int64_t>& off) {
                       a_index[i] = off[0];
                       b_index[i] = off[1];
                     });
  // Tasks are blocks of up to kRows rows of one output matrix: a row of b fetched from memory then serves kRows
  // output rows from cache, which cuts the traffic on b by that factor on large matrices.
  constexpr int64_t kRows = 8;
  int64_t blocks_per_batch = (M + kRows - 1) / kRows;
  int64_t min_blocks = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, kRows * K * N));
  parallel_for(
      batches * blocks_per_batch, threads,
      [&](int64_t begin, int64_t end) {
        for (int64_t task = begin; task < end; ++task) {
          int64_t batch = task / blocks_per_batch, i0 = (task % blocks_per_batch) * kRows;
          int64_t rows = std::min(kRows, M - i0);
          const T* a_rows = a + (a_index[batch] * M + i0) * K;
          const T* b_mat = b + b_index[batch] * K * N;
          T* out_rows = out + (batch * M + i0) * N;
          std::fill(out_rows, out_rows + rows * N, T{0});
          for (int64_t k = 0; k < K; ++k) {
            const T* b_row = b_mat + k * N;
            for (int64_t i = 0; i < rows; ++i) {
              const T a_ik = a_rows[i * K + k];
              T* out_row = out_rows + i * N;
              for (int64_t j = 0; j < N; ++j) out_row[j] += a_ik * b_row[j];
            }
          }
        }
      },
      min_blocks);
}

// Shapes of a numpy matmul: 1-D operands are promoted to matrices (a: [1, K], b: [K, 1]) and the promoted dims are
// dropped from the result; batch dims broadcast.
struct MatMulShapes {
  Shape a_batch, b_batch, out_batch, out;
  int64_t M = 0, K = 0, N = 0;
};

inline MatMulShapes matmul_shapes(const KernelContext& ctx, const Shape& a, const Shape& b) {
  if (a.empty() || b.empty())
    ctx.fail("MatMul inputs must have rank >= 1, got " + shape_str(a) + " and " + shape_str(b));
  MatMulShapes s;
  Shape a2 = a.size() == 1 ? Shape{1, a[0]} : a;
  Shape b2 = b.size() == 1 ? Shape{b[0], 1} : b;
  s.M = a2[a2.size() - 2];
  s.K = a2.back();
  s.N = b2.back();
  if (b2[b2.size() - 2] != s.K) ctx.fail("MatMul inner dimensions differ: " + shape_str(a) + " x " + shape_str(b));
  s.a_batch.assign(a2.begin(), a2.end() - 2);
  s.b_batch.assign(b2.begin(), b2.end() - 2);
  s.out_batch = broadcast_shapes(ctx, {s.a_batch, s.b_batch});
  s.out = s.out_batch;
  if (a.size() > 1) s.out.push_back(s.M);
  if (b.size() > 1) s.out.push_back(s.N);
  return s;
}

}  // namespace quac::ops
