// Pooling: MaxPool (with Indices), AveragePool, LpPool, their Global variants, and MaxUnpool. Every (batch, channel)
// plane is pooled independently, one parallel task per plane.
#include <cmath>
#include <limits>
#include <string>

#include "core/parallel.h"
#include "ops/kernel.h"
#include "ops/nn_util.h"
#include "ops/op_util.h"

namespace quac::ops {
namespace {

enum class PoolKind { kMax, kAverage, kLp };

void check_pool_input(const KernelContext& ctx, const Tensor& x) {
  if (x.rank() < 3) ctx.fail("input X has shape " + shape_str(x.shape()) + ", expected [N, C, D1, ...]");
}

// LpPool's p was a float attribute in opset 1 and an int afterwards.
double lp_order(const ir::Node& node) {
  const ir::Attribute* a = node.find("p");
  if (!a) return 2.0;
  return a->kind == ir::Attribute::Kind::kFloat ? a->f : static_cast<double>(a->i);
}

WindowGeometry pool_geometry(const KernelContext& ctx, const Tensor& x) {
  const ir::Node& node = ctx.node();
  std::vector<int64_t> spatial(x.shape().begin() + 2, x.shape().end());
  std::vector<int64_t> kernel = node.attr_ints("kernel_shape");
  if (kernel.size() != spatial.size())
    ctx.fail("kernel_shape " + shape_str(kernel) + " does not match the spatial rank of input X " +
             shape_str(x.shape()));
  return forward_window(node, spatial, kernel, node.attr_int("ceil_mode", 0) != 0);
}

// Calls fn(out_pos, window) for every output position of a plane, where `window` lists the in-plane offsets of the
// window's input elements inside the input (padding excluded) and `padded_count` the window size clipped only to the
// padded input (what count_include_pad divides by).
template <typename Fn>
void for_each_window(const WindowGeometry& g, Fn&& fn) {
  const size_t rank = g.rank();
  const std::vector<int64_t> in_strides = spatial_strides(g.input);
  std::vector<int64_t> oidx(rank, 0), kidx(rank, 0);
  std::vector<int64_t> window;
  int64_t out_pos = 0;
  do {
    window.clear();
    int64_t padded_count = 1;
    for (size_t d = 0; d < rank; ++d) {
      int64_t count = 0;
      for (int64_t k = 0; k < g.kernel[d]; ++k) {
        int64_t i = oidx[d] * g.strides[d] - g.pads_begin[d] + k * g.dilations[d];
        if (i >= -g.pads_begin[d] && i < g.input[d] + g.pads_end[d]) ++count;
      }
      padded_count *= count;
    }
    std::fill(kidx.begin(), kidx.end(), 0);
    do {
      int64_t off = 0;
      bool inside = true;
      for (size_t d = 0; d < rank && inside; ++d) {
        int64_t i = oidx[d] * g.strides[d] - g.pads_begin[d] + kidx[d] * g.dilations[d];
        inside = i >= 0 && i < g.input[d];
        off += i * in_strides[d];
      }
      if (inside) window.push_back(off);
    } while (next_index(kidx, g.kernel));
    fn(out_pos++, window, padded_count);
  } while (next_index(oidx, g.output));
}

// Column-major (storage_order = 1) offset of a row-major in-plane offset.
int64_t column_major_offset(int64_t off, const std::vector<int64_t>& dims) {
  int64_t result = 0, stride = 1;
  std::vector<int64_t> idx(dims.size());
  for (size_t d = dims.size(); d-- > 0;) {
    idx[d] = off % dims[d];
    off /= dims[d];
  }
  for (size_t d = 0; d < dims.size(); ++d) {
    result += idx[d] * stride;
    stride *= dims[d];
  }
  return result;
}

template <typename T>
void max_pool(const T* x, T* y, int64_t* indices, int64_t planes, const WindowGeometry& g, bool column_major,
              int threads) {
  const int64_t in_plane = product(g.input), out_plane = product(g.output);
  parallel_for(planes, threads, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const T* xp = x + p * in_plane;
      for_each_window(g, [&](int64_t o, const std::vector<int64_t>& window, int64_t) {
        T best = std::numeric_limits<T>::lowest();
        int64_t best_off = window.empty() ? 0 : window[0];
        for (int64_t off : window)
          if (xp[off] > best) {
            best = xp[off];
            best_off = off;
          }
        y[p * out_plane + o] = best;
        if (indices)
          indices[p * out_plane + o] =
              p * in_plane + (column_major ? column_major_offset(best_off, g.input) : best_off);
      });
    }
  });
}

template <typename T>
void average_or_lp_pool(const T* x, T* y, int64_t planes, const WindowGeometry& g, PoolKind kind,
                        bool count_include_pad, double p_order, int threads) {
  const int64_t in_plane = product(g.input), out_plane = product(g.output);
  parallel_for(planes, threads, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const T* xp = x + p * in_plane;
      for_each_window(g, [&](int64_t o, const std::vector<int64_t>& window, int64_t padded_count) {
        double acc = 0;
        if (kind == PoolKind::kLp) {
          for (int64_t off : window) acc += std::pow(std::fabs(static_cast<double>(xp[off])), p_order);
          y[p * out_plane + o] = static_cast<T>(std::pow(acc, 1.0 / p_order));
        } else {
          for (int64_t off : window) acc += static_cast<double>(xp[off]);
          int64_t count = count_include_pad ? padded_count : static_cast<int64_t>(window.size());
          y[p * out_plane + o] = static_cast<T>(count > 0 ? acc / static_cast<double>(count) : 0.0);
        }
      });
    }
  });
}

Shape pooled_shape(const Tensor& x, const WindowGeometry& g) {
  Shape s{x.dim(0), x.dim(1)};
  s.insert(s.end(), g.output.begin(), g.output.end());
  return s;
}

void run_max_pool(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  check_pool_input(ctx, x);
  WindowGeometry g = pool_geometry(ctx, x);
  const int64_t order = ctx.node().attr_int("storage_order", 0);
  if (order != 0 && order != 1) ctx.fail("storage_order must be 0 or 1");
  Shape shape = pooled_shape(x, g);
  Tensor& y = ctx.allocate_output(0, x.dtype(), shape);
  int64_t* indices = nullptr;
  if (ctx.num_outputs() > 1 && ctx.output_wanted(1))
    indices = ctx.allocate_output(1, DataType::kInt64, shape).data<int64_t>();
  const int64_t planes = x.dim(0) * x.dim(1);
  QUAC_DISPATCH_NUMERIC(x.dtype(), ctx,
                        { max_pool<T>(x.data<T>(), y.data<T>(), indices, planes, g, order == 1, ctx.num_threads()); });
}

void run_window_pool(KernelContext& ctx, PoolKind kind) {
  const Tensor& x = ctx.in(0);
  check_pool_input(ctx, x);
  WindowGeometry g = pool_geometry(ctx, x);
  Tensor& y = ctx.allocate_output(0, x.dtype(), pooled_shape(x, g));
  const bool include_pad = ctx.node().attr_int("count_include_pad", 0) != 0;
  const double p_order = kind == PoolKind::kLp ? lp_order(ctx.node()) : 1.0;
  QUAC_DISPATCH_FLOAT(x.dtype(), ctx, {
    average_or_lp_pool<T>(x.data<T>(), y.data<T>(), x.dim(0) * x.dim(1), g, kind, include_pad, p_order,
                          ctx.num_threads());
  });
}

// Global pooling reduces each whole plane to one value.
void run_global_pool(KernelContext& ctx, PoolKind kind) {
  const Tensor& x = ctx.in(0);
  check_pool_input(ctx, x);
  const int64_t planes = x.dim(0) * x.dim(1), plane = planes ? x.numel() / planes : 0;
  Shape shape(x.shape().size(), 1);
  shape[0] = x.dim(0);
  shape[1] = x.dim(1);
  Tensor& y = ctx.allocate_output(0, x.dtype(), shape);
  const double p_order = kind == PoolKind::kLp ? lp_order(ctx.node()) : 1.0;
  QUAC_DISPATCH_FLOAT(x.dtype(), ctx, {
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    parallel_for(planes, ctx.num_threads(), [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        const T* v = xp + p * plane;
        if (kind == PoolKind::kMax) {
          T best = std::numeric_limits<T>::lowest();
          for (int64_t i = 0; i < plane; ++i) best = std::max(best, v[i]);
          yp[p] = best;
        } else if (kind == PoolKind::kAverage) {
          double acc = 0;
          for (int64_t i = 0; i < plane; ++i) acc += static_cast<double>(v[i]);
          yp[p] = static_cast<T>(plane ? acc / static_cast<double>(plane) : 0.0);
        } else {
          double acc = 0;
          for (int64_t i = 0; i < plane; ++i) acc += std::pow(std::fabs(static_cast<double>(v[i])), p_order);
          yp[p] = static_cast<T>(std::pow(acc, 1.0 / p_order));
        }
      }
    });
  });
}

// MaxUnpool scatters X to the flat positions given by I (MaxPool's Indices) of the output size inferred from the
// attributes; everything else is zero. An explicit output_shape then crops or zero-extends that result at the end of
// each axis, as the ONNX reference does (the indices always refer to the inferred shape).
void run_max_unpool(KernelContext& ctx) {
  const ir::Node& node = ctx.node();
  const Tensor& x = ctx.in(0);
  const Tensor& ind = ctx.in(1);
  check_pool_input(ctx, x);
  if (ind.shape() != x.shape())
    ctx.fail("indices I have shape " + shape_str(ind.shape()) + ", expected the shape of X " + shape_str(x.shape()));
  if (ind.dtype() != DataType::kInt64) ctx.fail("indices I must be int64");
  const size_t rank = static_cast<size_t>(x.rank() - 2);
  std::vector<int64_t> kernel = node.attr_ints("kernel_shape");
  if (kernel.size() != rank) ctx.fail("kernel_shape " + shape_str(kernel) + " does not match input X");
  std::vector<int64_t> strides = spatial_attr(node, "strides", rank, 1);
  std::vector<int64_t> pads = node.attr_ints("pads");
  if (pads.empty()) pads.assign(2 * rank, 0);
  if (pads.size() != 2 * rank) ctx.fail("attribute pads has the wrong number of values");
  Shape inferred{x.dim(0), x.dim(1)};
  for (size_t d = 0; d < rank; ++d)
    inferred.push_back((x.dim(static_cast<int64_t>(d) + 2) - 1) * strides[d] + kernel[d] - pads[d] - pads[d + rank]);
  for (int64_t v : inferred)
    if (v < 0) ctx.fail("negative output size " + shape_str(inferred));
  Shape shape = inferred;
  if (const Tensor* os = ctx.input(2)) {
    shape = os->to_int_vector();
    if (shape.size() != inferred.size() || shape[0] != inferred[0] || shape[1] != inferred[1])
      ctx.fail("output_shape " + shape_str(shape) + " does not match input X " + shape_str(x.shape()));
    for (int64_t v : shape)
      if (v < 0) ctx.fail("negative output_shape " + shape_str(shape));
  }
  Tensor& y = ctx.allocate_output(0, x.dtype(), shape);
  std::memset(y.raw_data(), 0, y.nbytes());
  const int64_t* idx = ind.data<int64_t>();
  const int64_t total = shape_numel(inferred);
  const std::vector<int64_t> out_strides = spatial_strides(shape);
  QUAC_DISPATCH_BY_SIZE(x.dtype(), ctx, {
    const T* xp = static_cast<const T*>(x.raw_data());
    T* yp = static_cast<T*>(y.raw_data());
    for (int64_t i = 0; i < x.numel(); ++i) {
      if (idx[i] < 0 || idx[i] >= total)
        ctx.fail("index " + std::to_string(idx[i]) + " in I is out of range for output " + shape_str(inferred));
      int64_t rest = idx[i], off = 0;
      bool inside = true;
      for (size_t d = inferred.size(); d-- > 0;) {
        const int64_t coord = rest % inferred[d];
        rest /= inferred[d];
        inside = inside && coord < shape[d];
        off += coord * out_strides[d];
      }
      if (inside) yp[off] = xp[i];
    }
  });
}

QUAC_REGISTER_REFERENCE_OP("MaxPool", run_max_pool);
QUAC_REGISTER_REFERENCE_OP("AveragePool", [](KernelContext& ctx) { run_window_pool(ctx, PoolKind::kAverage); });
QUAC_REGISTER_REFERENCE_OP("LpPool", [](KernelContext& ctx) { run_window_pool(ctx, PoolKind::kLp); });
QUAC_REGISTER_REFERENCE_OP("GlobalMaxPool", [](KernelContext& ctx) { run_global_pool(ctx, PoolKind::kMax); });
QUAC_REGISTER_REFERENCE_OP("GlobalAveragePool", [](KernelContext& ctx) { run_global_pool(ctx, PoolKind::kAverage); });
QUAC_REGISTER_REFERENCE_OP("GlobalLpPool", [](KernelContext& ctx) { run_global_pool(ctx, PoolKind::kLp); });
QUAC_REGISTER_REFERENCE_OP("MaxUnpool", run_max_unpool);

}  // namespace
}  // namespace quac::ops
