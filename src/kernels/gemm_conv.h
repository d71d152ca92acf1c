// The im2col + sgemm convolution (gemm_conv.cc): which layers take it. oneDNN 2.6's AVX2 direct convolution calls its
// JIT kernel once per output row and channel block, which costs the most when the output is a few pixels and the
// reduction is long (ResNet's last stage: 512 channels at 7x7). On such a layer alone, with its weights in cache, one
// im2col copy and oneDNN's sgemm over all output pixels are 10-25% faster; inside a whole model, whose weights no
// longer fit in the cache, sgemm re-packs the 9 MB weight matrix on every call and the direct convolution was ahead
// (ResNet-18, one thread: +9% CPU time with the auto rule, on a loaded machine). So the path is off unless asked for.
#pragma once

#include <cstdint>

namespace quac::kernels {

enum class GemmConvPolicy {
  kAuto,    // the shape rule below
  kAlways,  // every convolution the kernel can take (tests)
  kNever,   // always the direct convolution (A/B timing)
};

// Process-wide; read from the environment variable QUAC_CONV_GEMM (auto, 1 = always, anything else or unset = never)
// at start-up, and settable by tests. Sessions created under kNever do not use the kernel at all; the others apply
// the policy whenever a kernel prepares a new input shape.
void set_gemm_conv_policy(GemmConvPolicy policy);
GemmConvPolicy gemm_conv_policy();

// The auto rule, for one convolution: batch * output pixels, input channels, kernel window size.
bool prefer_gemm_conv(int64_t rows, int64_t in_channels, int64_t window);

// How many times the gemm path has run in this process (tests check that it was taken).
int64_t gemm_conv_runs();

}  // namespace quac::kernels
