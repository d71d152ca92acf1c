// Binary arithmetic with multidirectional broadcasting: Add Sub Mul Div Pow Mod BitShift BitwiseAnd/Or/Xor.
#include <atomic>
#include <cmath>
#include <limits>

#include "ops/elementwise_util.h"

namespace quac::ops {
namespace {

// Both operands have one type, which the output keeps. Dispatch is a macro argument so each op picks its type set.
#define QUAC_SAME_TYPE_BINARY(DISPATCH, ctx, op)                                                                   \
  do {                                                                                                             \
    auto operands = binary_operands(ctx);                                                                          \
    const Tensor &a = operands[0], &b = operands[1];                                                               \
    if (a.dtype() != b.dtype())                                                                                    \
      (ctx).fail(std::string("operand types differ: ") + dtype_name(a.dtype()) + " and " + dtype_name(b.dtype())); \
    Shape out_shape = broadcast_shapes(ctx, {a.shape(), b.shape()});                                               \
    Tensor& y = (ctx).allocate_output(0, a.dtype(), out_shape);                                                    \
    DISPATCH(a.dtype(), ctx, binary_loop<T, T, T>(ctx, a, b, y, [&](compute_t<T> u, compute_t<T> v) {              \
               return static_cast<compute_t<T>>(op(u, v));                                                         \
             }));                                                                                                  \
  } while (0)

void add(KernelContext& ctx) {
  QUAC_SAME_TYPE_BINARY(QUAC_EW_DISPATCH_NUMERIC, ctx, [](auto u, auto v) { return wrap_add(u, v); });
}
void sub(KernelContext& ctx) {
  QUAC_SAME_TYPE_BINARY(QUAC_EW_DISPATCH_NUMERIC, ctx, [](auto u, auto v) { return wrap_sub(u, v); });
}
void mul(KernelContext& ctx) {
  QUAC_SAME_TYPE_BINARY(QUAC_EW_DISPATCH_NUMERIC, ctx, [](auto u, auto v) { return wrap_mul(u, v); });
}

// Integer division truncates toward zero (C semantics, as the ONNX reference does); division by zero is an error
// instead of a crash.
void div_op(KernelContext& ctx) {
  std::atomic<bool> by_zero{false};
  auto op = [&](auto u, auto v) {
    using C = decltype(u);
    if constexpr (std::is_integral_v<C>) {
      if (v == 0) {
        by_zero = true;
        return C{0};
      }
      if constexpr (std::is_signed_v<C>)
        if (v == -1) return wrap_sub(C{0}, u);  // the most negative value / -1 overflows: wrap
      return static_cast<C>(u / v);
    } else {
      return u / v;
    }
  };
  QUAC_SAME_TYPE_BINARY(QUAC_EW_DISPATCH_NUMERIC, ctx, op);
  if (by_zero) ctx.fail("integer division by zero");
}

// Mod: fmod=0 gives the sign of the divisor (Python/numpy %), fmod=1 the sign of the dividend (C fmod).
void mod(KernelContext& ctx) {
  const bool c_fmod = ctx.node().attr_int("fmod", 0) != 0;
  std::atomic<bool> by_zero{false};
  auto op = [&](auto u, auto v) {
    using C = decltype(u);
    if constexpr (std::is_integral_v<C>) {
      if (v == 0) {
        by_zero = true;
        return C{0};
      }
      if constexpr (std::is_signed_v<C>)
        if (v == -1) return C{0};
      C r = static_cast<C>(u % v);
      if constexpr (std::is_signed_v<C>)
        if (!c_fmod && r != 0 && ((r < 0) != (v < 0))) r = static_cast<C>(r + v);
      return r;
    } else {
      C r = std::fmod(u, v);
      if (!c_fmod && r != 0 && ((r < 0) != (v < 0))) r += v;
      return r;
    }
  };
  QUAC_SAME_TYPE_BINARY(QUAC_EW_DISPATCH_NUMERIC, ctx, op);
  if (by_zero) ctx.fail("integer modulo by zero");
}

void bitwise_and(KernelContext& ctx) {
  QUAC_SAME_TYPE_BINARY(QUAC_EW_DISPATCH_INT, ctx, [](auto u, auto v) { return u & v; });
}
void bitwise_or(KernelContext& ctx) {
  QUAC_SAME_TYPE_BINARY(QUAC_EW_DISPATCH_INT, ctx, [](auto u, auto v) { return u | v; });
}
void bitwise_xor(KernelContext& ctx) {
  QUAC_SAME_TYPE_BINARY(QUAC_EW_DISPATCH_INT, ctx, [](auto u, auto v) { return u ^ v; });
}

void bit_shift(KernelContext& ctx) {
  const std::string direction = ctx.node().attr_string("direction", "");
  if (direction != "LEFT" && direction != "RIGHT") ctx.fail("direction must be LEFT or RIGHT, got '" + direction + "'");
  const bool left = direction == "LEFT";
  auto op = [=](auto u, auto v) {
    using C = decltype(u);
    // Shifting by the bit width or more is undefined in C++; every bit is shifted out.
    if (v >= static_cast<C>(sizeof(C) * 8)) return C{0};
    return static_cast<C>(left ? u << v : u >> v);
  };
#define QUAC_UINT_DISPATCH(dtype, c, ...)   \
  switch (dtype) {                          \
    QUAC_EW_CASES_UNSIGNED_INT(__VA_ARGS__) \
    QUAC_EW_DEFAULT(dtype, c)               \
  }
  QUAC_SAME_TYPE_BINARY(QUAC_UINT_DISPATCH, ctx, op);
#undef QUAC_UINT_DISPATCH
}

// base^exponent in the base's type. Integer powers are exact (by squaring, wrapping like numpy); anything involving
// a float is computed in double and converted back.
template <typename CA, typename CB>
CA power(CA base, CB exponent) {
  if constexpr (std::is_integral_v<CA> && std::is_integral_v<CB>) {
    if constexpr (std::is_signed_v<CB>) {
      if (exponent < 0) {
        if (base == 1) return CA{1};
        if constexpr (std::is_signed_v<CA>)
          if (base == -1) return (exponent % 2) ? CA{-1} : CA{1};
        return CA{0};
      }
    }
    CA result = 1, b = base;
    for (auto e = exponent; e > 0; e /= 2) {
      if (e % 2) result = wrap_mul(result, b);
      b = wrap_mul(b, b);
    }
    return result;
  } else {
    double r = std::pow(static_cast<double>(base), static_cast<double>(exponent));
    if constexpr (std::is_integral_v<CA>) {
      if (!std::isfinite(r)) return CA{0};
      if (r <= static_cast<double>(std::numeric_limits<CA>::lowest())) return std::numeric_limits<CA>::lowest();
      if (r >= static_cast<double>(std::numeric_limits<CA>::max())) return std::numeric_limits<CA>::max();
    }
    return static_cast<CA>(r);
  }
}

// Pow: the exponent may have a different type from the base (opset 12+); the output has the base's type.
void pow_op(KernelContext& ctx) {
  auto operands = binary_operands(ctx);
  const Tensor &a = operands[0], &b = operands[1];
  Shape out_shape = broadcast_shapes(ctx, {a.shape(), b.shape()});
  Tensor& y = ctx.allocate_output(0, a.dtype(), out_shape);
  QUAC_EW_DISPATCH_NUMERIC(a.dtype(), ctx, {
    using TA = T;
    QUAC_EW_DISPATCH_NUMERIC(b.dtype(), ctx,
                             binary_loop<TA, T, TA>(ctx, a, b, y, [](auto u, auto v) { return power(u, v); }));
  });
}

}  // namespace

QUAC_REGISTER_REFERENCE_OP("Add", add);
QUAC_REGISTER_REFERENCE_OP("Sub", sub);
QUAC_REGISTER_REFERENCE_OP("Mul", mul);
QUAC_REGISTER_REFERENCE_OP("Div", div_op);
QUAC_REGISTER_REFERENCE_OP("Mod", mod);
QUAC_REGISTER_REFERENCE_OP("Pow", pow_op);
QUAC_REGISTER_REFERENCE_OP("BitShift", bit_shift);
QUAC_REGISTER_REFERENCE_OP("BitwiseAnd", bitwise_and);
QUAC_REGISTER_REFERENCE_OP("BitwiseOr", bitwise_or);
QUAC_REGISTER_REFERENCE_OP("BitwiseXor", bitwise_xor);

}  // namespace quac::ops
