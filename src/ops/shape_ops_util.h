// Helpers shared by the shape / data-movement reference kernels (shape_ops.cc, transpose.cc, gather_scatter.cc, ...).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "ops/op_util.h"

namespace quac::ops {

// normalize_axis for an axis that indexes the shape: a scalar (rank 0) has no axis 0.
inline int64_t checked_axis(const KernelContext& ctx, int64_t axis, int64_t rank) {
  if (rank == 0) ctx.fail("a scalar input has no axis " + std::to_string(axis));
  return normalize_axis(ctx, axis, rank);
}

template <typename T>
struct TypeTag {
  using type = T;
};

// Data movement does not care about the value, only the storage: calls fn(TypeTag<T>{}) with T an unsigned integer
// of the element's size, or std::string for string tensors (which need real copies, not memcpy).
template <typename Fn>
void visit_storage_type(const KernelContext& ctx, DataType dtype, Fn&& fn) {
  if (dtype == DataType::kString) {
    fn(TypeTag<std::string>{});
    return;
  }
  QUAC_DISPATCH_BY_SIZE(dtype, ctx, fn(TypeTag<T>{}));
}

// Typed element pointers without the dtype check (T is a storage stand-in of the same size).
template <typename T>
const T* elems(const Tensor& t) {
  return static_cast<const T*>(t.raw_data());
}
template <typename T>
T* elems(Tensor& t) {
  return static_cast<T*>(t.raw_data());
}

// Integer contents of an index/shape tensor (int32 or int64, any shape).
inline std::vector<int64_t> int_values(const KernelContext& ctx, const Tensor& t, const char* what) {
  if (!dtype_is_integer(t.dtype()))
    ctx.fail(std::string(what) + " must be an integer tensor, got " + dtype_name(t.dtype()));
  return t.to_int_vector();
}

// Calls fn(index_vector) for every coordinate of `shape` in row-major order.
template <typename Fn>
void for_each_index(const Shape& shape, Fn&& fn) {
  int64_t n = shape_numel(shape);
  std::vector<int64_t> idx(shape.size(), 0);
  for (int64_t i = 0; i < n; ++i) {
    fn(idx);
    for (size_t d = shape.size(); d-- > 0;) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

// out[i] = in[src[i]] for every output element; src is computed per output element by `source(i, out_index)`.
// Used by every pure data-movement kernel: the caller only describes where each output element comes from.
template <typename Fn>
void copy_by_source(const KernelContext& ctx, const Tensor& in, Tensor& out, Fn&& source) {
  visit_storage_type(ctx, in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* src = elems<T>(in);
    T* dst = elems<T>(out);
    int64_t i = 0;
    for_each_index(out.shape(), [&](const std::vector<int64_t>& idx) {
      dst[i] = src[source(idx)];
      ++i;
    });
  });
}

// out[i0, i1, ...] = in[base + i0 * strides[0] + i1 * strides[1] + ...]: transposes, slices and broadcasts are all this
// (strides may be negative or zero). Offsets advance incrementally, one contiguous run of the last axis at a time.
inline void copy_strided(const KernelContext& ctx, const Tensor& in, Tensor& out, int64_t base,
                         const std::vector<int64_t>& strides) {
  visit_storage_type(ctx, in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* src = elems<T>(in);
    T* dst = elems<T>(out);
    const Shape& shape = out.shape();
    size_t r = shape.size();
    int64_t n = out.numel();
    if (n == 0) return;
    if (r == 0) {
      dst[0] = src[base];
      return;
    }
    int64_t inner = shape[r - 1], inner_stride = strides[r - 1];
    std::vector<int64_t> idx(r, 0);
    int64_t off = base;
    for (int64_t i = 0; i < n; i += inner) {
      for (int64_t j = 0; j < inner; ++j) dst[i + j] = src[off + j * inner_stride];
      for (size_t d = r - 1; d-- > 0;) {
        if (++idx[d] < shape[d]) {
          off += strides[d];
          break;
        }
        off -= strides[d] * (shape[d] - 1);
        idx[d] = 0;
      }
    }
  });
}

// Permutes the axes of `in` into `out` (already allocated with the permuted shape).
inline void transpose_into(const KernelContext& ctx, const Tensor& in, const std::vector<int64_t>& perm, Tensor& out) {
  auto in_strides = strides_of(in.shape());
  std::vector<int64_t> s(perm.size());
  for (size_t d = 0; d < perm.size(); ++d) s[d] = in_strides[static_cast<size_t>(perm[d])];
  copy_strided(ctx, in, out, 0, s);
}

// Copies `count` contiguous elements (any type) from in[src_off] to out[dst_off].
inline void copy_block(const KernelContext& ctx, const Tensor& in, int64_t src_off, Tensor& out, int64_t dst_off,
                       int64_t count) {
  if (count <= 0) return;
  if (in.dtype() == DataType::kString) {
    const std::string* s = elems<std::string>(in) + src_off;
    std::string* d = elems<std::string>(out) + dst_off;
    for (int64_t i = 0; i < count; ++i) d[i] = s[i];
    return;
  }
  size_t es = dtype_size(in.dtype());
  if (es == 0) ctx.fail(std::string("unsupported element type ") + dtype_name(in.dtype()));
  std::memcpy(static_cast<char*>(out.raw_data()) + static_cast<size_t>(dst_off) * es,
              static_cast<const char*>(in.raw_data()) + static_cast<size_t>(src_off) * es,
              static_cast<size_t>(count) * es);
}

// A one-element tensor of `type` holding `value` (for fill values given as float attributes).
inline Tensor scalar_of_type(const KernelContext& ctx, DataType type, double value) {
  switch (type) {
    case DataType::kFloat16:
      return Tensor::scalar<Float16>(Float16{float_to_half(static_cast<float>(value))});
    case DataType::kBFloat16:
      return Tensor::scalar<BFloat16>(BFloat16{float_to_bfloat16(static_cast<float>(value))});
    case DataType::kBool:
      return Tensor::scalar<bool>(value != 0);
    case DataType::kString:
      return Tensor::scalar<std::string>("");
    default:
      break;
  }
  Tensor t;
  QUAC_DISPATCH_NUMERIC(type, ctx, t = Tensor::scalar<T>(static_cast<T>(value)));
  return t;
}

// Element i of any numeric tensor as double, including float16/bfloat16/bool.
inline double value_as_double(const Tensor& t, int64_t i) { return t.scalar_as_double(i); }

}  // namespace quac::ops
