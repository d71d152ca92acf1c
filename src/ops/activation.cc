// Activation functions: Relu LeakyRelu PRelu Elu Selu Celu Sigmoid HardSigmoid HardSwish Tanh Softplus Softsign
// ThresholdedRelu Mish Shrink Clip.
#include <cmath>
#include <limits>

#include "ops/elementwise_util.h"

namespace quac::ops {
namespace {

// Float-typed activation; `make_op(node)` reads the attributes once per run and returns the element function.
template <typename Op>
void run_activation(KernelContext& ctx, Op op) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
  QUAC_EW_DISPATCH_FLOAT(x.dtype(), ctx,
                         unary_loop<T, T>(ctx, x, y, [&](compute_t<T> v) { return static_cast<compute_t<T>>(op(v)); }));
}

float attr(const KernelContext& ctx, const char* name, float default_value) {
  return ctx.node().attr_float(name, default_value);
}

template <typename C>
C softplus(C v) {
  // log(1 + e^v) without overflow for large v.
  return v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
}

void relu(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
  // Integer inputs are allowed from opset 14.
  QUAC_EW_DISPATCH_SIGNED(x.dtype(), ctx,
                          unary_loop<T, T>(ctx, x, y, [](compute_t<T> v) { return v < 0 ? compute_t<T>{0} : v; }));
}

void leaky_relu(KernelContext& ctx) {
  const float alpha = attr(ctx, "alpha", 0.01f);
  run_activation(ctx, [=](auto v) { return v < 0 ? v * alpha : v; });
}

void elu(KernelContext& ctx) {
  const float alpha = attr(ctx, "alpha", 1.0f);
  run_activation(ctx, [=](auto v) { return v < 0 ? alpha * (std::exp(v) - 1) : v; });
}

void selu(KernelContext& ctx) {
  const float alpha = attr(ctx, "alpha", 1.67326319217681884765625f);
  const float gamma = attr(ctx, "gamma", 1.05070102214813232421875f);
  run_activation(ctx, [=](auto v) { return v <= 0 ? gamma * (alpha * std::exp(v) - alpha) : gamma * v; });
}

void celu(KernelContext& ctx) {
  const float alpha = attr(ctx, "alpha", 1.0f);
  run_activation(ctx, [=](auto v) {
    using C = decltype(v);
    return std::max(C{0}, v) + std::min(C{0}, static_cast<C>(alpha * (std::exp(v / alpha) - 1)));
  });
}

void sigmoid(KernelContext& ctx) {
  run_activation(ctx, [](auto v) {
    using C = decltype(v);
    // Written so neither branch overflows exp.
    if (v >= 0) return C{1} / (C{1} + std::exp(-v));
    C e = std::exp(v);
    return e / (C{1} + e);
  });
}

void hard_sigmoid(KernelContext& ctx) {
  const float alpha = attr(ctx, "alpha", 0.2f), beta = attr(ctx, "beta", 0.5f);
  run_activation(ctx, [=](auto v) {
    using C = decltype(v);
    return std::max(C{0}, std::min(C{1}, static_cast<C>(alpha * v + beta)));
  });
}

void hard_swish(KernelContext& ctx) {
  run_activation(ctx, [](auto v) {
    using C = decltype(v);
    return v * std::max(C{0}, std::min(C{1}, static_cast<C>(v / C{6} + C{0.5})));
  });
}

void thresholded_relu(KernelContext& ctx) {
  const float alpha = attr(ctx, "alpha", 1.0f);
  run_activation(ctx, [=](auto v) { return v > alpha ? v : decltype(v){0}; });
}

// Shrink accepts every numeric type; integers are computed in double and converted back.
void shrink(KernelContext& ctx) {
  const double bias = attr(ctx, "bias", 0.0f), lambd = attr(ctx, "lambd", 0.5f);
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
  QUAC_EW_DISPATCH_NUMERIC(x.dtype(), ctx, unary_loop<T, T>(ctx, x, y, [=](compute_t<T> v) {
                             double d = static_cast<double>(v);
                             return static_cast<compute_t<T>>(d < -lambd ? d + bias : d > lambd ? d - bias : 0.0);
                           }));
}

// PRelu: slope broadcasts to the input (unidirectionally). Models exported for opset < 7 may give a per-channel
// slope of shape [C] for an input [N, C, ...]; align it to axis 1.
void prelu(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor slope = ctx.in(1);
  if (slope.rank() == 1 && x.rank() >= 2 && slope.dim(0) == x.dim(1) && slope.dim(0) != x.dim(-1) &&
      slope.dim(0) != 1) {
    Shape s(static_cast<size_t>(x.rank() - 1), 1);
    s[0] = slope.dim(0);
    slope = slope.reshaped(s);
  }
  if (slope.dtype() != x.dtype()) ctx.fail("slope type differs from input type");
  Shape out = broadcast_shapes(ctx, {x.shape(), slope.shape()});
  if (out != x.shape())
    ctx.fail("slope " + shape_str(slope.shape()) + " does not broadcast to " + shape_str(x.shape()));
  Tensor& y = ctx.allocate_output(0, x.dtype(), out);
  QUAC_EW_DISPATCH_SIGNED(x.dtype(), ctx, binary_loop<T, T, T>(ctx, x, slope, y, [](auto v, auto s) {
                            return v < 0 ? static_cast<decltype(v)>(wrap_mul(v, s)) : v;
                          }));
}

// Clip: min/max attributes before opset 11, optional inputs from 11 (an omitted bound does not clip).
void clip(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
  const Tensor* lo_t = ctx.opset() >= 11 ? ctx.input(1) : nullptr;
  const Tensor* hi_t = ctx.opset() >= 11 ? ctx.input(2) : nullptr;
  for (const Tensor* t : {lo_t, hi_t})
    if (t && (t->numel() != 1 || t->dtype() != x.dtype())) ctx.fail("min/max must be scalars of the input type");
  QUAC_EW_DISPATCH_NUMERIC(x.dtype(), ctx, {
    using C = compute_t<T>;
    C lo = std::numeric_limits<C>::lowest(), hi = std::numeric_limits<C>::max();
    if (ctx.opset() < 11) {
      if constexpr (std::is_floating_point_v<C>) {
        lo = static_cast<C>(ctx.node().attr_float("min", -std::numeric_limits<float>::max()));
        hi = static_cast<C>(ctx.node().attr_float("max", std::numeric_limits<float>::max()));
        if (!ctx.node().has("min")) lo = -std::numeric_limits<C>::infinity();
        if (!ctx.node().has("max")) hi = std::numeric_limits<C>::infinity();
      }
    }
    if (lo_t) lo = load(lo_t->data<T>()[0]);
    if (hi_t) hi = load(hi_t->data<T>()[0]);
    // When min > max every value becomes max, as the spec says (and numpy.clip does).
    unary_loop<T, T>(ctx, x, y, [=](C v) { return std::min(std::max(v, lo), hi); });
  });
}

}  // namespace

QUAC_REGISTER_REFERENCE_OP("Relu", relu);
QUAC_REGISTER_REFERENCE_OP("LeakyRelu", leaky_relu);
QUAC_REGISTER_REFERENCE_OP("PRelu", prelu);
QUAC_REGISTER_REFERENCE_OP("Elu", elu);
QUAC_REGISTER_REFERENCE_OP("Selu", selu);
QUAC_REGISTER_REFERENCE_OP("Celu", celu);
QUAC_REGISTER_REFERENCE_OP("Sigmoid", sigmoid);
QUAC_REGISTER_REFERENCE_OP("HardSigmoid", hard_sigmoid);
QUAC_REGISTER_REFERENCE_OP("HardSwish", hard_swish);
QUAC_REGISTER_REFERENCE_OP("ThresholdedRelu", thresholded_relu);
QUAC_REGISTER_REFERENCE_OP("Shrink", shrink);
QUAC_REGISTER_REFERENCE_OP("Clip", clip);
QUAC_EW_REGISTER("Tanh", [](KernelContext& ctx) { run_activation(ctx, [](auto v) { return std::tanh(v); }); });
QUAC_EW_REGISTER("Softplus", [](KernelContext& ctx) { run_activation(ctx, [](auto v) { return softplus(v); }); });
QUAC_EW_REGISTER("Softsign", [](KernelContext& ctx) {
  run_activation(ctx, [](auto v) { return v / (decltype(v){1} + std::fabs(v)); });
});
QUAC_EW_REGISTER("Mish",
                 [](KernelContext& ctx) { run_activation(ctx, [](auto v) { return v * std::tanh(softplus(v)); }); });

}  // namespace quac::ops
