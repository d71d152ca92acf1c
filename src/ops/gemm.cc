// Gemm: Y = alpha * op(A) * op(B) + beta * C, with op = optional transpose and C broadcast to [M, N].
#include "ops/kernel.h"
#include "ops/op_util.h"
#include "ops/quant_util.h"

namespace quac::ops {
namespace {

// Row-major transpose of a rows x cols matrix. Transposed operands are materialised so the product runs through the
// one i-k-j loop (contiguous innermost access); the copy costs O(MK) against the product's O(MKN).
template <typename T>
std::vector<T> transposed(const T* m, int64_t rows, int64_t cols) {
  std::vector<T> t(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) t[c * rows + r] = m[r * cols + c];
  return t;
}

template <typename T>
void gemm_typed(KernelContext& ctx, const Tensor& a, const Tensor& b, const Tensor* c, Tensor& y, bool trans_a,
                bool trans_b, float alpha, float beta, int64_t M, int64_t K, int64_t N) {
  std::vector<T> a_t, b_t;
  const T* a_data = a.data<T>();
  const T* b_data = b.data<T>();
  if (trans_a) {
    a_t = transposed(a_data, K, M);
    a_data = a_t.data();
  }
  if (trans_b) {
    b_t = transposed(b_data, N, K);
    b_data = b_t.data();
  }
  T* out = y.data<T>();
  batched_matmul<T>(a_data, {}, b_data, {}, {}, M, K, N, out, ctx.num_threads());

  // Floating types scale in T like the product; integer types scale in double (alpha/beta are float attributes)
  // so that e.g. alpha = 0.5 is not truncated to 0 before it is applied.
  using Scale = std::conditional_t<std::is_floating_point_v<T>, T, double>;
  const Scale alpha_s = static_cast<Scale>(alpha), beta_s = static_cast<Scale>(beta);
  const T* c_data = c ? c->data<T>() : nullptr;
  std::vector<int64_t> c_strides = c ? broadcast_strides(c->shape(), {M, N}) : std::vector<int64_t>{0, 0};
  parallel_for(M, ctx.num_threads(), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      T* row = out + i * N;
      for (int64_t j = 0; j < N; ++j) {
        Scale v = alpha_s * static_cast<Scale>(row[j]);
        if (c_data) v += beta_s * static_cast<Scale>(c_data[i * c_strides[0] + j * c_strides[1]]);
        row[j] = static_cast<T>(v);
      }
    }
  });
}

void gemm(KernelContext& ctx) {
  const ir::Node& node = ctx.node();
  const Tensor& a_in = ctx.in(0);
  const Tensor& b_in = ctx.in(1);
  const Tensor* c_in = ctx.input(2);
  if (ctx.opset() < 11 && !c_in) ctx.fail("input C is required before opset 11");
  if (a_in.rank() != 2 || b_in.rank() != 2)
    ctx.fail("A and B must be 2-D, got " + shape_str(a_in.shape()) + " and " + shape_str(b_in.shape()));
  if (a_in.dtype() != b_in.dtype() || (c_in && c_in->dtype() != a_in.dtype()))
    ctx.fail(std::string("inputs must share one type, got ") + dtype_name(a_in.dtype()) + ", " +
             dtype_name(b_in.dtype()) + (c_in ? std::string(", ") + dtype_name(c_in->dtype()) : ""));
  bool trans_a = node.attr_int("transA", 0) != 0, trans_b = node.attr_int("transB", 0) != 0;
  float alpha = node.attr_float("alpha", 1.0f), beta = node.attr_float("beta", 1.0f);
  int64_t M = trans_a ? a_in.dim(1) : a_in.dim(0), K = trans_a ? a_in.dim(0) : a_in.dim(1);
  int64_t K_b = trans_b ? b_in.dim(1) : b_in.dim(0), N = trans_b ? b_in.dim(0) : b_in.dim(1);
  if (K != K_b)
    ctx.fail("inner dimensions differ: A " + shape_str(a_in.shape()) + (trans_a ? " (transposed)" : "") + ", B " +
             shape_str(b_in.shape()) + (trans_b ? " (transposed)" : ""));
  if (c_in) {
    // C broadcasts unidirectionally to [M, N]. (Before opset 7 a `broadcast` attribute had to allow that; models
    // that leave it 0 with a smaller C are accepted too, as the result is unambiguous.)
    bool ok = c_in->rank() <= 2;
    for (int64_t d = 0; ok && d < c_in->rank(); ++d) {
      int64_t want = (c_in->rank() == 2 && d == 0) ? M : N;
      ok = c_in->shape()[d] == 1 || c_in->shape()[d] == want;
    }
    if (!ok)
      ctx.fail("C of shape " + shape_str(c_in->shape()) + " does not broadcast to [" + std::to_string(M) + "," +
               std::to_string(N) + "]");
  }
  DataType type = a_in.dtype();
  Tensor& y = ctx.allocate_output(0, type, {M, N});
  Tensor a = widen_half(a_in), b = widen_half(b_in), c;
  if (c_in && beta != 0.0f) c = widen_half(*c_in);
  Tensor result = is_half(type) ? Tensor(DataType::kFloat, {M, N}) : y;
  QUAC_DISPATCH_NUMERIC(a.dtype(), ctx, {
    gemm_typed<T>(ctx, a, b, c.defined() ? &c : nullptr, result, trans_a, trans_b, alpha, beta, M, K, N);
  });
  if (is_half(type)) narrow_half(result, y);
}

QUAC_REGISTER_REFERENCE_OP("Gemm", gemm);

}  // namespace
}  // namespace quac::ops
