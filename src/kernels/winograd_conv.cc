// 2-D 3x3 stride-1 Conv / quac.FusedConv as Winograd F(2x2, 3x3) (see winograd_conv.h for when), on AVX2.
//
// The output is cut into 2x2 tiles; tile t reads a 4x4 input patch d (zero outside the image) and
//   Y_t = A^T [ sum over input channels  U (.) V ] A,   U = G g G^T (per channel pair),   V = B^T d B,
// so the work is 16 GEMMs, one per point xi of the 4x4 transformed tile: M_xi [tiles, OC] = V_xi [tiles, IC] x
// U_xi [IC, OC]. U is computed and packed for oneDNN's sgemm once per input shape; the tiles go in blocks of about 32,
// each block on one thread (dynamic schedule, so a vCPU the host slows down takes fewer blocks): transform the block's
// inputs, run its 16 GEMMs single-threaded, and transform the results back with the bias and the post-ops (Relu,
// LeakyRelu, Clip, Sum, in place when the runtime allows) into the plain or blocked output. Both the input and the
// output transform work on 8 channels at once, the blocked layout's channel block.
#include "kernels/winograd_conv.h"

#include <omp.h>

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

#if defined(__x86_64__)
#include <immintrin.h>
#define QUAC_WINOGRAD_X86 1
#endif

namespace quac::kernels {
namespace {

constexpr int kPriority = 30;
constexpr int64_t kPoints = 16;       // points of a transformed 4x4 tile
constexpr int64_t kTargetBlock = 64;  // tiles per block of GEMMs

std::atomic<WinogradPolicy> g_policy{policy_from_env<WinogradPolicy>("QUAC_CONV_WINOGRAD")};
std::atomic<int64_t> g_runs{0};

#if defined(QUAC_WINOGRAD_X86)

// What the transforms need to know of one problem.
struct Geometry {
  int64_t n, c, h, w;  // input (plain dimensions)
  int64_t m, oh, ow;   // output channels and size
  int64_t ph, pw;      // top and left padding
  int64_t th, tw;      // tiles per column and row
  int64_t cb, mb;      // input and output channel blocks
  int64_t icp, ocp;    // channels rounded up to whole blocks (the GEMMs' K and M)
  bool blocked_in, blocked_out, blocked_sum;
};

// V[xi][t][ic] for tiles [t0, t0 + count) of the whole batch, rows [count, tb) zero (the GEMMs always take tb rows).
__attribute__((target("avx2,fma"))) void input_transform(const Geometry& g, const float* x, int64_t t0, int64_t count,
                                                         int64_t tb, float* v) {
  const int64_t per_image = g.th * g.tw, xi_stride = tb * g.icp;
  for (int64_t i = 0; i < count; ++i) {
    const int64_t t = t0 + i, img = t / per_image, ty = t / g.tw % g.th, tx = t % g.tw;
    const int64_t y0 = 2 * ty - g.ph, x0 = 2 * tx - g.pw;
    const bool inside = y0 >= 0 && x0 >= 0 && y0 + 4 <= g.h && x0 + 4 <= g.w;
    for (int64_t b = 0; b < g.cb; ++b) {
      __m256 d[4][4];
      if (g.blocked_in) {
        const float* plane = x + (img * g.cb + b) * g.h * g.w * kChannelBlock;
        for (int r = 0; r < 4; ++r)
          for (int col = 0; col < 4; ++col) {
            const int64_t yy = y0 + r, xx = x0 + col;
            d[r][col] = inside || (yy >= 0 && yy < g.h && xx >= 0 && xx < g.w)
                            ? _mm256_loadu_ps(plane + (yy * g.w + xx) * kChannelBlock)
                            : _mm256_setzero_ps();
          }
      } else {
        for (int r = 0; r < 4; ++r)
          for (int col = 0; col < 4; ++col) {
            const int64_t yy = y0 + r, xx = x0 + col;
            alignas(32) float tmp[kChannelBlock] = {};
            if (yy >= 0 && yy < g.h && xx >= 0 && xx < g.w)
              for (int64_t c8 = 0; c8 < kChannelBlock; ++c8) {
                const int64_t ch = b * kChannelBlock + c8;
                if (ch < g.c) tmp[c8] = x[((img * g.c + ch) * g.h + yy) * g.w + xx];
              }
            d[r][col] = _mm256_load_ps(tmp);
          }
      }
      // B^T d: along each column.
      __m256 s[4][4];
      for (int col = 0; col < 4; ++col) {
        s[0][col] = _mm256_sub_ps(d[0][col], d[2][col]);
        s[1][col] = _mm256_add_ps(d[1][col], d[2][col]);
        s[2][col] = _mm256_sub_ps(d[2][col], d[1][col]);
        s[3][col] = _mm256_sub_ps(d[1][col], d[3][col]);
      }
      // (B^T d) B: along each row, stored at point r * 4 + col.
      float* dst = v + i * g.icp + b * kChannelBlock;
      for (int r = 0; r < 4; ++r) {
        float* p = dst + r * 4 * xi_stride;
        _mm256_storeu_ps(p, _mm256_sub_ps(s[r][0], s[r][2]));
        _mm256_storeu_ps(p + xi_stride, _mm256_add_ps(s[r][1], s[r][2]));
        _mm256_storeu_ps(p + 2 * xi_stride, _mm256_sub_ps(s[r][2], s[r][1]));
        _mm256_storeu_ps(p + 3 * xi_stride, _mm256_sub_ps(s[r][1], s[r][3]));
      }
    }
  }
  for (int64_t xi = 0; xi < kPoints; ++xi)
    for (int64_t i = count; i < tb; ++i) std::memset(v + xi * xi_stride + i * g.icp, 0, g.icp * sizeof(float));
}

// Y = A^T M A for tiles [t0, t0 + count), plus bias and post-ops, into the output (only the pixels that exist).
__attribute__((target("avx2,fma"))) void output_transform(const Geometry& g, const float* mm, int64_t t0, int64_t count,
                                                          int64_t tb, const float* bias,
                                                          const std::vector<EpilogueOp>& post, const float* sum,
                                                          float* out) {
  const int64_t per_image = g.th * g.tw, xi_stride = tb * g.ocp, pix = g.oh * g.ow;
  for (int64_t ob = 0; ob < g.mb; ++ob) {
    const int64_t o0 = ob * kChannelBlock, valid = std::min(kChannelBlock, g.m - o0);
    alignas(32) float b8[kChannelBlock] = {};
    for (int64_t c8 = 0; c8 < valid; ++c8) b8[c8] = bias ? bias[o0 + c8] : 0.f;
    const __m256 vb = _mm256_load_ps(b8);
    // Lanes of channels that exist: the blocked layout's padded channels are written as zeros.
    alignas(32) int32_t mask_bits[kChannelBlock];
    for (int64_t c8 = 0; c8 < kChannelBlock; ++c8) mask_bits[c8] = c8 < valid ? -1 : 0;
    const __m256 keep = _mm256_castsi256_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(mask_bits)));
    for (int64_t i = 0; i < count; ++i) {
      const int64_t t = t0 + i, img = t / per_image, ty = t / g.tw % g.th, tx = t % g.tw;
      const float* src = mm + i * g.ocp + o0;
      __m256 q[4][4];
      for (int r = 0; r < 4; ++r)
        for (int col = 0; col < 4; ++col) q[r][col] = _mm256_loadu_ps(src + (r * 4 + col) * xi_stride);
      // A^T M: along each column.
      __m256 s[2][4];
      for (int col = 0; col < 4; ++col) {
        s[0][col] = _mm256_add_ps(_mm256_add_ps(q[0][col], q[1][col]), q[2][col]);
        s[1][col] = _mm256_sub_ps(_mm256_sub_ps(q[1][col], q[2][col]), q[3][col]);
      }
      for (int r = 0; r < 2; ++r) {
        const int64_t oy = 2 * ty + r;
        if (oy >= g.oh) break;
        __m256 y[2] = {_mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s[r][0], s[r][1]), s[r][2]), vb),
                       _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(s[r][1], s[r][2]), s[r][3]), vb)};
        for (int col = 0; col < 2; ++col) {
          const int64_t ox = 2 * tx + col;
          if (ox >= g.ow) break;
          const int64_t p = oy * g.ow + ox;
          __m256 val = y[col];
          for (const EpilogueOp& op : post) {
            switch (op.kind) {
              case EpilogueKind::kRelu:
                val = _mm256_max_ps(val, _mm256_setzero_ps());
                break;
              case EpilogueKind::kLeakyRelu: {
                const __m256 neg = _mm256_cmp_ps(val, _mm256_setzero_ps(), _CMP_LT_OQ);
                val = _mm256_blendv_ps(val, _mm256_mul_ps(val, _mm256_set1_ps(op.alpha)), neg);
                break;
              }
              case EpilogueKind::kClip:
                val = _mm256_min_ps(_mm256_max_ps(val, _mm256_set1_ps(op.alpha)), _mm256_set1_ps(op.beta));
                break;
              case EpilogueKind::kSum:
                if (g.blocked_sum) {
                  val = _mm256_add_ps(val, _mm256_loadu_ps(sum + ((img * g.mb + ob) * pix + p) * kChannelBlock));
                } else {
                  alignas(32) float s8[kChannelBlock] = {};
                  for (int64_t c8 = 0; c8 < valid; ++c8) s8[c8] = sum[(img * g.m + o0 + c8) * pix + p];
                  val = _mm256_add_ps(val, _mm256_load_ps(s8));
                }
                break;
            }
          }
          if (g.blocked_out) {
            _mm256_storeu_ps(out + ((img * g.mb + ob) * pix + p) * kChannelBlock, _mm256_and_ps(val, keep));
          } else {
            alignas(32) float v8[kChannelBlock];
            _mm256_store_ps(v8, val);
            for (int64_t c8 = 0; c8 < valid; ++c8) out[(img * g.m + o0 + c8) * pix + p] = v8[c8];
          }
        }
      }
    }
  }
}

class WinogradConvKernel : public Kernel {
 public:
  WinogradConvKernel(const KernelInfo& info, std::vector<EpilogueOp> post_ops, std::unique_ptr<Kernel> fallback)
      : node_(info.node), post_ops_(std::move(post_ops)), fallback_(std::move(fallback)) {
    w_ = *info.constant_inputs[1];
    g_.blocked_in = ops::is_blocked_input(node_, 0);
    g_.blocked_sum = ops::is_blocked_input(node_, 3);
    g_.blocked_out = node_.attr_int("blocked_output", 0) != 0;
    for (const auto& p : post_ops_) has_sum_ |= p.kind == EpilogueKind::kSum;
  }

  const char* last_variant() const override {
    if (x_shape_.empty()) return nullptr;
    return use_ ? "winograd" : fallback_->last_variant() ? fallback_->last_variant() : "onednn";
  }

  void run(KernelContext& ctx) override {
    std::unique_lock<std::mutex> lock(mutex_);
    const Tensor& x = ctx.in(0);
    const int64_t c = w_.dim(1), m = w_.dim(0);
    const Shape& s = x.shape();
    if (g_.blocked_in && (s.size() != 5 || s[1] != (c + kChannelBlock - 1) / kChannelBlock || s[4] != kChannelBlock))
      ctx.fail("blocked input has unexpected shape " + shape_str(s));
    const Shape plain = g_.blocked_in ? Shape{s[0], c, s[2], s[3]} : s;
    if (plain != x_shape_ || ctx.num_threads() != threads_) prepare(ctx, plain);
    if (!use_) {
      lock.unlock();  // the next kernel has its own lock
      fallback_->run(ctx);
      return;
    }
    if (x.dtype() != DataType::kFloat) ctx.fail("the Winograd Conv needs float32");
    const Tensor* b = ctx.input(2);
    if (b && (b->dtype() != DataType::kFloat || b->numel() != m)) ctx.fail("bias must be float with M elements");
    const Tensor* sum = has_sum_ ? &ctx.in(3) : nullptr;
    const Shape ys = {g_.n, m, g_.oh, g_.ow};
    const Shape out_shape = g_.blocked_out ? blocked_shape(g_.n, m, g_.oh, g_.ow) : ys;
    const Shape sum_shape = g_.blocked_sum ? blocked_shape(g_.n, m, g_.oh, g_.ow) : ys;
    if (sum && (sum->dtype() != DataType::kFloat || sum->shape() != sum_shape))
      ctx.fail("the Sum input must have shape " + shape_str(sum_shape) + ", got " + shape_str(sum->shape()));
    // Each output pixel reads its residual right before it is written, by the same thread: accumulating into the
    // residual's own storage is safe when nothing else reads it.
    float* out;
    if (sum && sum->shape() == out_shape && g_.blocked_sum == g_.blocked_out && ctx.input_reusable(3)) {
      ctx.set_output(0, *sum);
      out = const_cast<float*>(sum->data<float>());
    } else {
      out = ctx.allocate_output(0, DataType::kFloat, out_shape).data<float>();
    }

    const Geometry& g = g_;
    const float* xd = x.data<float>();
    const float* bias = b ? b->data<float>() : nullptr;
    const float* sd = sum ? sum->data<float>() : nullptr;
    const int64_t tiles = g.n * g.th * g.tw, tb = tb_, nblocks = (tiles + tb - 1) / tb;
    const dnnl_dim_t gm = g.ocp, gn = tb, gk = g.icp;
    const float beta = 0.f;
    const size_t v_size = static_cast<size_t>(kPoints * tb * g.icp), m_size = static_cast<size_t>(kPoints * tb * g.ocp);
    float* work = work_;
    const std::vector<Tensor>& packed = packed_;
    const std::vector<EpilogueOp>& post = post_ops_;
    int failed = 0;
    const int nthr = static_cast<int>(std::min<int64_t>(threads_, nblocks));
#pragma omp parallel num_threads(nthr) if (nthr > 1)
    {
      float* v = work + static_cast<size_t>(omp_get_thread_num()) * (v_size + m_size);
      float* mm = v + v_size;
#pragma omp for schedule(dynamic, 1)
      for (int64_t blk = 0; blk < nblocks; ++blk) {
        const int64_t t0 = blk * tb, count = std::min(tb, tiles - t0);
        input_transform(g, xd, t0, count, tb, v);
        for (int64_t xi = 0; xi < kPoints; ++xi) {
          if (dnnl::impl::cpu::sgemm_compute("P", "N", &gm, &gn, &gk, packed[static_cast<size_t>(xi)].data<float>(),
                                             &gm, v + xi * tb * g.icp, &gk, &beta, mm + xi * tb * g.ocp,
                                             &gm) != dnnl_success) {
#pragma omp atomic write
            failed = 1;
          }
        }
        output_transform(g, mm, t0, count, tb, bias, post, sd, out);
      }
    }
    if (failed) ctx.fail("oneDNN sgemm failed");
    g_runs.fetch_add(1, std::memory_order_relaxed);
  }

 private:
  void prepare(KernelContext& ctx, const Shape& xs) {
    if (xs.size() != 4 || xs[1] != w_.dim(1))
      ctx.fail("input " + shape_str(xs) + " does not match weights " + shape_str(w_.shape()));
    Shape o, pb, pe;
    if (!passes::window_output(node_, {xs[2], xs[3]}, {3, 3}, &o, &pb, &pe))
      ctx.fail("invalid convolution attributes for input");
    x_shape_ = xs;
    threads_ = ctx.num_threads();
    Geometry& g = g_;
    g.n = xs[0];
    g.c = xs[1];
    g.h = xs[2];
    g.w = xs[3];
    g.m = w_.dim(0);
    g.oh = o[0];
    g.ow = o[1];
    g.ph = pb[0];
    g.pw = pb[1];
    g.th = (g.oh + 1) / 2;
    g.tw = (g.ow + 1) / 2;
    g.cb = (g.c + kChannelBlock - 1) / kChannelBlock;
    g.mb = (g.m + kChannelBlock - 1) / kChannelBlock;
    g.icp = g.cb * kChannelBlock;
    g.ocp = g.mb * kChannelBlock;
    const WinogradPolicy policy = winograd_policy();
    use_ = g.n > 0 && g.oh > 0 && g.ow > 0 &&  // an empty output goes to the next kernel
           (policy == WinogradPolicy::kAlways ||
            (policy == WinogradPolicy::kAuto && prefer_winograd(g.n * g.oh * g.ow, g.c, g.m)));
    if (!use_) return;
    // Only the packed form is kept; a new input shape transforms the weights again.
    const Tensor u = transform_weights();
    // Blocks of about kTargetBlock tiles, their number a multiple of the thread count so that an even split exists.
    const int64_t tiles = g.n * g.th * g.tw;
    int64_t nblocks = std::max<int64_t>(1, (tiles + kTargetBlock - 1) / kTargetBlock);
    nblocks = std::min(tiles, (nblocks + threads_ - 1) / threads_ * threads_);
    tb_ = (tiles + nblocks - 1) / nblocks;
    // The packed form depends on the GEMM's size, so it is made per input shape.
    packed_.clear();
    const dnnl_dim_t gm = g.ocp, gn = tb_, gk = g.icp;
    for (int64_t xi = 0; xi < kPoints; ++xi) {
      size_t bytes = 0;
      bool worth = false;
      if (dnnl::impl::cpu::sgemm_pack_get_size("A", "N", "N", &gm, &gn, &gk, &gm, &gk, &bytes, &worth) != dnnl_success)
        ctx.fail("oneDNN could not size the packed weights");
      Tensor p(DataType::kFloat, {static_cast<int64_t>(bytes / sizeof(float)) + 16});
      if (dnnl::impl::cpu::sgemm_pack("A", "N", "N", &gm, &gn, &gk, &gm, &gk, u.data<float>() + xi * g.icp * g.ocp,
                                      p.data<float>()) != dnnl_success)
        ctx.fail("oneDNN could not pack the weights");
      packed_.push_back(std::move(p));
    }
    const size_t per_thread = static_cast<size_t>(kPoints * tb_ * (g.icp + g.ocp));
    work_ = static_cast<float*>(work_buf_.get(per_thread * static_cast<size_t>(threads_) * sizeof(float)));
  }

  // U[xi][ic][oc] = (G g G^T)[xi] for each channel pair; zero for the padded channels.
  Tensor transform_weights() const {
    const Geometry& g = g_;
    Tensor out(DataType::kFloat, {kPoints, g.icp, g.ocp});
    float* u = out.data<float>();
    std::memset(u, 0, static_cast<size_t>(out.numel()) * sizeof(float));
    const float* w = w_.data<float>();
    for (int64_t oc = 0; oc < g.m; ++oc)
      for (int64_t ic = 0; ic < g.c; ++ic) {
        const float* k = w + (oc * g.c + ic) * 9;
        float z[4][3];  // G g
        for (int col = 0; col < 3; ++col) {
          z[0][col] = k[col];
          z[1][col] = 0.5f * (k[col] + k[3 + col] + k[6 + col]);
          z[2][col] = 0.5f * (k[col] - k[3 + col] + k[6 + col]);
          z[3][col] = k[6 + col];
        }
        for (int r = 0; r < 4; ++r) {
          const float row[4] = {z[r][0], 0.5f * (z[r][0] + z[r][1] + z[r][2]), 0.5f * (z[r][0] - z[r][1] + z[r][2]),
                                z[r][2]};
          for (int col = 0; col < 4; ++col) u[((r * 4 + col) * g.icp + ic) * g.ocp + oc] = row[col];
        }
      }
    return out;
  }

  const ir::Node& node_;
  std::vector<EpilogueOp> post_ops_;
  std::unique_ptr<Kernel> fallback_;
  Tensor w_;
  std::vector<Tensor> packed_;  // oneDNN's packed form of U[xi], one per point
  Geometry g_{};
  bool has_sum_ = false, use_ = false;
  Shape x_shape_;
  int threads_ = 0;
  int64_t tb_ = 0;
  Scratch work_buf_;  // per thread: V [16, tb, icp] then M [16, tb, ocp]
  float* work_ = nullptr;
  std::mutex mutex_;
};

std::unique_ptr<Kernel> make_winograd_conv(const KernelInfo& info, std::string* why) {
  const ir::Node& node = info.node;
  if (winograd_policy() == WinogradPolicy::kNever) {
    *why = "turned off (QUAC_CONV_WINOGRAD=0)";
    return nullptr;
  }
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    *why = "needs AVX2 and FMA";
    return nullptr;
  }
  const Tensor* w = info.constant_inputs.size() > 1 ? info.constant_inputs[1] : nullptr;
  if (!w || w->dtype() != DataType::kFloat || w->rank() != 4 || w->dim(2) != 3 || w->dim(3) != 3) {
    *why = "needs constant float 3x3 weights";
    return nullptr;
  }
  if (node.attr_int("group", 1) != 1) {
    *why = "grouped convolution";
    return nullptr;
  }
  const auto strides = node.attr_ints("strides", {1, 1}), dil = node.attr_ints("dilations", {1, 1});
  if (strides != std::vector<int64_t>{1, 1} || dil != std::vector<int64_t>{1, 1}) {
    *why = "needs stride 1 and no dilation";
    return nullptr;
  }
  const auto kernel_shape = node.attr_ints("kernel_shape", {3, 3});
  if (kernel_shape != std::vector<int64_t>{3, 3}) {
    *why = "kernel_shape is not 3x3";
    return nullptr;
  }
  if (winograd_policy() == WinogradPolicy::kAuto && !prefer_winograd(1 << 20, w->dim(1), w->dim(0))) {
    *why = "the other convolutions are faster for these channel counts";
    return nullptr;
  }
  std::vector<EpilogueOp> post_ops;
  if (!accepts_float_epilogue(info, w->dim(0), &post_ops, why)) return nullptr;
  std::unique_ptr<Kernel> fallback = make_kernel_below(info, kPriority);
  if (!fallback) {
    *why = "no other convolution kernel to hand the other shapes to";
    return nullptr;
  }
  return std::make_unique<WinogradConvKernel>(info, std::move(post_ops), std::move(fallback));
}

#else  // not x86-64: the kernel is not registered

std::unique_ptr<Kernel> make_winograd_conv(const KernelInfo&, std::string* why) {
  *why = "only built for x86-64";
  return nullptr;
}

#endif

QUAC_REGISTER_CONV_KERNEL("winograd", kPriority, make_winograd_conv);

}  // namespace

void set_winograd_policy(WinogradPolicy policy) { g_policy.store(policy); }
WinogradPolicy winograd_policy() { return g_policy.load(); }
int64_t winograd_runs() { return g_runs.load(); }

bool prefer_winograd(int64_t rows, int64_t in_channels, int64_t out_channels) {
  // Measured on AVX2 (Zen 3), chains of eight or sixteen layers, per layer at 1 and 2 threads (2026-11-27):
  // - 64 channels at 56x56: 2.35 ms against 2.88 for oneDNN's direct convolution; 128 at 28x28 and 256 at 14x14:
  //   1.6-2.1 ms against 3.0-3.4 ms.
  // - 16 or 32 channels: up to 2x slower (16 small GEMM calls per block of tiles cost more than they save).
  // - 7x7 outputs (16 tiles): no faster than the gemm convolution, which packs the whole layer into one GEMM.
  // The transformed weights take 16 * in * out floats; past 32 MB the direct convolution keeps the layer.
  return rows > 64 && in_channels >= 64 && out_channels >= 64 && in_channels * out_channels <= 512 * 1024;
}

}  // namespace quac::kernels
