// Helpers shared by the reference kernels: axes, broadcasting, type dispatch.
#pragma once

#include <cstdint>
#include <vector>

#include "ops/kernel.h"

namespace quac::ops {

// Normalises a possibly negative axis for a tensor of `rank` (fails naming the node if out of range).
int64_t normalize_axis(const KernelContext& ctx, int64_t axis, int64_t rank);
std::vector<int64_t> strides_of(const Shape& shape);
// Numpy-style multidirectional broadcast of two or more shapes; fails naming the node if incompatible.
Shape broadcast_shapes(const KernelContext& ctx, const std::vector<Shape>& shapes);
// Strides of `in` when broadcast to `out` (0 on broadcast dimensions), aligned to out's rank.
std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out);

// Calls fn(out_index, in_offsets) for every element of `out` in order, with the offset of each input.
template <typename Fn>
void for_each_broadcast(const Shape& out, const std::vector<std::vector<int64_t>>& in_strides, Fn&& fn) {
  int64_t n = shape_numel(out);
  size_t rank = out.size(), k = in_strides.size();
  std::vector<int64_t> idx(rank, 0), off(k, 0);
  for (int64_t i = 0; i < n; ++i) {
    fn(i, off);
    for (size_t d = rank; d-- > 0;) {
      if (++idx[d] < out[d]) {
        for (size_t j = 0; j < k; ++j) off[j] += in_strides[j][d];
        break;
      }
      for (size_t j = 0; j < k; ++j) off[j] -= in_strides[j][d] * (out[d] - 1);
      idx[d] = 0;
    }
  }
}

}  // namespace quac::ops

// Type dispatch: QUAC_DISPATCH_NUMERIC(dtype, T, { body using T; }) runs body with T bound to the C++ type.
// float16/bfloat16 are not included: kernels convert those to float explicitly.
#define QUAC_DISPATCH_CASE(enum_value, type, ...) \
  case ::quac::DataType::enum_value: {            \
    using T = type;                               \
    __VA_ARGS__;                                  \
    break;                                        \
  }
#define QUAC_DISPATCH_NUMERIC(dtype, ctx, ...)                                          \
  switch (dtype) {                                                                      \
    QUAC_DISPATCH_CASE(kFloat, float, __VA_ARGS__)                                      \
    QUAC_DISPATCH_CASE(kDouble, double, __VA_ARGS__)                                    \
    QUAC_DISPATCH_CASE(kInt8, int8_t, __VA_ARGS__)                                      \
    QUAC_DISPATCH_CASE(kUInt8, uint8_t, __VA_ARGS__)                                    \
    QUAC_DISPATCH_CASE(kInt16, int16_t, __VA_ARGS__)                                    \
    QUAC_DISPATCH_CASE(kUInt16, uint16_t, __VA_ARGS__)                                  \
    QUAC_DISPATCH_CASE(kInt32, int32_t, __VA_ARGS__)                                    \
    QUAC_DISPATCH_CASE(kUInt32, uint32_t, __VA_ARGS__)                                  \
    QUAC_DISPATCH_CASE(kInt64, int64_t, __VA_ARGS__)                                    \
    QUAC_DISPATCH_CASE(kUInt64, uint64_t, __VA_ARGS__)                                  \
    default:                                                                            \
      (ctx).fail(std::string("unsupported element type ") + ::quac::dtype_name(dtype)); \
  }
#define QUAC_DISPATCH_FLOAT(dtype, ctx, ...)                                            \
  switch (dtype) {                                                                      \
    QUAC_DISPATCH_CASE(kFloat, float, __VA_ARGS__)                                      \
    QUAC_DISPATCH_CASE(kDouble, double, __VA_ARGS__)                                    \
    default:                                                                            \
      (ctx).fail(std::string("unsupported element type ") + ::quac::dtype_name(dtype)); \
  }
// Any type with a fixed byte size, for data movement (copy, gather, transpose): dispatches on element size.
#define QUAC_DISPATCH_BY_SIZE(dtype, ctx, ...)                                          \
  switch (::quac::dtype_size(dtype)) {                                                  \
    case 1: {                                                                           \
      using T = uint8_t;                                                                \
      __VA_ARGS__;                                                                      \
      break;                                                                            \
    }                                                                                   \
    case 2: {                                                                           \
      using T = uint16_t;                                                               \
      __VA_ARGS__;                                                                      \
      break;                                                                            \
    }                                                                                   \
    case 4: {                                                                           \
      using T = uint32_t;                                                               \
      __VA_ARGS__;                                                                      \
      break;                                                                            \
    }                                                                                   \
    case 8: {                                                                           \
      using T = uint64_t;                                                               \
      __VA_ARGS__;                                                                      \
      break;                                                                            \
    }                                                                                   \
    default:                                                                            \
      (ctx).fail(std::string("unsupported element type ") + ::quac::dtype_name(dtype)); \
  }
