// Det: determinants of the square matrices in the last two dims ([*, M, M] -> [*]).
#include <cmath>

#include "core/parallel.h"
#include "ops/kernel.h"
#include "ops/op_util.h"
#include "ops/quant_util.h"

namespace quac::ops {
namespace {

// Gaussian elimination with partial pivoting, in double whatever the input type: the determinant is the product of
// the pivots, negated once per row swap.
double determinant(std::vector<double>& m, int64_t n) {
  double det = 1.0;
  for (int64_t col = 0; col < n; ++col) {
    int64_t pivot = col;
    for (int64_t r = col + 1; r < n; ++r)
      if (std::fabs(m[r * n + col]) > std::fabs(m[pivot * n + col])) pivot = r;
    if (m[pivot * n + col] == 0.0) return 0.0;
    if (pivot != col) {
      for (int64_t c = 0; c < n; ++c) std::swap(m[col * n + c], m[pivot * n + c]);
      det = -det;
    }
    double p = m[col * n + col];
    det *= p;
    for (int64_t r = col + 1; r < n; ++r) {
      double f = m[r * n + col] / p;
      if (f == 0.0) continue;
      for (int64_t c = col + 1; c < n; ++c) m[r * n + c] -= f * m[col * n + c];
    }
  }
  return det;
}

template <typename T>
void det_typed(KernelContext& ctx, const T* x, T* y, int64_t batches, int64_t n) {
  parallel_for(batches, ctx.num_threads(), [&](int64_t begin, int64_t end) {
    std::vector<double> m(static_cast<size_t>(n * n));
    for (int64_t b = begin; b < end; ++b) {
      for (int64_t i = 0; i < n * n; ++i) m[i] = static_cast<double>(x[b * n * n + i]);
      y[b] = static_cast<T>(determinant(m, n));
    }
  });
}

void det(KernelContext& ctx) {
  const Tensor& x_in = ctx.in(0);
  if (x_in.rank() < 2 || x_in.dim(-1) != x_in.dim(-2))
    ctx.fail("input must be [*, M, M], got " + shape_str(x_in.shape()));
  if (!dtype_is_float(x_in.dtype())) ctx.fail(std::string("input must be float, got ") + dtype_name(x_in.dtype()));
  Shape out_shape(x_in.shape().begin(), x_in.shape().end() - 2);
  int64_t n = x_in.dim(-1), batches = shape_numel(out_shape);
  DataType type = x_in.dtype();
  Tensor& y = ctx.allocate_output(0, type, out_shape);
  Tensor x = widen_half(x_in);
  Tensor result = is_half(type) ? Tensor(DataType::kFloat, out_shape) : y;
  QUAC_DISPATCH_FLOAT(x.dtype(), ctx, { det_typed<T>(ctx, x.data<T>(), result.data<T>(), batches, n); });
  if (is_half(type)) narrow_half(result, y);
}

QUAC_REGISTER_REFERENCE_OP("Det", det);

}  // namespace
}  // namespace quac::ops
