// quac's one blocked activation layout: oneDNN's nChw8c (AVX2 register width). A blocked value of logical shape
// [N, C, H, W] is stored as a float tensor of physical shape [N, ceil(C/8), H, W, 8] with the padded channels zero.
// The layout pass decides which values are blocked and tells each quac.FusedConv / quac.Pool node through its
// attributes `blocked_inputs` (input indices) and `blocked_output` (0/1), so no tensor needs to carry a layout tag.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "quac/tensor.h"

namespace quac::kernels {

constexpr int64_t kChannelBlock = 8;

inline Shape blocked_shape(int64_t n, int64_t c, int64_t h, int64_t w) {
  return {n, (c + kChannelBlock - 1) / kChannelBlock, h, w, kChannelBlock};
}

// Plain NCHW -> blocked (padding channels zeroed).
inline void to_blocked(const float* src, float* dst, int64_t n, int64_t c, int64_t h, int64_t w) {
  int64_t cb = (c + kChannelBlock - 1) / kChannelBlock, hw = h * w;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t b = 0; b < cb; ++b)
      for (int64_t p = 0; p < hw; ++p)
        for (int64_t k = 0; k < kChannelBlock; ++k) {
          int64_t ch = b * kChannelBlock + k;
          dst[((i * cb + b) * hw + p) * kChannelBlock + k] = ch < c ? src[(i * c + ch) * hw + p] : 0.f;
        }
}

// Blocked -> plain NCHW.
inline void from_blocked(const float* src, float* dst, int64_t n, int64_t c, int64_t h, int64_t w) {
  int64_t cb = (c + kChannelBlock - 1) / kChannelBlock, hw = h * w;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < hw; ++p)
        dst[(i * c + ch) * hw + p] = src[((i * cb + ch / kChannelBlock) * hw + p) * kChannelBlock + ch % kChannelBlock];
}

}  // namespace quac::kernels
