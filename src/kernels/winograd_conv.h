// The Winograd F(2x2, 3x3) convolution (winograd_conv.cc): which layers take it. Each 2x2 block of output pixels
// costs 16 multiplies per (input, output) channel pair instead of 36, so 3x3 stride-1 layers do 2.25x fewer
// multiply-adds; oneDNN 2.6 has Winograd only for AVX-512. The transforms of F(2x2, 3x3) use only 0, +-1 and 0.5, so
// its float32 error stays at the direct convolution's level (the larger tiles F(4x4, 3x3) lose about a digit).
#pragma once

#include <cstdint>

namespace quac::kernels {

enum class WinogradPolicy {
  kAuto,    // the shape rule below
  kAlways,  // every convolution the kernel can take (tests)
  kNever,   // never (A/B timing)
};

// Process-wide; read from the environment variable QUAC_CONV_WINOGRAD (0 = never, 1 = always, unset or anything
// else = auto) at start-up, and settable by tests. Sessions created under kNever do not use the kernel at all; the
// others apply the policy whenever a kernel prepares a new input shape.
void set_winograd_policy(WinogradPolicy policy);
WinogradPolicy winograd_policy();

// The auto rule for a 3x3, stride-1, undilated, ungrouped convolution: batch * output pixels, input and output
// channels.
bool prefer_winograd(int64_t rows, int64_t in_channels, int64_t out_channels);

// How many times the Winograd path has run in this process (tests check that it was taken).
int64_t winograd_runs();

}  // namespace quac::kernels
