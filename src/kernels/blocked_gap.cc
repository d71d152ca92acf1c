// quac.Pool GlobalAveragePool from the blocked layout (the end of a CNN: 512-2048 channels at 7x7) into the plain or
// blocked output: each channel block's mean is 8 contiguous running sums over the pixels. oneDNN 2.6's pooling took
// 30-60 us a run there (1280 channels at 7x7, 2 threads) against 20 us for ONNX Runtime; this loop reads the 250 KB
// once on one thread, and writes the plain output without the reorder oneDNN needed.
#include <algorithm>

#include "kernels/blocked_layout.h"
#include "kernels/onednn_util.h"
#include "ops/fused_ref.h"

namespace quac::kernels {
namespace {

class BlockedGlobalAveragePoolKernel : public Kernel {
 public:
  explicit BlockedGlobalAveragePoolKernel(const ir::Node& node)
      : channels_(node.attr_int("channels", 0)), blocked_out_(node.attr_int("blocked_output", 0) != 0) {}

  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.in(0);
    const int64_t cb = (channels_ + kChannelBlock - 1) / kChannelBlock;
    if (x.dtype() != DataType::kFloat || x.rank() != 5 || x.dim(1) != cb || x.dim(4) != kChannelBlock)
      ctx.fail("blocked input has unexpected type or shape " + shape_str(x.shape()));
    const int64_t n = x.dim(0), pix = x.dim(2) * x.dim(3);
    if (pix == 0) ctx.fail("GlobalAveragePool of an empty image");
    Tensor& out = ctx.allocate_output(0, DataType::kFloat,
                                      blocked_out_ ? blocked_shape(n, channels_, 1, 1) : Shape{n, channels_, 1, 1});
    const float* xd = x.data<float>();
    float* yd = out.data<float>();
    const float inv = 1.f / static_cast<float>(pix);
    const int64_t planes = n * cb;
    // Parallel only when the input is large (a batch): one pass over a few hundred KB is faster than waking threads.
#pragma omp parallel for schedule(static) if (planes * pix * kChannelBlock > (1 << 20))
    for (int64_t plane = 0; plane < planes; ++plane) {
      const float* p = xd + plane * pix * kChannelBlock;
      float acc[kChannelBlock] = {};
      for (int64_t i = 0; i < pix; ++i)
        for (int64_t c8 = 0; c8 < kChannelBlock; ++c8) acc[c8] += p[i * kChannelBlock + c8];
      const int64_t img = plane / cb, b = plane % cb, valid = std::min(kChannelBlock, channels_ - b * kChannelBlock);
      if (blocked_out_) {
        for (int64_t c8 = 0; c8 < kChannelBlock; ++c8)
          yd[plane * kChannelBlock + c8] = c8 < valid ? acc[c8] * inv : 0.f;
      } else {
        for (int64_t c8 = 0; c8 < valid; ++c8) yd[img * channels_ + b * kChannelBlock + c8] = acc[c8] * inv;
      }
    }
  }

 private:
  int64_t channels_;
  bool blocked_out_;
};

std::unique_ptr<Kernel> make_blocked_gap(const KernelInfo& info, std::string* why) {
  const ir::Node& node = info.node;
  if (node.attr_string("mode", "") != "GlobalAveragePool") {
    *why = "only GlobalAveragePool";
    return nullptr;
  }
  if (!ops::is_blocked_input(node, 0) || node.attr_int("channels", 0) <= 0) {
    *why = "only a blocked input with a known channel count";
    return nullptr;
  }
  if (!maybe_float(info, 0)) {
    *why = "only float32 is supported";
    return nullptr;
  }
  return std::make_unique<BlockedGlobalAveragePoolKernel>(node);
}

QUAC_REGISTER_KERNEL({.domain = "quac",
                      .op_type = "Pool",
                      .impl = "blocked-gap",
                      .priority = 20,
                      .min_opset = 0,
                      .factory = make_blocked_gap});

}  // namespace
}  // namespace quac::kernels
