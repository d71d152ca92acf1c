// Shared machinery of the elementwise reference kernels: 16-bit float load/store, type dispatch including
// float16/bfloat16, and parallel unary / broadcasting N-ary loops.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "core/parallel.h"
#include "ops/op_util.h"

namespace quac::ops {

// 16-bit floats are computed in float and rounded back when stored.
template <typename T>
struct ComputeOf {
  using type = T;
};
template <>
struct ComputeOf<Float16> {
  using type = float;
};
template <>
struct ComputeOf<BFloat16> {
  using type = float;
};
template <typename T>
using compute_t = typename ComputeOf<T>::type;

template <typename T>
inline constexpr bool is_half_v = std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>;

template <typename T>
inline compute_t<T> load(const T& v) {
  if constexpr (std::is_same_v<T, Float16>)
    return half_to_float(v.bits);
  else if constexpr (std::is_same_v<T, BFloat16>)
    return bfloat16_to_float(v.bits);
  else
    return v;
}

template <typename T, typename C>
inline T store(C v) {
  if constexpr (std::is_same_v<T, Float16>)
    return Float16{float_to_half(static_cast<float>(v))};
  else if constexpr (std::is_same_v<T, BFloat16>)
    return BFloat16{float_to_bfloat16(static_cast<float>(v))};
  else
    return static_cast<T>(v);
}

// Integer arithmetic that wraps like numpy instead of being undefined on signed overflow.
template <typename T>
inline T wrap_add(T a, T b) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
  } else {
    return a + b;
  }
}
template <typename T>
inline T wrap_sub(T a, T b) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) - static_cast<U>(b)));
  } else {
    return a - b;
  }
}
template <typename T>
inline T wrap_mul(T a, T b) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    using U = std::make_unsigned_t<T>;
    // uint16 * uint16 promotes to (signed) int and may overflow: multiply in a type at least as wide as unsigned.
    using W = std::conditional_t<(sizeof(U) < sizeof(unsigned)), unsigned, U>;
    return static_cast<T>(static_cast<U>(static_cast<W>(static_cast<U>(a)) * static_cast<W>(static_cast<U>(b))));
  } else {
    return a * b;
  }
}

// Elements per thread below which a loop is not worth splitting.
inline constexpr int64_t kElementwiseGrain = 1 << 14;

// y[i] = op(x[i]) with 16-bit floats loaded/stored through float.
template <typename I, typename O, typename Op>
void unary_loop(const KernelContext& ctx, const Tensor& x, Tensor& y, Op op) {
  const I* px = x.data<I>();
  O* py = y.data<O>();
  parallel_for(
      x.numel(), ctx.num_threads(),
      [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) py[i] = store<O>(op(load(px[i])));
      },
      kElementwiseGrain);
}

// Broadcast iteration over the output in contiguous runs: fn(out_offset, len, offsets, steps) where offsets[k] is
// input k's element offset at out_offset and steps[k] its stride along the run (0 when broadcast). Adjacent
// dimensions are merged first so same-shape operands give one long run. Work is split over threads by output range,
// so each element is computed the same way whatever the thread count.
template <size_t N, typename Fn>
void for_each_run(const KernelContext& ctx, const Shape& out, const std::array<Shape, N>& ins, Fn&& fn) {
  int64_t numel = shape_numel(out);
  if (numel == 0) return;
  std::vector<int64_t> dims;
  std::array<std::vector<int64_t>, N> strides;
  std::array<std::vector<int64_t>, N> full;
  for (size_t k = 0; k < N; ++k) full[k] = broadcast_strides(ins[k], out);
  for (size_t d = 0; d < out.size(); ++d) {
    if (out[d] == 1) continue;
    bool merge = !dims.empty();
    for (size_t k = 0; k < N && merge; ++k) merge = strides[k].back() == full[k][d] * out[d];
    if (merge) {
      dims.back() *= out[d];
      for (size_t k = 0; k < N; ++k) strides[k].back() = full[k][d];
    } else {
      dims.push_back(out[d]);
      for (size_t k = 0; k < N; ++k) strides[k].push_back(full[k][d]);
    }
  }
  if (dims.empty()) {
    dims.push_back(1);
    for (size_t k = 0; k < N; ++k) strides[k].push_back(0);
  }
  const int64_t inner = dims.back();
  std::array<int64_t, N> steps;
  for (size_t k = 0; k < N; ++k) steps[k] = strides[k].back();
  parallel_for(
      numel, ctx.num_threads(),
      [&](int64_t begin, int64_t end) {
        std::array<int64_t, N> offs;
        for (int64_t i = begin; i < end;) {
          int64_t row = i / inner, col = i % inner, len = std::min(inner - col, end - i);
          for (size_t k = 0; k < N; ++k) offs[k] = col * steps[k];
          for (size_t d = dims.size() - 1; d-- > 0 && row > 0;) {
            int64_t r = row % dims[d];
            row /= dims[d];
            for (size_t k = 0; k < N; ++k) offs[k] += r * strides[k][d];
          }
          fn(i, len, offs, steps);
          i += len;
        }
      },
      kElementwiseGrain);
}

// out = op(a, b) with multidirectional broadcasting; `out` must already have the broadcast shape.
template <typename A, typename B, typename O, typename Op>
void binary_loop(const KernelContext& ctx, const Tensor& a, const Tensor& b, Tensor& out, Op op) {
  const A* pa = a.data<A>();
  const B* pb = b.data<B>();
  O* po = out.data<O>();
  for_each_run<2>(ctx, out.shape(), {a.shape(), b.shape()},
                  [&](int64_t o, int64_t len, const std::array<int64_t, 2>& off, const std::array<int64_t, 2>& st) {
                    const A* x = pa + off[0];
                    const B* y = pb + off[1];
                    O* z = po + o;
                    // Contiguous and scalar-operand runs get their own loops so the compiler can vectorise them.
                    if (st[0] == 1 && st[1] == 1) {
                      for (int64_t j = 0; j < len; ++j) z[j] = store<O>(op(load(x[j]), load(y[j])));
                    } else if (st[0] == 1 && st[1] == 0) {
                      const auto v = load(y[0]);
                      for (int64_t j = 0; j < len; ++j) z[j] = store<O>(op(load(x[j]), v));
                    } else if (st[0] == 0 && st[1] == 1) {
                      const auto u = load(x[0]);
                      for (int64_t j = 0; j < len; ++j) z[j] = store<O>(op(u, load(y[j])));
                    } else {
                      for (int64_t j = 0; j < len; ++j) z[j] = store<O>(op(load(x[j * st[0]]), load(y[j * st[1]])));
                    }
                  });
}

// Inputs 0 and 1 of a binary op. Before opset 7, `broadcast=1` with `axis` aligned input 1's dimensions to input 0
// starting at `axis`; this reshapes input 1 so numpy broadcasting gives the same result (without `axis` the legacy
// rule is already numpy's suffix alignment).
inline std::array<Tensor, 2> binary_operands(const KernelContext& ctx) {
  Tensor a = ctx.in(0), b = ctx.in(1);
  if (ctx.opset() < 7 && ctx.node().attr_int("broadcast", 0) != 0 && ctx.node().has("axis")) {
    int64_t axis = ctx.node().attr_int("axis", 0);
    if (axis < 0) axis += a.rank();
    if (axis < 0 || axis + b.rank() > a.rank())
      ctx.fail("legacy broadcast axis " + std::to_string(axis) + " does not fit " + shape_str(b.shape()) + " into " +
               shape_str(a.shape()));
    Shape s(static_cast<size_t>(a.rank()), 1);
    for (int64_t i = 0; i < b.rank(); ++i) s[static_cast<size_t>(axis + i)] = b.dim(i);
    b = b.reshaped(s);
  }
  return {a, b};
}

}  // namespace quac::ops

// QUAC_REGISTER_REFERENCE_OP for a lambda whose body has top-level commas (template argument lists).
#define QUAC_EW_REGISTER(op, ...) QUAC_REGISTER_REFERENCE_OP(op, (__VA_ARGS__))

// Dispatch including the 16-bit float storage types (the body converts with load/store).
#define QUAC_EW_CASES_FLOAT(...)                             \
  QUAC_DISPATCH_CASE(kFloat, float, __VA_ARGS__)             \
  QUAC_DISPATCH_CASE(kDouble, double, __VA_ARGS__)           \
  QUAC_DISPATCH_CASE(kFloat16, ::quac::Float16, __VA_ARGS__) \
  QUAC_DISPATCH_CASE(kBFloat16, ::quac::BFloat16, __VA_ARGS__)
#define QUAC_EW_CASES_SIGNED_INT(...)              \
  QUAC_DISPATCH_CASE(kInt8, int8_t, __VA_ARGS__)   \
  QUAC_DISPATCH_CASE(kInt16, int16_t, __VA_ARGS__) \
  QUAC_DISPATCH_CASE(kInt32, int32_t, __VA_ARGS__) \
  QUAC_DISPATCH_CASE(kInt64, int64_t, __VA_ARGS__)
#define QUAC_EW_CASES_UNSIGNED_INT(...)              \
  QUAC_DISPATCH_CASE(kUInt8, uint8_t, __VA_ARGS__)   \
  QUAC_DISPATCH_CASE(kUInt16, uint16_t, __VA_ARGS__) \
  QUAC_DISPATCH_CASE(kUInt32, uint32_t, __VA_ARGS__) \
  QUAC_DISPATCH_CASE(kUInt64, uint64_t, __VA_ARGS__)
#define QUAC_EW_DEFAULT(dtype, ctx) \
  default:                          \
    (ctx).fail(std::string("unsupported element type ") + ::quac::dtype_name(dtype));

#define QUAC_EW_DISPATCH_FLOAT(dtype, ctx, ...) \
  switch (dtype) {                              \
    QUAC_EW_CASES_FLOAT(__VA_ARGS__)            \
    QUAC_EW_DEFAULT(dtype, ctx)                 \
  }
#define QUAC_EW_DISPATCH_SIGNED(dtype, ctx, ...) \
  switch (dtype) {                               \
    QUAC_EW_CASES_FLOAT(__VA_ARGS__)             \
    QUAC_EW_CASES_SIGNED_INT(__VA_ARGS__)        \
    QUAC_EW_DEFAULT(dtype, ctx)                  \
  }
#define QUAC_EW_DISPATCH_NUMERIC(dtype, ctx, ...) \
  switch (dtype) {                                \
    QUAC_EW_CASES_FLOAT(__VA_ARGS__)              \
    QUAC_EW_CASES_SIGNED_INT(__VA_ARGS__)         \
    QUAC_EW_CASES_UNSIGNED_INT(__VA_ARGS__)       \
    QUAC_EW_DEFAULT(dtype, ctx)                   \
  }
#define QUAC_EW_DISPATCH_INT(dtype, ctx, ...) \
  switch (dtype) {                            \
    QUAC_EW_CASES_SIGNED_INT(__VA_ARGS__)     \
    QUAC_EW_CASES_UNSIGNED_INT(__VA_ARGS__)   \
    QUAC_EW_DEFAULT(dtype, ctx)               \
  }
// Numeric plus bool (Cast, Equal, Where-like data movement of arithmetic types).
#define QUAC_EW_DISPATCH_ALL(dtype, ctx, ...)    \
  switch (dtype) {                               \
    QUAC_EW_CASES_FLOAT(__VA_ARGS__)             \
    QUAC_EW_CASES_SIGNED_INT(__VA_ARGS__)        \
    QUAC_EW_CASES_UNSIGNED_INT(__VA_ARGS__)      \
    QUAC_DISPATCH_CASE(kBool, bool, __VA_ARGS__) \
    QUAC_EW_DEFAULT(dtype, ctx)                  \
  }
