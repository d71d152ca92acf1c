// The channels-last storage of 8-bit activations between quac's INT8 ops (oneDNN's INT8 convolutions work in nhwc):
// a value of logical shape [N, C, H, W] is stored with physical shape [N, H, W, C]. The Int8Lowering pass marks
// such values through the producer's `nhwc_output` (0/1) and each reader's `nhwc_inputs` (input indices).
#pragma once

#include <cstring>

#include "ir/graph.h"
#include "quac/tensor.h"

namespace quac::ops {

inline bool is_nhwc_input(const ir::Node& node, size_t index) {
  for (int64_t k : node.attr_ints("nhwc_inputs", {}))
    if (k == static_cast<int64_t>(index)) return true;
  return false;
}

// [N, C, H, W] <-> [N, H, W, C] (any element size).
inline Tensor nchw_to_nhwc(const Tensor& t) {
  int64_t n = t.dim(0), c = t.dim(1), hw = t.dim(2) * t.dim(3);
  size_t es = t.numel() ? t.nbytes() / static_cast<size_t>(t.numel()) : 1;
  Tensor out(t.dtype(), {n, t.dim(2), t.dim(3), c});
  const auto* s = static_cast<const uint8_t*>(t.raw_data());
  auto* d = static_cast<uint8_t*>(out.raw_data());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < hw; ++p)
        std::memcpy(d + ((i * hw + p) * c + ch) * es, s + ((i * c + ch) * hw + p) * es, es);
  return out;
}

inline Tensor nhwc_to_nchw(const Tensor& t) {
  int64_t n = t.dim(0), h = t.dim(1), w = t.dim(2), c = t.dim(3), hw = h * w;
  size_t es = t.numel() ? t.nbytes() / static_cast<size_t>(t.numel()) : 1;
  Tensor out(t.dtype(), {n, c, h, w});
  const auto* s = static_cast<const uint8_t*>(t.raw_data());
  auto* d = static_cast<uint8_t*>(out.raw_data());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < hw; ++p)
        std::memcpy(d + ((i * c + ch) * hw + p) * es, s + ((i * hw + p) * c + ch) * es, es);
  return out;
}

}  // namespace quac::ops
