// Variadic elementwise ops over 1..N broadcast inputs: Sum Mean Max Min.
#include <cmath>
#include <vector>

#include "ops/elementwise_util.h"

namespace quac::ops {
namespace {

template <typename C>
bool is_nan_value(C v) {
  if constexpr (std::is_floating_point_v<C>)
    return std::isnan(v);
  else
    return false;
}

// Folds the inputs left to right into the output, rounding to the element type after each step as numpy does.
// Before opset 8 the inputs had to have one shape; broadcasting them anyway is a superset.
template <typename Op>
void run_variadic(KernelContext& ctx, Op op, bool mean) {
  std::vector<Tensor> ins;
  std::vector<Shape> shapes;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    ins.push_back(ctx.in(i));
    shapes.push_back(ins.back().shape());
    if (ins.back().dtype() != ins[0].dtype())
      ctx.fail(std::string("input types differ: ") + dtype_name(ins[0].dtype()) + " and " +
               dtype_name(ins.back().dtype()));
  }
  if (ins.empty()) ctx.fail("needs at least one input");
  const DataType type = ins[0].dtype();
  Shape out_shape = broadcast_shapes(ctx, shapes);
  Tensor& y = ctx.allocate_output(0, type, out_shape);
  QUAC_EW_DISPATCH_NUMERIC(type, ctx, {
    using C = compute_t<T>;
    auto step = [&](auto u, auto v) { return static_cast<C>(op(u, v)); };
    if (ins.size() == 1) {
      binary_loop<T, T, T>(ctx, ins[0], ins[0], y, [](C u, C) { return u; });
    } else {
      binary_loop<T, T, T>(ctx, ins[0], ins[1], y, step);
      // Reading and writing y at the same index is safe: each element is read before it is written.
      for (size_t i = 2; i < ins.size(); ++i) binary_loop<T, T, T>(ctx, y, ins[i], y, step);
    }
    if (mean) {
      const C n = static_cast<C>(ins.size());
      unary_loop<T, T>(ctx, y, y, [=](C u) { return static_cast<C>(u / n); });
    }
  });
}

void sum(KernelContext& ctx) {
  run_variadic(
      ctx, [](auto u, auto v) { return wrap_add(u, v); }, false);
}
void mean(KernelContext& ctx) {
  run_variadic(
      ctx, [](auto u, auto v) { return wrap_add(u, v); }, true);
}
// NaN propagates like numpy.maximum / numpy.minimum.
void max_op(KernelContext& ctx) {
  run_variadic(
      ctx, [](auto u, auto v) { return is_nan_value(u)   ? u
                                       : is_nan_value(v) ? v
                                       : u > v           ? u
                                                         : v; }, false);
}
void min_op(KernelContext& ctx) {
  run_variadic(
      ctx, [](auto u, auto v) { return is_nan_value(u)   ? u
                                       : is_nan_value(v) ? v
                                       : u < v           ? u
                                                         : v; }, false);
}

}  // namespace

QUAC_REGISTER_REFERENCE_OP("Sum", sum);
QUAC_REGISTER_REFERENCE_OP("Mean", mean);
QUAC_REGISTER_REFERENCE_OP("Max", max_op);
QUAC_REGISTER_REFERENCE_OP("Min", min_op);

}  // namespace quac::ops
