// 2-D Conv / quac.FusedConv as im2col + oneDNN sgemm (see gemm_conv.h for when). The weights become a [K, M] matrix
// whose K order follows the blocked layout (channel block, kh, kw, channel in block), so im2col copies whole 8-channel
// groups from a blocked input, and are packed for oneDNN's GEMM once per input shape, one block of output channels
// per thread. The GEMMs compute [rows, M] for every output pixel of the batch, and an epilogue adds the bias, applies
// the post-ops (Relu, LeakyRelu, Clip, Sum) in order and writes the plain or blocked output. Shapes the policy leaves
// to the direct convolution, and nodes this kernel cannot take at all, go to the next kernel by priority (oneDNN's
// convolution).
#include "kernels/gemm_conv.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kernels/blocked_layout.h"
#include "kernels/conv_common.h"
#include "kernels/onednn_util.h"
#include "ops/fused_ref.h"
#include "passes/shape_infer.h"

namespace quac::kernels {
namespace {

constexpr int kPriority = 20;

std::atomic<GemmConvPolicy> g_policy{policy_from_env<GemmConvPolicy>("QUAC_CONV_GEMM")};
std::atomic<int64_t> g_runs{0};

using Post = EpilogueKind;

class GemmConvKernel : public Kernel {
 public:
  GemmConvKernel(const KernelInfo& info, std::vector<EpilogueOp> post_ops, std::unique_ptr<Kernel> direct)
      : node_(info.node), post_ops_(std::move(post_ops)), direct_(std::move(direct)) {
    w_ = *info.constant_inputs[1];
    blocked_in_ = ops::is_blocked_input(node_, 0);
    blocked_sum_ = ops::is_blocked_input(node_, 3);
    blocked_out_ = node_.attr_int("blocked_output", 0) != 0;
    for (const auto& p : post_ops_) has_sum_ |= p.kind == Post::kSum;
  }

  const char* last_variant() const override {
    return x_shape_.empty() ? nullptr : use_gemm_ ? "onednn-gemm" : "onednn";
  }

  void run(KernelContext& ctx) override {
    std::unique_lock<std::mutex> lock(mutex_);
    const Tensor& x = ctx.in(0);
    int64_t c = w_.dim(1), m = w_.dim(0);
    const Shape& s = x.shape();
    bool blocked = blocked_in_ && s.size() == 5;
    bool same = blocked ? x_shape_.size() == 4 && x_shape_[0] == s[0] && x_shape_[1] == c && x_shape_[2] == s[2] &&
                              x_shape_[3] == s[3]
                        : s == x_shape_;
    if (!same) prepare(ctx, blocked ? Shape{s[0], c, s[2], s[3]} : s);
    const Shape& xs = x_shape_;
    if (!use_gemm_) {
      lock.unlock();  // the direct kernel has its own lock
      direct_->run(ctx);
      return;
    }
    if (x.dtype() != DataType::kFloat) ctx.fail("the gemm Conv needs float32");
    const Tensor* b = ctx.input(2);
    if (b && (b->dtype() != DataType::kFloat || b->numel() != m)) ctx.fail("bias must be float with M elements");
    const Tensor* sum = has_sum_ ? &ctx.in(3) : nullptr;
    Shape ys = {xs[0], m, oh_, ow_};
    Shape sum_shape = blocked_sum_ ? blocked_shape(ys[0], m, oh_, ow_) : ys;
    if (sum && (sum->dtype() != DataType::kFloat || sum->shape() != sum_shape))
      ctx.fail("the Sum input must have shape " + shape_str(sum_shape) + ", got " + shape_str(sum->shape()));
    Tensor& out = ctx.allocate_output(0, DataType::kFloat, blocked_out_ ? blocked_shape(ys[0], m, oh_, ow_) : ys);

    im2col(x.data<float>());
    int64_t rows = xs[0] * oh_ * ow_;
    // Column-major view: acc^T [m, rows] = W^T [m, k] (packed) x col^T [k, rows], one GEMM per block of output
    // channels and thread, so each thread streams only its share of the weights (oneDNN's own split of this shape
    // gives every thread all of them).
    const dnnl_dim_t gm = m, gn = rows, gk = k_;
    const float beta = 0.f;
    int failed = 0;
    const int64_t nchunks = static_cast<int64_t>(chunks_.size());
#pragma omp parallel for schedule(static) num_threads(nchunks) if (nchunks > 1)
    for (int64_t i = 0; i < nchunks; ++i) {
      const Chunk& ch = chunks_[static_cast<size_t>(i)];
      const dnnl_dim_t cm = ch.size;
      if (dnnl::impl::cpu::sgemm_compute("P", "N", &cm, &gn, &gk, ch.packed.data<float>(), &gm, col_, &gk, &beta,
                                         acc_ + ch.begin, &gm) != dnnl_success) {
#pragma omp atomic write
        failed = 1;
        continue;
      }
      // The same thread finishes its channel blocks (chunks hold whole blocks) while its results are in cache.
      epilogue(b ? b->data<float>() : nullptr, sum ? sum->data<float>() : nullptr, out.data<float>(),
               ch.begin / kChannelBlock, (ch.begin + ch.size + kChannelBlock - 1) / kChannelBlock);
    }
    if (failed) ctx.fail("oneDNN sgemm failed");
    g_runs.fetch_add(1, std::memory_order_relaxed);
  }

 private:
  void prepare(KernelContext& ctx, const Shape& xs) {
    if (xs.size() != 4 || xs[1] != w_.dim(1)) {
      ctx.fail("input " + shape_str(xs) + " does not match weights " + shape_str(w_.shape()));
    }
    Shape in = {xs[2], xs[3]}, kernel = {w_.dim(2), w_.dim(3)}, o, pb, pe;
    if (!passes::window_output(node_, in, kernel, &o, &pb, &pe)) ctx.fail("invalid convolution attributes for input");
    auto strides = node_.attr_ints("strides", {1, 1}), dil = node_.attr_ints("dilations", {1, 1});
    if (strides.size() != 2 || dil.size() != 2) ctx.fail("strides and dilations need two values");
    x_shape_ = xs;
    oh_ = o[0];
    ow_ = o[1];
    sh_ = strides[0];
    sw_ = strides[1];
    dh_ = dil[0];
    dw_ = dil[1];
    ph_ = pb[0];
    pw_ = pb[1];
    int64_t c = w_.dim(1), kh = w_.dim(2), kw = w_.dim(3), rows = xs[0] * oh_ * ow_;
    GemmConvPolicy policy = gemm_conv_policy();
    use_gemm_ =
        policy == GemmConvPolicy::kAlways || (policy == GemmConvPolicy::kAuto && prefer_gemm_conv(rows, c, kh * kw));
    if (!use_gemm_) return;
    cb_ = (c + kChannelBlock - 1) / kChannelBlock;
    k_ = cb_ * kh * kw * kChannelBlock;
    if (!packed_.defined()) pack_weights();
    // The packed form depends on the problem's size (rows), so it is made per input shape; one packed block of
    // output channels (a multiple of 8) per thread.
    const int64_t m = w_.dim(0);
    const int64_t nchunks = std::max<int64_t>(1, std::min<int64_t>(ctx.num_threads(), (m + 7) / 8));
    const int64_t step = ((m + nchunks - 1) / nchunks + 7) / 8 * 8;
    chunks_.clear();
    for (int64_t begin = 0; begin < m; begin += step) {
      Chunk ch{begin, std::min(step, m - begin), Tensor()};
      const dnnl_dim_t cm = ch.size, gn = rows, gk = k_, lda = m;
      size_t bytes = 0;
      bool worth = false;
      if (dnnl::impl::cpu::sgemm_pack_get_size("A", "N", "N", &cm, &gn, &gk, &lda, &gk, &bytes, &worth) != dnnl_success)
        ctx.fail("oneDNN could not size the packed weights");
      ch.packed = Tensor(DataType::kFloat, {static_cast<int64_t>(bytes / sizeof(float)) + 16});
      if (dnnl::impl::cpu::sgemm_pack("A", "N", "N", &cm, &gn, &gk, &lda, &gk, packed_.data<float>() + begin,
                                      ch.packed.data<float>()) != dnnl_success)
        ctx.fail("oneDNN could not pack the weights");
      chunks_.push_back(std::move(ch));
    }
    col_ = static_cast<float*>(col_buf_.get(static_cast<size_t>(rows * k_) * sizeof(float)));
    acc_ = static_cast<float*>(acc_buf_.get(static_cast<size_t>(rows * w_.dim(0)) * sizeof(float)));
  }

  // packed[k][o] with k = ((cb * kh + i) * kw + j) * 8 + c8; the padded channels get zero weights.
  void pack_weights() {
    int64_t m = w_.dim(0), c = w_.dim(1), kh = w_.dim(2), kw = w_.dim(3);
    packed_ = Tensor(DataType::kFloat, {k_, m});
    float* p = packed_.data<float>();
    const float* w = w_.data<float>();
    for (int64_t b = 0; b < cb_; ++b)
      for (int64_t i = 0; i < kh; ++i)
        for (int64_t j = 0; j < kw; ++j)
          for (int64_t c8 = 0; c8 < kChannelBlock; ++c8) {
            int64_t ch = b * kChannelBlock + c8, k = ((b * kh + i) * kw + j) * kChannelBlock + c8;
            for (int64_t o = 0; o < m; ++o) p[k * m + o] = ch < c ? w[((o * c + ch) * kh + i) * kw + j] : 0.f;
          }
  }

  // col[row][k], row = (n, oh, ow), k as in pack_weights; zero where the window falls into the padding.
  void im2col(const float* x) const {
    const int64_t n = x_shape_[0], c = x_shape_[1], h = x_shape_[2], w = x_shape_[3];
    const int64_t kh = w_.dim(2), kw = w_.dim(3), rows = n * oh_ * ow_;
    const int64_t cb = cb_, k = k_;
    const bool blocked = blocked_in_;
    float* col = col_;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      int64_t img = r / (oh_ * ow_), oy = r / ow_ % oh_, ox = r % ow_;
      float* dst = col + r * k;
      for (int64_t b = 0; b < cb; ++b)
        for (int64_t i = 0; i < kh; ++i) {
          int64_t iy = oy * sh_ - ph_ + i * dh_;
          for (int64_t j = 0; j < kw; ++j, dst += kChannelBlock) {
            int64_t ix = ox * sw_ - pw_ + j * dw_;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) {
              std::memset(dst, 0, kChannelBlock * sizeof(float));
            } else if (blocked) {
              std::memcpy(dst, x + (((img * cb + b) * h + iy) * w + ix) * kChannelBlock, kChannelBlock * sizeof(float));
            } else {
              for (int64_t c8 = 0; c8 < kChannelBlock; ++c8) {
                int64_t ch = b * kChannelBlock + c8;
                dst[c8] = ch < c ? x[((img * c + ch) * h + iy) * w + ix] : 0.f;
              }
            }
          }
        }
    }
  }

  // acc[row][o] + bias, post-ops in order, into the plain [n, m, oh, ow] or blocked [n, mb, oh, ow, 8] output; the
  // blocked layout's padded channels are written as zeros.
  // Channel blocks [ob_begin, ob_end) of every image.
  void epilogue(const float* bias, const float* sum, float* out, int64_t ob_begin, int64_t ob_end) const {
    const int64_t n = x_shape_[0], m = w_.dim(0), pix = oh_ * ow_;
    const int64_t mb = (m + kChannelBlock - 1) / kChannelBlock;
    const float* acc = acc_;
    const bool blocked_out = blocked_out_, blocked_sum = blocked_sum_;
    const std::vector<EpilogueOp>& post = post_ops_;
    for (int64_t img = 0; img < n; ++img)
      for (int64_t ob = ob_begin; ob < std::min(ob_end, mb); ++ob) {
        // The channels of this block that exist (the last block may be partial) and their bias; the padded ones
        // compute on zeros and are written as zeros.
        const int64_t o0 = ob * kChannelBlock, valid = std::min(kChannelBlock, m - o0);
        float b8[kChannelBlock] = {};
        for (int64_t c8 = 0; c8 < valid; ++c8) b8[c8] = bias ? bias[o0 + c8] : 0.f;
        for (int64_t p = 0; p < pix; ++p) {
          const float* a = acc + (img * pix + p) * m + o0;
          float v[kChannelBlock];
          if (valid == kChannelBlock) {
            for (int64_t c8 = 0; c8 < kChannelBlock; ++c8) v[c8] = a[c8] + b8[c8];
          } else {
            for (int64_t c8 = 0; c8 < kChannelBlock; ++c8) v[c8] = c8 < valid ? a[c8] + b8[c8] : 0.f;
          }
          for (const EpilogueOp& op : post) {
            switch (op.kind) {
              case Post::kRelu:
                for (float& f : v) f = f > 0.f ? f : 0.f;
                break;
              case Post::kLeakyRelu:
                for (float& f : v) f = f < 0.f ? op.alpha * f : f;
                break;
              case Post::kClip:
                for (float& f : v) f = std::min(std::max(f, op.alpha), op.beta);
                break;
              case Post::kSum:
                if (blocked_sum) {
                  const float* sp = sum + ((img * mb + ob) * pix + p) * kChannelBlock;
                  for (int64_t c8 = 0; c8 < kChannelBlock; ++c8) v[c8] += sp[c8];  // padded channels hold zeros
                } else {
                  for (int64_t c8 = 0; c8 < valid; ++c8) v[c8] += sum[(img * m + o0 + c8) * pix + p];
                }
                break;
            }
          }
          if (blocked_out) {
            float* dst = out + ((img * mb + ob) * pix + p) * kChannelBlock;
            if (valid == kChannelBlock) {
              for (int64_t c8 = 0; c8 < kChannelBlock; ++c8) dst[c8] = v[c8];
            } else {
              for (int64_t c8 = 0; c8 < kChannelBlock; ++c8) dst[c8] = c8 < valid ? v[c8] : 0.f;
            }
          } else {
            for (int64_t c8 = 0; c8 < valid; ++c8) out[(img * m + o0 + c8) * pix + p] = v[c8];
          }
        }
      }
  }

  const ir::Node& node_;
  std::vector<EpilogueOp> post_ops_;
  std::unique_ptr<Kernel> direct_;
  Tensor w_, packed_;  // weights, and as [k, m] row-major
  struct Chunk {
    int64_t begin, size;  // output channels
    Tensor packed;        // oneDNN's packed form of those rows of W^T
  };
  std::vector<Chunk> chunks_;
  bool blocked_in_ = false, blocked_sum_ = false, blocked_out_ = false, has_sum_ = false;
  Shape x_shape_;
  bool use_gemm_ = false;
  int64_t oh_ = 0, ow_ = 0, sh_ = 1, sw_ = 1, dh_ = 1, dw_ = 1, ph_ = 0, pw_ = 0, cb_ = 0, k_ = 0;
  Scratch col_buf_, acc_buf_;
  float *col_ = nullptr, *acc_ = nullptr;
  std::mutex mutex_;
};

std::unique_ptr<Kernel> make_gemm_conv(const KernelInfo& info, std::string* why) {
  const ir::Node& node = info.node;
  if (gemm_conv_policy() == GemmConvPolicy::kNever) {
    *why = "turned off (QUAC_CONV_GEMM=0)";
    return nullptr;
  }
  const Tensor* w = info.constant_inputs.size() > 1 ? info.constant_inputs[1] : nullptr;
  if (!w || w->dtype() != DataType::kFloat || w->rank() != 4) {
    *why = "needs constant float 2-D weights";
    return nullptr;
  }
  if (node.attr_int("group", 1) != 1) {
    *why = "grouped convolution";
    return nullptr;
  }
  // The parts of the auto rule the weights decide (the output size is only known at run time).
  if (gemm_conv_policy() == GemmConvPolicy::kAuto && !prefer_gemm_conv(1, w->dim(1), w->dim(2) * w->dim(3))) {
    *why = "the direct convolution is faster for this kernel size and channel count";
    return nullptr;
  }
  std::vector<EpilogueOp> post_ops;
  if (!accepts_float_epilogue(info, w->dim(0), &post_ops, why)) return nullptr;
  std::unique_ptr<Kernel> direct = make_kernel_below(info, kPriority);
  if (!direct) {
    *why = "no direct convolution kernel to hand the other shapes to";
    return nullptr;
  }
  return std::make_unique<GemmConvKernel>(info, std::move(post_ops), std::move(direct));
}

QUAC_REGISTER_CONV_KERNEL("onednn-gemm", kPriority, make_gemm_conv);

}  // namespace

void set_gemm_conv_policy(GemmConvPolicy policy) { g_policy.store(policy); }
GemmConvPolicy gemm_conv_policy() { return g_policy.load(); }
int64_t gemm_conv_runs() { return g_runs.load(); }

bool prefer_gemm_conv(int64_t rows, int64_t in_channels, int64_t window) {
  // Measured on AVX2 (Zen 3), one thread, weights out of cache as inside a model: six 512-channel 3x3 layers at 7x7
  // take 37 ms against 52 ms with the direct convolution (ONNX Runtime: 40 ms); at 14x14 outputs the direct
  // convolution is ahead, and 1x1 kernels are oneDNN's GEMM-like jit_1x1 path anyway.
  return window > 1 && rows <= 64 && in_channels * window >= 1024;
}

}  // namespace quac::kernels
