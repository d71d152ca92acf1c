// MatMul (numpy semantics: 1-D promotion, batched, broadcast batch dims) and MatMulInteger.
#include "ops/kernel.h"
#include "ops/op_util.h"
#include "ops/quant_util.h"

namespace quac::ops {
namespace {

void matmul(KernelContext& ctx) {
  const Tensor& a_in = ctx.in(0);
  const Tensor& b_in = ctx.in(1);
  if (a_in.dtype() != b_in.dtype())
    ctx.fail(std::string("inputs have different types ") + dtype_name(a_in.dtype()) + " and " +
             dtype_name(b_in.dtype()));
  MatMulShapes s = matmul_shapes(ctx, a_in.shape(), b_in.shape());
  DataType type = a_in.dtype();
  Tensor& out = ctx.allocate_output(0, type, s.out);
  // float16/bfloat16 are multiplied in float and rounded once at the end.
  Tensor a = widen_half(a_in), b = widen_half(b_in);
  Tensor result = is_half(type) ? Tensor(DataType::kFloat, s.out) : out;
  QUAC_DISPATCH_NUMERIC(a.dtype(), ctx, {
    batched_matmul<T>(a.data<T>(), s.a_batch, b.data<T>(), s.b_batch, s.out_batch, s.M, s.K, s.N, result.data<T>(),
                      ctx.num_threads());
  });
  if (is_half(type)) narrow_half(result, out);
}

// MatMulInteger: int32 product of (a - a_zero_point) and (b - b_zero_point). a's zero point is per tensor or per row
// (shape [M] or [..., M, 1]); b's is per tensor or per column (shape [N] or [..., 1, N]).
void matmul_integer(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  if (!is_quantized_8bit(a.dtype()) || !is_quantized_8bit(b.dtype()))
    ctx.fail(std::string("inputs must be uint8 or int8, got ") + dtype_name(a.dtype()) + " and " +
             dtype_name(b.dtype()));
  MatMulShapes s = matmul_shapes(ctx, a.shape(), b.shape());
  Tensor a_zp, b_zp;
  const Tensor* a_zp_in = ctx.input(2);
  const Tensor* b_zp_in = ctx.input(3);
  // A 1-D zero point holds one value per row of a (column of b); give it the trailing unit dim that lets it broadcast.
  if (a_zp_in) a_zp = a_zp_in->rank() == 1 && a.rank() >= 2 ? a_zp_in->reshaped({a_zp_in->numel(), 1}) : *a_zp_in;
  if (b_zp_in) b_zp = b_zp_in->rank() == 1 && b.rank() >= 2 ? b_zp_in->reshaped({1, b_zp_in->numel()}) : *b_zp_in;
  Tensor a32 = subtract_zero_point(ctx, a, a_zp_in ? &a_zp : nullptr);
  Tensor b32 = subtract_zero_point(ctx, b, b_zp_in ? &b_zp : nullptr);
  Tensor& out = ctx.allocate_output(0, DataType::kInt32, s.out);
  batched_matmul<int32_t>(a32.data<int32_t>(), s.a_batch, b32.data<int32_t>(), s.b_batch, s.out_batch, s.M, s.K, s.N,
                          out.data<int32_t>(), ctx.num_threads());
}

QUAC_REGISTER_REFERENCE_OP("MatMul", matmul);
QUAC_REGISTER_REFERENCE_OP("MatMulInteger", matmul_integer);

}  // namespace
}  // namespace quac::ops
