// Peak multiply-accumulate rate of one core for FP32 (AVX2 FMA) and for exact u8 x s8 INT8 without VNNI (the
// vpmaddubsw -> vpmaddwd -> vpaddd sequence oneDNN's AVX2 INT8 kernels use), and with VNNI (vpdpbusd) when the CPU
// has it. Independent accumulators, register operands only: the figures are the instruction throughput, the ceiling
// of any convolution kernel. Prints one JSON object. Build and run: bench/peak/run.sh
#include <algorithm>
#include <chrono>
#include <cstdio>

namespace {

constexpr long kIterations = 40000000;

template <class F>
double best_seconds(F body) {
  double best = 1e30;
  for (int rep = 0; rep < 5; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    body();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

// 12 independent FMAs of 8 floats an iteration.
__attribute__((target("avx2,fma"))) void fp32_loop() {
  for (long n = 0; n < kIterations; ++n)
    __asm__ volatile(
        "vfmadd231ps %%ymm8, %%ymm9, %%ymm0\n\tvfmadd231ps %%ymm8, %%ymm9, %%ymm1\n\t"
        "vfmadd231ps %%ymm8, %%ymm9, %%ymm2\n\tvfmadd231ps %%ymm8, %%ymm9, %%ymm3\n\t"
        "vfmadd231ps %%ymm8, %%ymm9, %%ymm4\n\tvfmadd231ps %%ymm8, %%ymm9, %%ymm5\n\t"
        "vfmadd231ps %%ymm8, %%ymm9, %%ymm6\n\tvfmadd231ps %%ymm8, %%ymm9, %%ymm7\n\t"
        "vfmadd231ps %%ymm8, %%ymm9, %%ymm10\n\tvfmadd231ps %%ymm8, %%ymm9, %%ymm11\n\t"
        "vfmadd231ps %%ymm8, %%ymm9, %%ymm12\n\tvfmadd231ps %%ymm8, %%ymm9, %%ymm13\n\t" ::
            : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm10", "xmm11", "xmm12", "xmm13");
}

// 8 independent u8 x s8 dot products of 32 pairs an iteration (pairs summed in int16, widened to int32 by a multiply
// with ones, accumulated in int32).
#define QUAC_U8S8(t, acc)                                       \
  "vpmaddubsw %%ymm8, %%ymm9, %%ymm" #t "\n\tvpmaddwd %%ymm" #t \
  ", %%ymm10, "                                                 \
  "%%ymm" #t "\n\tvpaddd %%ymm" #t ", %%ymm" #acc ", %%ymm" #acc "\n\t"
__attribute__((target("avx2"))) void int8_loop() {
  for (long n = 0; n < kIterations; ++n)
    __asm__ volatile(QUAC_U8S8(0, 1) QUAC_U8S8(2, 3) QUAC_U8S8(4, 5) QUAC_U8S8(6, 7) QUAC_U8S8(11, 12) QUAC_U8S8(13, 14)
                         QUAC_U8S8(0, 1) QUAC_U8S8(2, 3)::
                             : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm11", "xmm12",
                               "xmm13", "xmm14");
}

// 8 independent vpdpbusd (AVX-VNNI, VEX encoded) of 32 pairs an iteration.
__attribute__((target("avx2,avxvnni"))) void vnni_loop() {
  for (long n = 0; n < kIterations; ++n)
    __asm__ volatile(
        "%{vex%} vpdpbusd %%ymm8, %%ymm9, %%ymm0\n\t%{vex%} vpdpbusd %%ymm8, %%ymm9, %%ymm1\n\t"
        "%{vex%} vpdpbusd %%ymm8, %%ymm9, %%ymm2\n\t%{vex%} vpdpbusd %%ymm8, %%ymm9, %%ymm3\n\t"
        "%{vex%} vpdpbusd %%ymm8, %%ymm9, %%ymm4\n\t%{vex%} vpdpbusd %%ymm8, %%ymm9, %%ymm5\n\t"
        "%{vex%} vpdpbusd %%ymm8, %%ymm9, %%ymm6\n\t%{vex%} vpdpbusd %%ymm8, %%ymm9, %%ymm7\n\t" ::
            : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7");
}

}  // namespace

int main() {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    std::fprintf(stderr, "peak_macs: needs AVX2 and FMA\n");
    return 1;
  }
  const double fp32 = 12.0 * 8 * kIterations / best_seconds(fp32_loop) / 1e9;
  const double int8 = 8.0 * 32 * kIterations / best_seconds(int8_loop) / 1e9;
  std::printf("{\"fp32_gmacs\": %.1f, \"int8_avx2_gmacs\": %.1f, \"int8_over_fp32\": %.2f", fp32, int8, int8 / fp32);
  if (__builtin_cpu_supports("avxvnni")) {
    const double vnni = 8.0 * 32 * kIterations / best_seconds(vnni_loop) / 1e9;
    std::printf(", \"int8_vnni_gmacs\": %.1f, \"vnni_over_fp32\": %.2f", vnni, vnni / fp32);
  } else {
    std::printf(", \"int8_vnni_gmacs\": null");
  }
  std::printf("}\n");
  return 0;
}
