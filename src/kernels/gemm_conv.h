// The im2col + sgemm convolution (gemm_conv.cc): which layers take it. oneDNN 2.6's AVX2 direct convolution calls its
// JIT kernel once per output row and channel block, which costs the most when the output is a few pixels and the
// reduction is long (ResNet's last stage: 512 channels at 7x7). There one im2col copy and one oneDNN GEMM over all
// output pixels, with the weights packed once for it, are faster; on larger images the direct convolution is ahead.
#pragma once

#include <cstdint>

namespace quac::kernels {

enum class GemmConvPolicy {
  kAuto,    // the shape rule below
  kAlways,  // every convolution the kernel can take (tests)
  kNever,   // always the direct convolution (A/B timing)
};

// Process-wide; read from the environment variable QUAC_CONV_GEMM (0 = never, 1 = always, unset or anything else =
// auto) at start-up, and settable by tests. Sessions created under kNever do not use the kernel at all; the others
// apply the policy whenever a kernel prepares a new input shape.
void set_gemm_conv_policy(GemmConvPolicy policy);
GemmConvPolicy gemm_conv_policy();

// The auto rule, for one convolution: batch * output pixels, input channels, kernel window size.
bool prefer_gemm_conv(int64_t rows, int64_t in_channels, int64_t window);

// How many times the gemm path has run in this process (tests check that it was taken).
int64_t gemm_conv_runs();

}  // namespace quac::kernels
