// Elementwise math with one input: Abs Neg Exp Log Sqrt Reciprocal Floor Ceil Round Sign, trigonometric and
// hyperbolic functions, Erf, IsNaN, IsInf, Not, BitwiseNot.
#include <cmath>
#include <limits>

#include "ops/elementwise_util.h"

namespace quac::ops {
namespace {

// Applies op to every element of input 0; the output has the input's type. Float-only ops use the float dispatch.
template <typename Op>
void run_float_unary(KernelContext& ctx, Op op) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
  QUAC_EW_DISPATCH_FLOAT(x.dtype(), ctx,
                         unary_loop<T, T>(ctx, x, y, [&](compute_t<T> v) { return static_cast<compute_t<T>>(op(v)); }));
}

template <typename Op>
void run_signed_unary(KernelContext& ctx, Op op) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
  QUAC_EW_DISPATCH_SIGNED(
      x.dtype(), ctx, unary_loop<T, T>(ctx, x, y, [&](compute_t<T> v) { return static_cast<compute_t<T>>(op(v)); }));
}

template <typename Op>
void run_numeric_unary(KernelContext& ctx, Op op) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
  QUAC_EW_DISPATCH_NUMERIC(
      x.dtype(), ctx, unary_loop<T, T>(ctx, x, y, [&](compute_t<T> v) { return static_cast<compute_t<T>>(op(v)); }));
}

template <typename T>
T abs_value(T v) {
  if constexpr (std::is_unsigned_v<T>) {
    return v;
  } else if constexpr (std::is_integral_v<T>) {
    return v < 0 ? wrap_sub(T{0}, v) : v;  // the most negative value wraps to itself, as in numpy
  } else {
    return std::fabs(v);
  }
}

template <typename T>
T sign_value(T v) {
  if constexpr (std::is_unsigned_v<T>) {
    return v > 0 ? T{1} : T{0};
  } else {
    return v > 0 ? T{1} : v < 0 ? T{-1} : v;  // keeps 0, -0 and NaN
  }
}

#define QUAC_FLOAT_UNARY(name, expr) \
  QUAC_EW_REGISTER(name, [](KernelContext& ctx) { run_float_unary(ctx, [](auto v) { return expr; }); })

QUAC_FLOAT_UNARY("Exp", std::exp(v));
QUAC_FLOAT_UNARY("Log", std::log(v));
QUAC_FLOAT_UNARY("Sqrt", std::sqrt(v));
QUAC_FLOAT_UNARY("Reciprocal", decltype(v){1} / v);
QUAC_FLOAT_UNARY("Floor", std::floor(v));
QUAC_FLOAT_UNARY("Ceil", std::ceil(v));
QUAC_FLOAT_UNARY("Round", std::nearbyint(v));  // the default rounding mode rounds halves to even, like numpy
QUAC_FLOAT_UNARY("Sin", std::sin(v));
QUAC_FLOAT_UNARY("Cos", std::cos(v));
QUAC_FLOAT_UNARY("Tan", std::tan(v));
QUAC_FLOAT_UNARY("Asin", std::asin(v));
QUAC_FLOAT_UNARY("Acos", std::acos(v));
QUAC_FLOAT_UNARY("Atan", std::atan(v));
QUAC_FLOAT_UNARY("Sinh", std::sinh(v));
QUAC_FLOAT_UNARY("Cosh", std::cosh(v));
QUAC_FLOAT_UNARY("Asinh", std::asinh(v));
QUAC_FLOAT_UNARY("Acosh", std::acosh(v));
QUAC_FLOAT_UNARY("Atanh", std::atanh(v));
#undef QUAC_FLOAT_UNARY

QUAC_EW_REGISTER("Abs", [](KernelContext& ctx) { run_numeric_unary(ctx, [](auto v) { return abs_value(v); }); });
QUAC_EW_REGISTER("Sign", [](KernelContext& ctx) { run_numeric_unary(ctx, [](auto v) { return sign_value(v); }); });
QUAC_EW_REGISTER("Neg",
                 [](KernelContext& ctx) { run_signed_unary(ctx, [](auto v) { return wrap_sub(decltype(v){0}, v); }); });

// Erf accepts integer inputs from opset 9 (computed in double, then converted back).
QUAC_EW_REGISTER("Erf", [](KernelContext& ctx) {
  run_numeric_unary(ctx, [](auto v) {
    if constexpr (std::is_floating_point_v<decltype(v)>)
      return std::erf(v);
    else
      return std::erf(static_cast<double>(v));
  });
});

QUAC_EW_REGISTER("IsNaN", [](KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.allocate_output(0, DataType::kBool, x.shape());
  QUAC_EW_DISPATCH_FLOAT(x.dtype(), ctx, unary_loop<T, bool>(ctx, x, y, [](auto v) { return std::isnan(v); }));
});

QUAC_EW_REGISTER("IsInf", [](KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const bool negative = ctx.node().attr_int("detect_negative", 1) != 0;
  const bool positive = ctx.node().attr_int("detect_positive", 1) != 0;
  Tensor& y = ctx.allocate_output(0, DataType::kBool, x.shape());
  QUAC_EW_DISPATCH_FLOAT(x.dtype(), ctx, unary_loop<T, bool>(ctx, x, y, [&](auto v) {
                           return std::isinf(v) && (v > 0 ? positive : negative);
                         }));
});

QUAC_EW_REGISTER("Not", [](KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  if (x.dtype() != DataType::kBool) ctx.fail(std::string("Not expects bool, got ") + dtype_name(x.dtype()));
  Tensor& y = ctx.allocate_output(0, DataType::kBool, x.shape());
  unary_loop<bool, bool>(ctx, x, y, [](bool v) { return !v; });
});

QUAC_EW_REGISTER("BitwiseNot", [](KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
  QUAC_EW_DISPATCH_INT(x.dtype(), ctx, unary_loop<T, T>(ctx, x, y, [](T v) { return static_cast<T>(~v); }));
});

}  // namespace
}  // namespace quac::ops
