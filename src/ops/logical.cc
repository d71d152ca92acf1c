// Comparisons and logic with bool results: Equal Less Greater LessOrEqual GreaterOrEqual And Or Xor; and Where.
#include <string>

#include "ops/elementwise_util.h"

namespace quac::ops {
namespace {

template <typename Op>
void run_compare(KernelContext& ctx, Op op) {
  auto operands = binary_operands(ctx);
  const Tensor &a = operands[0], &b = operands[1];
  if (a.dtype() != b.dtype())
    ctx.fail(std::string("operand types differ: ") + dtype_name(a.dtype()) + " and " + dtype_name(b.dtype()));
  Shape out_shape = broadcast_shapes(ctx, {a.shape(), b.shape()});
  Tensor& y = ctx.allocate_output(0, DataType::kBool, out_shape);
  if (a.dtype() == DataType::kString) {  // Equal on strings (opset 19), harmless to support
    const std::string* pa = a.data<std::string>();
    const std::string* pb = b.data<std::string>();
    bool* py = y.data<bool>();
    for_each_broadcast(out_shape, {broadcast_strides(a.shape(), out_shape), broadcast_strides(b.shape(), out_shape)},
                       [&](int64_t i, const std::vector<int64_t>& off) { py[i] = op(pa[off[0]], pb[off[1]]); });
    return;
  }
  QUAC_EW_DISPATCH_ALL(a.dtype(), ctx,
                       binary_loop<T, T, bool>(ctx, a, b, y, [&](compute_t<T> u, compute_t<T> v) { return op(u, v); }));
}

void run_logic(KernelContext& ctx, bool (*op)(bool, bool)) {
  auto operands = binary_operands(ctx);
  const Tensor &a = operands[0], &b = operands[1];
  if (a.dtype() != DataType::kBool || b.dtype() != DataType::kBool)
    ctx.fail(std::string("expects bool operands, got ") + dtype_name(a.dtype()) + " and " + dtype_name(b.dtype()));
  Shape out_shape = broadcast_shapes(ctx, {a.shape(), b.shape()});
  Tensor& y = ctx.allocate_output(0, DataType::kBool, out_shape);
  binary_loop<bool, bool, bool>(ctx, a, b, y, op);
}

void equal(KernelContext& ctx) {
  run_compare(ctx, [](const auto& u, const auto& v) { return u == v; });
}
void less(KernelContext& ctx) {
  run_compare(ctx, [](const auto& u, const auto& v) { return u < v; });
}
void greater(KernelContext& ctx) {
  run_compare(ctx, [](const auto& u, const auto& v) { return u > v; });
}
void less_or_equal(KernelContext& ctx) {
  run_compare(ctx, [](const auto& u, const auto& v) { return u <= v; });
}
void greater_or_equal(KernelContext& ctx) {
  run_compare(ctx, [](const auto& u, const auto& v) { return u >= v; });
}

// Where(condition, X, Y): any element type; the three inputs broadcast together.
void where(KernelContext& ctx) {
  const Tensor &cond = ctx.in(0), &x = ctx.in(1), &y = ctx.in(2);
  if (cond.dtype() != DataType::kBool) ctx.fail("condition must be bool");
  if (x.dtype() != y.dtype())
    ctx.fail(std::string("X and Y types differ: ") + dtype_name(x.dtype()) + " and " + dtype_name(y.dtype()));
  Shape out_shape = broadcast_shapes(ctx, {cond.shape(), x.shape(), y.shape()});
  Tensor& out = ctx.allocate_output(0, x.dtype(), out_shape);
  const bool* pc = cond.data<bool>();
  if (x.dtype() == DataType::kString) {
    const std::string* px = x.data<std::string>();
    const std::string* py = y.data<std::string>();
    std::string* po = out.data<std::string>();
    for_each_broadcast(
        out_shape,
        {broadcast_strides(cond.shape(), out_shape), broadcast_strides(x.shape(), out_shape),
         broadcast_strides(y.shape(), out_shape)},
        [&](int64_t i, const std::vector<int64_t>& off) { po[i] = pc[off[0]] ? px[off[1]] : py[off[2]]; });
    return;
  }
  // Values are only moved, so dispatching on the element size covers every fixed-size type.
  QUAC_DISPATCH_BY_SIZE(x.dtype(), ctx, {
    const T* px = static_cast<const T*>(x.raw_data());
    const T* py = static_cast<const T*>(y.raw_data());
    T* po = static_cast<T*>(out.raw_data());
    for_each_run<3>(ctx, out_shape, {cond.shape(), x.shape(), y.shape()},
                    [&](int64_t o, int64_t len, const std::array<int64_t, 3>& off, const std::array<int64_t, 3>& st) {
                      for (int64_t j = 0; j < len; ++j)
                        po[o + j] = pc[off[0] + j * st[0]] ? px[off[1] + j * st[1]] : py[off[2] + j * st[2]];
                    });
  });
}

}  // namespace

QUAC_REGISTER_REFERENCE_OP("Equal", equal);
QUAC_REGISTER_REFERENCE_OP("Less", less);
QUAC_REGISTER_REFERENCE_OP("Greater", greater);
QUAC_REGISTER_REFERENCE_OP("LessOrEqual", less_or_equal);
QUAC_REGISTER_REFERENCE_OP("GreaterOrEqual", greater_or_equal);
QUAC_EW_REGISTER("And", [](KernelContext& ctx) { run_logic(ctx, [](bool u, bool v) { return u && v; }); });
QUAC_EW_REGISTER("Or", [](KernelContext& ctx) { run_logic(ctx, [](bool u, bool v) { return u || v; }); });
QUAC_EW_REGISTER("Xor", [](KernelContext& ctx) { run_logic(ctx, [](bool u, bool v) { return u != v; }); });
QUAC_REGISTER_REFERENCE_OP("Where", where);

}  // namespace quac::ops
