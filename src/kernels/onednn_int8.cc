// oneDNN INT8 kernels for quac.QConv, quac.QMatMul and quac.QPool (contracts in ops/int8_ref.cc), plus fast
// per-tensor QuantizeLinear / DequantizeLinear.
//
// Mapping onto oneDNN: the activation is fed as u8 (an s8 tensor is shifted by 128 by flipping its top bit, its zero
// point moved by 128: the same real values), its zero point as a runtime src zero point; weights are s8; the bias is
// given in accumulator units (bias / (x_scale * w_scale[c])); output scales carry x_scale * w_scale[c] / y_scale
// (per output channel) and the output zero point is a runtime dst zero point. Relu / LeakyRelu / Clip commute with a
// positive scale, so they (and the residual sum, scaled by sum_scale / y_scale, with its zero point) run in the
// output's quantized domain; any other activation runs in the real domain, followed by a linear 1 / y_scale.
//
// Saturation (oneDNN "Nuances of int8 computations"): without VNNI, x86 INT8 kernels multiply u8 x s8 with
// vpmaddubsw, which adds adjacent products into a saturating s16. With u8 activations (<= 255) that is exact only
// while |w| <= 64 (2 * 255 * 64 = 32640 <= 32767). With s8 activations oneDNN instead halves the weights (their
// "scale adjust" 0.5), which rounds odd weights away, so s8 activations are never fed as such. Decision: the INT8
// primitive runs when the machine has VNNI (avx2_vnni / avx512_core_vnni: exact 32-bit dot products) or when every
// weight of the layer is within [-64, 64] (7-bit weights, as POT's saturation_fix / weights bits 7 produce). Any
// other layer runs exactly in float32 on oneDNN (dequantized input and weights, quantized output): correct, but
// without the INT8 speed-up. Quantize with 7-bit weights (`{"weights": {"bits": 7}}`) for fast INT8 on such CPUs.
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>

#include "core/parallel.h"
#include "kernels/blocked_layout.h"
#include "kernels/cpu_features.h"
#include "kernels/onednn_util.h"
#include "ops/int8_layout.h"
#include "ops/quant_util.h"
#include "passes/shape_infer.h"

namespace quac::kernels {
namespace {

// True when oneDNN's INT8 primitives compute these weights exactly on this CPU (see the note at the top).
bool int8_exact(const Tensor& w) {
  if (cpu_has_vnni()) return true;
  const int8_t* d = w.data<int8_t>();
  for (int64_t i = 0; i < w.numel(); ++i)
    if (d[i] < -64 || d[i] > 64) return false;
  return true;
}

// Prepares the INT8 form of a kernel (*int8 true), keeping it when oneDNN made it with an optimised implementation;
// otherwise (a reference implementation, far slower than the exact float path, for odd grouped shapes say, or no
// primitive at all) prepares the float form instead. `impl` gives the prepared primitive's implementation name.
template <typename Prepare, typename Impl>
void prepare_int8_or_float(bool* int8, Prepare prepare, Impl impl) {
  if (*int8) {
    try {
      prepare();
      if (std::string(impl()).find("ref") == std::string::npos) return;
    } catch (const dnnl::error&) {
    }
    *int8 = false;
  }
  prepare();
}

bool is_qdq(const std::string& op) { return op == "QDQ_U8" || op == "QDQ_S8"; }
bool homogeneous(const std::string& op) { return op == "Relu" || op == "LeakyRelu" || op == "Clip" || op == "Sum"; }

struct Quantizer {
  float scale = 1;
  int32_t zp = 0;
  DataType type = DataType::kFloat;  // kFloat: not quantized
};

Quantizer quantizer_at(const KernelInfo& info, size_t index) {
  Quantizer q;
  const Tensor* s = info.constant_inputs[index];
  const Tensor* z = info.constant_inputs[index + 1];
  q.scale = s->data<float>()[0];
  q.zp = static_cast<int32_t>(z->scalar_as_int(0));
  q.type = z->dtype();
  return q;
}

// Inputs that must be constant scalars (scale, zero point) when present; false when one is not.
bool constant_quantizer(const KernelInfo& info, size_t index, bool required, std::string* why) {
  const ir::Node& n = info.node;
  if (!n.has_input(index) && !n.has_input(index + 1) && !required) return true;
  const Tensor* s = index < info.constant_inputs.size() ? info.constant_inputs[index] : nullptr;
  const Tensor* z = index + 1 < info.constant_inputs.size() ? info.constant_inputs[index + 1] : nullptr;
  if (!s || !z || s->dtype() != DataType::kFloat || s->numel() != 1 || z->numel() != 1 ||
      !ops::is_quantized_8bit(z->dtype()) || !(s->data<float>()[0] > 0)) {
    *why = "scales and zero points must be constant scalars";
    return false;
  }
  return true;
}

dt dnnl_type(DataType t) { return t == DataType::kUInt8 ? dt::u8 : t == DataType::kInt8 ? dt::s8 : dt::f32; }

// Element-wise map between [N, C, HW] tensors stored channels-first or channels-last.
template <typename S, typename D, typename F>
void map_layout(const S* src, bool src_nhwc, D* dst, bool dst_nhwc, int64_t n, int64_t c, int64_t hw, int threads,
                F f) {
  if (src_nhwc == dst_nhwc) {
    // Everything by value and restrict-qualified: a store through a 1-byte pointer may alias anything, and reloading
    // captured references after each store would keep the loop from vectorising.
    parallel_for(
        n * c * hw, threads,
        [src, dst, f](int64_t b, int64_t e) {
          const S* __restrict s = src;
          D* __restrict d = dst;
          for (int64_t i = b; i < e; ++i) d[i] = f(s[i]);
        },
        1 << 14);
    return;
  }
  parallel_for(
      n * hw, threads,
      [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; ++r) {
          int64_t i = r / hw, p = r % hw;
          for (int64_t ch = 0; ch < c; ++ch) {
            int64_t cl = r * c + ch, cf = (i * c + ch) * hw + p;
            if (src_nhwc)
              dst[cf] = f(src[cl]);
            else
              dst[cl] = f(src[cf]);
          }
        }
      },
      64);
}

// QuantizeLinear's arithmetic (divide in float, round half to even, saturate; NaN -> zero point), written so the
// compiler vectorises it without SSE4.1's roundps: saturating first keeps |q| small, where adding and subtracting
// 1.5 * 2^23 rounds half to even under the default rounding mode.
template <typename Q>
inline Q quantize_fast(float v, float scale, int32_t zp) {
  constexpr float lo = std::numeric_limits<Q>::lowest(), hi = std::numeric_limits<Q>::max();
  constexpr float kMagic = 12582912.f;
  float q = v / scale;
  q = q == q ? q : 0.f;
  float zf = static_cast<float>(zp);
  q = std::min(std::max(q, lo - zf), hi - zf);
  q = (q + kMagic) - kMagic;
  return static_cast<Q>(static_cast<int32_t>(q) + zp);
}

// Writes the float (real) result in `src` (layout src_nhwc) to `out` (layout dst_nhwc), quantized with q or float.
void store_output(const float* src, bool src_nhwc, Tensor& out, bool dst_nhwc, const Quantizer& q, int64_t n, int64_t c,
                  int64_t hw, int threads) {
  if (q.type == DataType::kFloat) {
    map_layout(src, src_nhwc, out.data<float>(), dst_nhwc, n, c, hw, threads, [](float v) { return v; });
  } else if (q.type == DataType::kUInt8) {
    map_layout(src, src_nhwc, out.data<uint8_t>(), dst_nhwc, n, c, hw, threads,
               [scale = q.scale, zp = q.zp](float v) { return quantize_fast<uint8_t>(v, scale, zp); });
  } else {
    map_layout(src, src_nhwc, out.data<int8_t>(), dst_nhwc, n, c, hw, threads,
               [scale = q.scale, zp = q.zp](float v) { return quantize_fast<int8_t>(v, scale, zp); });
  }
}

// Dequantizes an 8-bit tensor to float real values, converting the layout.
void dequantize_into(const Tensor& t, bool src_nhwc, float* dst, bool dst_nhwc, const Quantizer& q, int64_t n,
                     int64_t c, int64_t hw, int threads) {
  float s = q.scale;
  int32_t zp = q.zp;
  if (t.dtype() == DataType::kUInt8)
    map_layout(t.data<uint8_t>(), src_nhwc, dst, dst_nhwc, n, c, hw, threads,
               [=](uint8_t v) { return static_cast<float>(static_cast<int32_t>(v) - zp) * s; });
  else
    map_layout(t.data<int8_t>(), src_nhwc, dst, dst_nhwc, n, c, hw, threads,
               [=](int8_t v) { return static_cast<float>(static_cast<int32_t>(v) - zp) * s; });
}

// s8 -> u8 with the value shifted by 128 (top bit flipped), same layout.
void shift_to_u8(const int8_t* src, uint8_t* dst, int64_t count, int threads) {
  parallel_for(
      count, threads,
      [src, dst](int64_t b, int64_t e) {
        const int8_t* __restrict s = src;
        uint8_t* __restrict d = dst;
        for (int64_t i = b; i < e; ++i) d[i] = static_cast<uint8_t>(s[i]) ^ 0x80u;
      },
      1 << 15);
}

bool post_ops_of(const ir::Node& node, std::vector<PostOp>* out, std::string* why) {
  if (!read_post_ops(node, out, why)) return false;
  for (const auto& p : *out) {
    if (is_qdq(p.op) && !(p.alpha > 0)) return (*why = "invalid QDQ post-op scale", false);
    if ((!is_qdq(p.op) && !known_post_op(p.op)) || (p.op == "Clip" && (std::isnan(p.alpha) || std::isnan(p.beta)))) {
      *why = "unsupported post-op " + p.op;
      return false;
    }
  }
  return true;
}

// The post-op chain runs on values v = real / d, d being the chain's current "domain". The primitive's output
// scales produce domain d0 (see first_domain); Relu / LeakyRelu do not care about d, Clip's bounds are divided by
// d, other activations need d = 1, a QDQ (intermediate QuantizeLinear -> DequantizeLinear) moves to d = its scale
// and rounds and clips there, the residual sum is scaled to d, and a final linear moves to final_div (the output
// scale, or 1 for real values).
float first_domain(const std::vector<PostOp>& ops, float final_div) {
  for (const auto& p : ops) {
    if (is_qdq(p.op)) return p.alpha;
    if (!homogeneous(p.op)) return 1.f;
  }
  return final_div;
}

bool build_post_ops(const std::vector<PostOp>& ops, float d0, float final_div, const Quantizer& sum_q,
                    dnnl::post_ops& pops) {
  using alg = dnnl::algorithm;
  float d = d0;
  for (const auto& p : ops) {
    if (p.op == "Sum") {
      if (sum_q.type == DataType::kFloat)
        pops.append_sum(1.f / d);
      else
        pops.append_sum(sum_q.scale / d, sum_q.zp, dnnl_type(sum_q.type));
    } else if (p.op == "Relu" || p.op == "LeakyRelu") {
      if (!append_eltwise(pops, p.op, p.alpha, p.beta)) return false;
    } else if (p.op == "Clip") {
      float lo = std::isinf(p.alpha) ? p.alpha : p.alpha / d, hi = std::isinf(p.beta) ? p.beta : p.beta / d;
      if (!append_eltwise(pops, "Clip", lo, hi)) return false;
    } else if (is_qdq(p.op)) {
      float s = p.alpha, z = p.beta;
      float lo = p.op == "QDQ_U8" ? 0.f : -128.f, hi = p.op == "QDQ_U8" ? 255.f : 127.f;
      if (d != s) pops.append_eltwise(1.f, alg::eltwise_linear, d / s, 0.f);
      pops.append_eltwise(1.f, alg::eltwise_round, 0.f, 0.f);
      pops.append_eltwise(1.f, alg::eltwise_clip_v2, lo - z, hi - z);
      d = s;
    } else {
      if (d != 1.f) pops.append_eltwise(1.f, alg::eltwise_linear, d, 0.f);
      d = 1.f;
      if (!append_eltwise(pops, p.op, p.alpha, p.beta)) return false;
    }
  }
  if (d != final_div) pops.append_eltwise(1.f, alg::eltwise_linear, d / final_div, 0.f);
  return true;
}

dnnl::memory s32_scalar(int32_t v) {
  dnnl::memory m({{1}, dt::s32, tag::x}, cpu_engine());
  *static_cast<int32_t*>(m.get_data_handle()) = v;
  return m;
}

// The runtime zero points of an INT8 primitive's source and destination (left out when zero).
struct ZeroPoints {
  bool src = false, dst = false;
  dnnl::memory src_mem, dst_mem;
  void configure(dnnl::primitive_attr& attr, int32_t src_zp, int32_t dst_zp) {
    if (src_zp != 0) {
      attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
      src = true;
      src_mem = s32_scalar(src_zp);
    }
    if (dst_zp != 0) {
      attr.set_zero_points(DNNL_ARG_DST, 0, {DNNL_RUNTIME_S32_VAL});
      dst = true;
      dst_mem = s32_scalar(dst_zp);
    }
  }
  void add_to(std::unordered_map<int, dnnl::memory>& args) const {
    if (src) args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC] = src_mem;
    if (dst) args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_DST] = dst_mem;
  }
};

// ------------------------------------------------------------------------------------------------------------------
// quac.QConv (2-D)

class QConvKernel : public Kernel {
 public:
  // Whether the layer runs in INT8 or, exactly, in float (8-bit weights without VNNI; see int8_exact).
  const char* last_variant() const override { return int8_ ? "onednn-int8" : "onednn-float"; }
  explicit QConvKernel(const KernelInfo& info, std::vector<PostOp> post_ops)
      : node_(info.node), post_ops_(std::move(post_ops)) {
    x_q_ = quantizer_at(info, 1);
    w_ = *info.constant_inputs[3];
    const Tensor& ws = *info.constant_inputs[4];
    w_scale_.assign(ws.data<float>(), ws.data<float>() + ws.numel());
    if (node_.has_input(5)) bias_ = *info.constant_inputs[5];
    if (node_.has_input(6)) y_q_ = quantizer_at(info, 6);
    has_sum_ = node_.has_input(8);
    if (node_.has_input(9)) sum_q_ = quantizer_at(info, 9);  // else a float residual
    group_ = node_.attr_int("group", 1);
    nhwc_in_ = ops::is_nhwc_input(node_, 0);
    nhwc_sum_ = ops::is_nhwc_input(node_, 8);
    nhwc_out_ = node_.attr_int("nhwc_output", 0) != 0;
    blocked_out_ = node_.attr_int("blocked_output", 0) != 0 && y_q_.type == DataType::kFloat;
    int8_ = int8_exact(w_);
  }

  void run(KernelContext& ctx) override {
    std::lock_guard<std::mutex> lock(mutex_);
    const Tensor& x = ctx.in(0);
    if (x.dtype() != x_q_.type) ctx.fail("input type does not match its zero point");
    if (x.rank() != 4) ctx.fail("the INT8 convolution needs a rank-4 input");
    Shape xs = nhwc_in_ ? Shape{x.dim(0), x.dim(3), x.dim(1), x.dim(2)} : x.shape();
    if (xs[1] != w_.dim(1) * group_)
      ctx.fail("input " + shape_str(xs) + " does not match weights " + shape_str(w_.shape()));
    if (!state_ || state_->x_shape != xs) prepare(ctx, xs);
    State& s = *state_;
    auto& strm = cpu_stream();
    int threads = ctx.num_threads();
    int64_t n = xs[0], c = xs[1], hw_in = xs[2] * xs[3];
    int64_t m = s.y_shape[1], hw_out = s.y_shape[2] * s.y_shape[3];

    // Source in the primitive's form: nhwc u8 (INT8) or nhwc f32 real values (float path). The memories, reorders
    // and argument map were made once in prepare(); a run only points them at this run's data.
    if (int8_) {
      const void* data = x.raw_data();
      if (x.dtype() == DataType::kInt8) {
        auto* tmp = static_cast<uint8_t*>(shift_buf_.get(x.nbytes()));
        shift_to_u8(x.data<int8_t>(), tmp, x.numel(), threads);
        data = tmp;
      }
      if (nhwc_in_) {
        s.src.set_data_handle(const_cast<void*>(data));
      } else {
        s.src_user.set_data_handle(const_cast<void*>(data));
        s.src.set_data_handle(src_buf_.get(x.nbytes()));
        s.src_reorder.execute(strm, s.src_user, s.src);
      }
    } else {
      auto* f = static_cast<float*>(src_buf_.get(static_cast<size_t>(x.numel()) * sizeof(float)));
      dequantize_into(x, nhwc_in_, f, true, x_q_, n, c, hw_in, threads);
      s.src.set_data_handle(f);
    }

    Shape out_shape = nhwc_out_      ? Shape{n, s.y_shape[2], s.y_shape[3], m}
                      : blocked_out_ ? blocked_shape(n, m, s.y_shape[2], s.y_shape[3])
                                     : s.y_shape;
    bool direct = int8_ && nhwc_out_;
    // An 8-bit channels-last residual of the output's type that nobody reads later becomes the output: the sum
    // post-op accumulates into it, with no copy first.
    const Tensor* residual = has_sum_ ? &ctx.in(8) : nullptr;
    const bool in_place = residual && direct && nhwc_sum_ && s.dst_dt != dt::f32 && residual->dtype() == y_q_.type &&
                          residual->shape() == out_shape && ctx.input_reusable(8);
    Tensor out = in_place ? *residual : ctx.allocate_output(0, y_q_.type, out_shape);  // shares the slot's storage
    if (in_place) ctx.set_output(0, out);
    void* dst_ptr = direct ? out.raw_data() : dst_buf_.get(s.pd.dst_desc().get_size());
    s.dst.set_data_handle(dst_ptr);
    if (has_sum_ && !in_place) {
      const Tensor& sum = ctx.in(8);
      Shape ss = nhwc_sum_ ? Shape{sum.dim(0), sum.dim(3), sum.dim(1), sum.dim(2)} : sum.shape();
      if (sum.rank() != 4 || ss != s.y_shape || sum.dtype() != sum_q_.type)
        ctx.fail("the residual input must have the output's shape " + shape_str(s.y_shape) + " and its type");
      if (sum.dtype() == DataType::kFloat) {
        map_layout(sum.data<float>(), nhwc_sum_, static_cast<float*>(dst_ptr), true, n, m, hw_out, threads,
                   [](float v) { return v; });
      } else if (s.dst_dt == dt::f32) {
        dequantize_into(sum, nhwc_sum_, static_cast<float*>(dst_ptr), true, sum_q_, n, m, hw_out, threads);
      } else if (nhwc_sum_) {
        std::memcpy(dst_ptr, sum.raw_data(), sum.nbytes());
      } else {
        s.sum_user.set_data_handle(const_cast<void*>(sum.raw_data()));
        s.sum_reorder.execute(strm, s.sum_user, s.dst);
      }
    }
    s.conv.execute(strm, s.args);
    if (!direct) {
      if (int8_ || (y_q_.type == DataType::kFloat && !nhwc_out_)) {  // nhwc result, the output wants nchw/nChw8c
        s.out_user.set_data_handle(out.raw_data());
        s.dst_reorder.execute(strm, s.dst, s.out_user);
      } else {
        store_output(static_cast<const float*>(dst_ptr), true, out, nhwc_out_, y_q_, n, m, hw_out, threads);
      }
    }
    strm.wait();
  }

 private:
  struct State {
    Shape x_shape, y_shape;
    dt dst_dt = dt::f32;
    dnnl::convolution_forward::primitive_desc pd;
    dnnl::convolution_forward conv;
    dnnl::memory weights, bias;
    ZeroPoints zp;
    // Handles set per run: the primitive's source and destination, the user-layout source, residual and output.
    dnnl::memory src, dst, src_user, sum_user, out_user, scratchpad;
    dnnl::reorder src_reorder, dst_reorder, sum_reorder;
    std::unordered_map<int, dnnl::memory> args;
  };

  void prepare(KernelContext& ctx, const Shape& xs) {
    prepare_int8_or_float(
        &int8_, [&] { prepare_for(ctx, xs); }, [&] { return state_->pd.impl_info_str(); });
  }

  void prepare_for(KernelContext& ctx, const Shape& xs) {
    auto st = std::make_unique<State>();
    st->x_shape = xs;
    Shape kernel = {w_.dim(2), w_.dim(3)}, o, pb, pe;
    auto ks = node_.attr_ints("kernel_shape", {});
    if (!ks.empty() && ks != kernel) ctx.fail("kernel_shape does not match the weights");
    if (!passes::window_output(node_, {xs[2], xs[3]}, kernel, &o, &pb, &pe))
      ctx.fail("invalid convolution attributes for input");
    auto strides = node_.attr_ints("strides", {}), dil = node_.attr_ints("dilations", {});
    if (strides.empty()) strides.assign(2, 1);
    if (dil.empty()) dil.assign(2, 1);
    for (auto& d : dil) d -= 1;
    int64_t m = w_.dim(0);
    st->y_shape = {xs[0], m, o[0], o[1]};
    auto& eng = cpu_engine();
    dnnl::memory::dims wdims;
    tag wtag;
    if (group_ > 1) {
      wdims = {group_, m / group_, w_.dim(1), w_.dim(2), w_.dim(3)};
      wtag = tag::goihw;
    } else {
      wdims = to_dims(w_.shape());
      wtag = tag::oihw;
    }
    float sx = x_q_.scale;
    float final_div = y_q_.type == DataType::kFloat ? 1.f : y_q_.scale;
    std::vector<float> bias(static_cast<size_t>(m), 0.f), scales(static_cast<size_t>(m));
    dnnl::primitive_attr attr;
    dnnl::post_ops pops;
    Quantizer sum_q = sum_q_;
    st->dst_dt = dnnl_type(y_q_.type);
    dt src_dt = dt::f32, w_dt = dt::f32;
    float d0 = 1.f;
    if (int8_) {
      src_dt = dt::u8;
      w_dt = dt::s8;
      d0 = first_domain(post_ops_, final_div);
      int32_t zx = x_q_.zp + (x_q_.type == DataType::kInt8 ? 128 : 0);
      for (int64_t i = 0; i < m; ++i) {
        float acc_scale = sx * w_scale_[i];
        scales[i] = acc_scale / d0;
        if (bias_.defined()) bias[i] = bias_.data<float>()[i] / acc_scale;
      }
      attr.set_output_scales(1 << 1, scales);
      st->zp.configure(attr, zx, y_q_.type != DataType::kFloat ? y_q_.zp : 0);
      if (y_q_.type == DataType::kFloat) sum_q.type = DataType::kFloat;  // dequantized into the f32 dst
    } else {
      st->dst_dt = dt::f32;
      if (bias_.defined()) bias.assign(bias_.data<float>(), bias_.data<float>() + m);
      sum_q.type = DataType::kFloat;
      final_div = 1.f;  // the float path quantizes after the primitive
    }
    if (!build_post_ops(post_ops_, d0, final_div, sum_q, pops)) ctx.fail("unsupported post-op");
    attr.set_post_ops(pops);
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);  // ours, reused across runs
    dnnl::memory::desc src_md(to_dims(xs), src_dt, tag::nhwc), dst_md(to_dims(st->y_shape), st->dst_dt, tag::nhwc);
    dnnl::memory::desc w_md(wdims, w_dt, tag::any), b_md({m}, dt::f32, tag::x);
    dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                         src_md, w_md, b_md, dst_md, to_dims(strides), to_dims(dil), to_dims(pb),
                                         to_dims(pe));
    st->pd = dnnl::convolution_forward::primitive_desc(desc, attr, eng);
    st->conv = dnnl::convolution_forward(st->pd);
    // Weights into the primitive's layout once (oneDNN adds its zero-point compensation here).
    st->weights = dnnl::memory(st->pd.weights_desc(), eng);
    if (int8_) {
      dnnl::memory wu({wdims, dt::s8, wtag}, eng, const_cast<void*>(w_.raw_data()));
      reorder(wu, st->weights);
    } else {
      Tensor wf(DataType::kFloat, w_.shape());
      int64_t per = w_.numel() / m;
      for (int64_t i = 0; i < w_.numel(); ++i)
        wf.data<float>()[i] = static_cast<float>(w_.data<int8_t>()[i]) * w_scale_[i / per];
      dnnl::memory wu({wdims, dt::f32, wtag}, eng, wf.raw_data());
      reorder(wu, st->weights);
    }
    st->bias = dnnl::memory(b_md, eng);
    std::memcpy(st->bias.get_data_handle(), bias.data(), bias.size() * sizeof(float));
    st->src = dnnl::memory(st->pd.src_desc(), eng, nullptr);
    st->dst = dnnl::memory(st->pd.dst_desc(), eng, nullptr);
    if (int8_ && !nhwc_in_) {
      dnnl::memory::desc user(to_dims(xs), dt::u8, tag::nchw);
      st->src_reorder = dnnl::reorder(dnnl::reorder::primitive_desc(eng, user, eng, st->pd.src_desc()));
      st->src_user = dnnl::memory(user, eng, nullptr);
    }
    if (has_sum_ && !nhwc_sum_ && sum_q_.type != DataType::kFloat && st->dst_dt != dt::f32) {
      dnnl::memory::desc user(to_dims(st->y_shape), dnnl_type(sum_q_.type), tag::nchw);
      st->sum_reorder = dnnl::reorder(dnnl::reorder::primitive_desc(eng, user, eng, st->pd.dst_desc()));
      st->sum_user = dnnl::memory(user, eng, nullptr);
    }
    if ((int8_ && !nhwc_out_) || y_q_.type == DataType::kFloat) {
      dnnl::memory::desc user(to_dims(st->y_shape), st->dst_dt, blocked_out_ ? tag::nChw8c : tag::nchw);
      st->dst_reorder = dnnl::reorder(dnnl::reorder::primitive_desc(eng, st->pd.dst_desc(), eng, user));
      st->out_user = dnnl::memory(user, eng, nullptr);
    }
    st->scratchpad = pad_buf_.scratchpad(st->pd.scratchpad_desc());
    st->args = {{DNNL_ARG_SRC, st->src},
                {DNNL_ARG_WEIGHTS, st->weights},
                {DNNL_ARG_DST, st->dst},
                {DNNL_ARG_BIAS, st->bias},
                {DNNL_ARG_SCRATCHPAD, st->scratchpad}};
    st->zp.add_to(st->args);
    state_ = std::move(st);
  }

  const ir::Node& node_;
  std::vector<PostOp> post_ops_;
  Quantizer x_q_, y_q_, sum_q_;
  Tensor w_, bias_;
  std::vector<float> w_scale_;
  int64_t group_ = 1;
  bool has_sum_ = false, nhwc_in_ = false, nhwc_sum_ = false, nhwc_out_ = false, blocked_out_ = false, int8_ = false;
  std::unique_ptr<State> state_;
  Scratch shift_buf_, src_buf_, dst_buf_, pad_buf_;
  std::mutex mutex_;
};

std::unique_ptr<Kernel> make_qconv(const KernelInfo& info, std::string* why) {
  const ir::Node& node = info.node;
  if (!constant_quantizer(info, 1, true, why) || !constant_quantizer(info, 6, false, why)) return nullptr;
  if (node.has_input(9) && !constant_quantizer(info, 9, true, why)) return nullptr;
  if (node.has_input(8) && !node.has_input(9) && node.has_input(6)) {
    *why = "a float residual needs a float output";
    return nullptr;
  }
  const Tensor* w = info.constant_inputs.size() > 3 ? info.constant_inputs[3] : nullptr;
  const Tensor* ws = info.constant_inputs.size() > 4 ? info.constant_inputs[4] : nullptr;
  const Tensor* b = node.has_input(5) ? info.constant_inputs[5] : nullptr;
  if (!w || w->dtype() != DataType::kInt8 || w->rank() != 4) {
    *why = "only constant int8 2-D convolution weights";
    return nullptr;
  }
  int64_t group = node.attr_int("group", 1);
  if (group <= 0 || w->dim(0) % group) {
    *why = "invalid group";
    return nullptr;
  }
  if (!ws || ws->dtype() != DataType::kFloat || ws->numel() != w->dim(0) ||
      (node.has_input(5) && (!b || b->dtype() != DataType::kFloat || b->numel() != w->dim(0)))) {
    *why = "weight scales and bias must be constant float, one a channel";
    return nullptr;
  }
  std::vector<PostOp> ops;
  if (!post_ops_of(node, &ops, why)) return nullptr;
  bool sum = false;
  for (const auto& p : ops) sum |= p.op == "Sum";
  if (sum != node.has_input(8)) {
    *why = "the Sum post-op and input 8 must come together";
    return nullptr;
  }
  return std::make_unique<QConvKernel>(info, std::move(ops));
}

// ------------------------------------------------------------------------------------------------------------------
// quac.QMatMul: x [..., K] x w [K, N]

class QMatMulKernel : public Kernel {
 public:
  // Whether the layer runs in INT8 or, exactly, in float (8-bit weights without VNNI; see int8_exact).
  const char* last_variant() const override { return int8_ ? "onednn-int8" : "onednn-float"; }
  QMatMulKernel(const KernelInfo& info, std::vector<PostOp> post_ops) : post_ops_(std::move(post_ops)) {
    const ir::Node& node = info.node;
    x_q_ = quantizer_at(info, 1);
    w_ = *info.constant_inputs[3];
    const Tensor& ws = *info.constant_inputs[4];
    w_scale_.assign(ws.data<float>(), ws.data<float>() + ws.numel());
    if (node.has_input(5)) bias_ = *info.constant_inputs[5];
    if (node.has_input(6)) y_q_ = quantizer_at(info, 6);
    int8_ = int8_exact(w_);
  }

  void run(KernelContext& ctx) override {
    std::lock_guard<std::mutex> lock(mutex_);
    const Tensor& x = ctx.in(0);
    int64_t k = w_.dim(0), n = w_.dim(1);
    if (x.dtype() != x_q_.type) ctx.fail("input type does not match its zero point");
    if (x.rank() < 1 || x.dim(x.rank() - 1) != k)
      ctx.fail("input " + shape_str(x.shape()) + " does not match weights " + shape_str(w_.shape()));
    int64_t rows = x.numel() / k;
    if (!state_ || state_->rows != rows) prepare(ctx, rows);
    State& s = *state_;
    auto& strm = cpu_stream();
    int threads = ctx.num_threads();
    void* src_ptr;
    if (int8_) {
      src_ptr = const_cast<void*>(x.raw_data());
      if (x.dtype() == DataType::kInt8) {
        src_ptr = src_buf_.get(x.nbytes());
        shift_to_u8(x.data<int8_t>(), static_cast<uint8_t*>(src_ptr), x.numel(), threads);
      }
    } else {
      auto* f = static_cast<float*>(src_buf_.get(static_cast<size_t>(x.numel()) * sizeof(float)));
      dequantize_into(x, false, f, false, x_q_, 1, 1, x.numel(), threads);
      src_ptr = f;
    }
    Shape ys = x.shape();
    ys.back() = n;
    Tensor& out = ctx.allocate_output(0, y_q_.type, ys);
    bool direct = int8_ || y_q_.type == DataType::kFloat;
    void* dst_ptr = direct ? out.raw_data() : dst_buf_.get(static_cast<size_t>(rows * n) * sizeof(float));
    s.src.set_data_handle(src_ptr);
    s.dst.set_data_handle(dst_ptr);
    s.prim.execute(strm, s.args);
    strm.wait();
    if (!direct) store_output(static_cast<const float*>(dst_ptr), false, out, false, y_q_, 1, 1, rows * n, threads);
  }

 private:
  struct State {
    int64_t rows = -1;
    dnnl::matmul::primitive_desc pd;
    dnnl::matmul prim;
    dnnl::memory weights, bias;
    ZeroPoints zp;
    dnnl::memory src, dst, scratchpad;  // handles set per run
    std::unordered_map<int, dnnl::memory> args;
  };

  void prepare(KernelContext& ctx, int64_t rows) {
    prepare_int8_or_float(
        &int8_, [&] { prepare_for(ctx, rows); }, [&] { return state_->pd.impl_info_str(); });
  }

  void prepare_for(KernelContext& ctx, int64_t rows) {
    auto st = std::make_unique<State>();
    st->rows = rows;
    int64_t k = w_.dim(0), n = w_.dim(1);
    auto& eng = cpu_engine();
    float final_div = y_q_.type == DataType::kFloat ? 1.f : y_q_.scale, d0 = 1.f;
    std::vector<float> bias(static_cast<size_t>(n), 0.f), scales(static_cast<size_t>(n));
    dnnl::primitive_attr attr;
    dnnl::post_ops pops;
    dt src_dt = dt::f32, w_dt = dt::f32, dst_dt = dt::f32;
    if (int8_) {
      src_dt = dt::u8;
      w_dt = dt::s8;
      dst_dt = dnnl_type(y_q_.type);
      d0 = first_domain(post_ops_, final_div);
      int32_t zx = x_q_.zp + (x_q_.type == DataType::kInt8 ? 128 : 0);
      for (int64_t i = 0; i < n; ++i) {
        float acc_scale = x_q_.scale * w_scale_[i];
        scales[i] = acc_scale / d0;
        if (bias_.defined()) bias[i] = bias_.data<float>()[i] / acc_scale;
      }
      attr.set_output_scales(1 << 1, scales);
      st->zp.configure(attr, zx, y_q_.type != DataType::kFloat ? y_q_.zp : 0);
    } else {
      if (bias_.defined()) bias.assign(bias_.data<float>(), bias_.data<float>() + n);
      final_div = 1.f;
    }
    if (!build_post_ops(post_ops_, d0, final_div, Quantizer{}, pops)) ctx.fail("unsupported post-op");
    attr.set_post_ops(pops);
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);  // ours, reused across runs
    dnnl::memory::desc src_md({rows, k}, src_dt, tag::ab), w_md({k, n}, w_dt, tag::any), b_md({1, n}, dt::f32, tag::ab),
        dst_md({rows, n}, dst_dt, tag::ab);
    st->pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, w_md, b_md, dst_md), attr, eng);
    st->prim = dnnl::matmul(st->pd);
    st->weights = dnnl::memory(st->pd.weights_desc(), eng);
    if (int8_) {
      dnnl::memory wu({{k, n}, dt::s8, tag::ab}, eng, const_cast<void*>(w_.raw_data()));
      reorder(wu, st->weights);
    } else {
      Tensor wf(DataType::kFloat, w_.shape());
      for (int64_t i = 0; i < w_.numel(); ++i)
        wf.data<float>()[i] = static_cast<float>(w_.data<int8_t>()[i]) * w_scale_[i % n];
      dnnl::memory wu({{k, n}, dt::f32, tag::ab}, eng, wf.raw_data());
      reorder(wu, st->weights);
    }
    st->bias = dnnl::memory(b_md, eng);
    std::memcpy(st->bias.get_data_handle(), bias.data(), bias.size() * sizeof(float));
    st->src = dnnl::memory(st->pd.src_desc(), eng, nullptr);
    st->dst = dnnl::memory(st->pd.dst_desc(), eng, nullptr);
    st->scratchpad = pad_buf_.scratchpad(st->pd.scratchpad_desc());
    st->args = {{DNNL_ARG_SRC, st->src},
                {DNNL_ARG_WEIGHTS, st->weights},
                {DNNL_ARG_BIAS, st->bias},
                {DNNL_ARG_DST, st->dst},
                {DNNL_ARG_SCRATCHPAD, st->scratchpad}};
    st->zp.add_to(st->args);
    state_ = std::move(st);
  }

  std::vector<PostOp> post_ops_;
  Quantizer x_q_, y_q_;
  Tensor w_, bias_;
  std::vector<float> w_scale_;
  bool int8_ = false;
  std::unique_ptr<State> state_;
  Scratch src_buf_, dst_buf_, pad_buf_;
  std::mutex mutex_;
};

std::unique_ptr<Kernel> make_qmatmul(const KernelInfo& info, std::string* why) {
  const ir::Node& node = info.node;
  if (!constant_quantizer(info, 1, true, why) || !constant_quantizer(info, 6, false, why)) return nullptr;
  const Tensor* w = info.constant_inputs.size() > 3 ? info.constant_inputs[3] : nullptr;
  const Tensor* ws = info.constant_inputs.size() > 4 ? info.constant_inputs[4] : nullptr;
  const Tensor* b = node.has_input(5) ? info.constant_inputs[5] : nullptr;
  if (!w || w->dtype() != DataType::kInt8 || w->rank() != 2 || !ws || ws->dtype() != DataType::kFloat ||
      ws->numel() != w->dim(1) ||
      (node.has_input(5) && (!b || b->dtype() != DataType::kFloat || b->numel() != w->dim(1)))) {
    *why = "constant int8 [K, N] weights with float scales and bias are needed";
    return nullptr;
  }
  std::vector<PostOp> ops;
  if (!post_ops_of(node, &ops, why)) return nullptr;
  for (const auto& p : ops)
    if (p.op == "Sum") {
      *why = "no Sum for QMatMul";
      return nullptr;
    }
  return std::make_unique<QMatMulKernel>(info, std::move(ops));
}

// ------------------------------------------------------------------------------------------------------------------
// quac.QPool: MaxPool (same quantizer in and out) and GlobalAveragePool, rank 4.

class QPoolKernel : public Kernel {
 public:
  explicit QPoolKernel(const KernelInfo& info) : node_(info.node) {
    x_q_ = quantizer_at(info, 1);
    if (node_.has_input(3)) y_q_ = quantizer_at(info, 3);
    max_ = node_.attr_string("mode", "") == "MaxPool";
    nhwc_in_ = ops::is_nhwc_input(node_, 0);
    nhwc_out_ = node_.attr_int("nhwc_output", 0) != 0;
  }

  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.in(0);
    if (x.dtype() != x_q_.type || x.rank() != 4)
      ctx.fail("the INT8 pool needs a rank-4 input of its zero point's type");
    Shape xs = nhwc_in_ ? Shape{x.dim(0), x.dim(3), x.dim(1), x.dim(2)} : x.shape();
    int64_t n = xs[0], c = xs[1], hw = xs[2] * xs[3];
    if (!max_) {
      Tensor& out = ctx.allocate_output(0, y_q_.type, nhwc_out_ ? Shape{n, 1, 1, c} : Shape{n, c, 1, 1});
      std::vector<float> avg(static_cast<size_t>(n * c));
      // The real value of a channel's mean, from its sum of quantized values.
      auto real_mean = [&](int64_t sum) {
        return static_cast<float>((static_cast<double>(sum) / static_cast<double>(hw) - x_q_.zp) * x_q_.scale);
      };
      auto mean = [&](const auto* data) {
        // Channels-last: each thread sums a block of channels over the pixels, reading rows contiguously;
        // channels-first: one contiguous run a channel.
        // A thread takes at least 16K values: the pool at the end of a small CNN sums a few thousand, less work
        // than starting a parallel region.
        constexpr int64_t kBlock = 64;
        const int64_t blocks = (c + kBlock - 1) / kBlock, per_item = (nhwc_in_ ? kBlock : 1) * hw;
        const int64_t min_items = std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(per_item, 1));
        parallel_for(
            n * (nhwc_in_ ? blocks : c), ctx.num_threads(),
            [&](int64_t b, int64_t e) {
              int64_t acc[kBlock];
              for (int64_t r = b; r < e; ++r) {
                if (nhwc_in_) {
                  const int64_t i = r / blocks, c0 = r % blocks * kBlock, width = std::min(kBlock, c - c0);
                  std::fill(acc, acc + width, int64_t{0});
                  for (int64_t p = 0; p < hw; ++p) {
                    const auto* row = data + (i * hw + p) * c + c0;
                    for (int64_t k = 0; k < width; ++k) acc[k] += row[k];
                  }
                  for (int64_t k = 0; k < width; ++k) avg[i * c + c0 + k] = real_mean(acc[k]);
                } else {
                  int64_t sum = 0;
                  for (int64_t p = 0; p < hw; ++p) sum += data[r * hw + p];
                  avg[r] = real_mean(sum);
                }
              }
            },
            min_items);
      };
      if (x.dtype() == DataType::kUInt8)
        mean(x.data<uint8_t>());
      else
        mean(x.data<int8_t>());
      store_output(avg.data(), false, out, false, y_q_, n, c, 1, 1);
      return;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (!state_ || state_->x_shape != xs) prepare(ctx, xs);
    State& s = *state_;
    Tensor& out = ctx.allocate_output(0, y_q_.type, nhwc_out_ ? Shape{n, s.y_shape[2], s.y_shape[3], c} : s.y_shape);
    bool same = y_q_.type == x_q_.type && y_q_.scale == x_q_.scale && y_q_.zp == x_q_.zp;
    void* dst = same ? out.raw_data() : pool_buf_.get(out.nbytes());
    auto& eng = cpu_engine();
    auto& strm = cpu_stream();
    s.prim.execute(strm, {{DNNL_ARG_SRC, dnnl::memory(s.pd.src_desc(), eng, const_cast<void*>(x.raw_data()))},
                          {DNNL_ARG_DST, dnnl::memory(s.pd.dst_desc(), eng, dst)}});
    strm.wait();
    if (!same) {  // requantize the pooled values (exact: quantization is monotonic)
      Tensor pooled = Tensor(x.dtype(), out.shape());
      std::memcpy(pooled.raw_data(), dst, out.nbytes());
      int64_t count = out.numel();
      std::vector<float> real(static_cast<size_t>(count));
      dequantize_into(pooled, false, real.data(), false, x_q_, 1, 1, count, ctx.num_threads());
      store_output(real.data(), false, out, false, y_q_, 1, 1, count, ctx.num_threads());
    }
  }

 private:
  struct State {
    Shape x_shape, y_shape;
    dnnl::pooling_v2_forward::primitive_desc pd;
    dnnl::pooling_v2_forward prim;
  };

  void prepare(KernelContext& ctx, const Shape& xs) {
    auto st = std::make_unique<State>();
    st->x_shape = xs;
    Shape kernel = node_.attr_ints("kernel_shape", {}), o, pb, pe;
    if (kernel.size() != 2) ctx.fail("MaxPool needs a 2-D kernel_shape");
    if (!passes::window_output(node_, {xs[2], xs[3]}, kernel, &o, &pb, &pe))
      ctx.fail("invalid pool attributes for input");
    auto strides = node_.attr_ints("strides", {}), dil = node_.attr_ints("dilations", {});
    if (strides.empty()) strides.assign(2, 1);
    if (dil.empty()) dil.assign(2, 1);
    for (auto& d : dil) d -= 1;
    // oneDNN needs the end padding to cover the last window exactly (ceil_mode may leave it short or long).
    for (size_t i = 0; i < 2; ++i)
      pe[i] = (o[i] - 1) * strides[i] + (kernel[i] - 1) * (dil[i] + 1) + 1 - xs[2 + i] - pb[i];
    st->y_shape = {xs[0], xs[1], o[0], o[1]};
    dt t = dnnl_type(x_q_.type);
    dnnl::memory::desc src_md(to_dims(xs), t, nhwc_in_ ? tag::nhwc : tag::nchw),
        dst_md(to_dims(st->y_shape), t, nhwc_out_ ? tag::nhwc : tag::nchw);
    dnnl::pooling_v2_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_max, src_md,
                                        dst_md, to_dims(strides), to_dims(kernel), to_dims(dil), to_dims(pb),
                                        to_dims(pe));
    st->pd = dnnl::pooling_v2_forward::primitive_desc(desc, cpu_engine());
    st->prim = dnnl::pooling_v2_forward(st->pd);
    state_ = std::move(st);
  }

  const ir::Node& node_;
  Quantizer x_q_, y_q_;
  bool max_ = false, nhwc_in_ = false, nhwc_out_ = false;
  std::unique_ptr<State> state_;
  Scratch pool_buf_;
  std::mutex mutex_;
};

std::unique_ptr<Kernel> make_qpool(const KernelInfo& info, std::string* why) {
  const ir::Node& node = info.node;
  if (!constant_quantizer(info, 1, true, why) || !constant_quantizer(info, 3, false, why)) return nullptr;
  std::string mode = node.attr_string("mode", "");
  if (mode == "MaxPool") {
    if (!node.has_input(3)) {
      *why = "an INT8 max pool needs its output quantizer";
      return nullptr;
    }
    if (node.attr_ints("kernel_shape", {}).size() != 2) {
      *why = "2-D max pools only";
      return nullptr;
    }
  } else if (mode != "GlobalAveragePool") {
    *why = "mode " + mode;
    return nullptr;
  }
  return std::make_unique<QPoolKernel>(info);
}

// ------------------------------------------------------------------------------------------------------------------
// Per-tensor QuantizeLinear (float -> 8-bit) and DequantizeLinear (8-bit -> float) with constant parameters: the
// same arithmetic as the reference (division by the scale in float, round half to even), in parallel.

class FastQuantize : public Kernel {
 public:
  FastQuantize(const KernelInfo& info, Quantizer q, bool quantize) : info_(info), q_(q), quantize_(quantize) {}
  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.in(0);
    int threads = ctx.num_threads();
    if (quantize_ && x.dtype() != DataType::kFloat) {  // int32 / double / float16 inputs: the reference
      if (!fallback_) fallback_ = make_reference_kernel(info_);
      if (!fallback_) ctx.fail("x must be float");
      fallback_->run(ctx);
      return;
    }
    if (quantize_) {
      Tensor& y = ctx.allocate_output(0, q_.type, x.shape());
      store_output(x.data<float>(), false, y, false, q_, 1, 1, x.numel(), threads);
    } else {
      if (x.dtype() != q_.type) ctx.fail("x must have the zero point's type");
      Tensor& y = ctx.allocate_output(0, DataType::kFloat, x.shape());
      dequantize_into(x, false, y.data<float>(), false, q_, 1, 1, x.numel(), threads);
    }
  }

 private:
  KernelInfo info_;
  Quantizer q_;
  bool quantize_;
  std::unique_ptr<Kernel> fallback_;
};

std::unique_ptr<Kernel> make_fast_q(const KernelInfo& info, std::string* why, bool quantize) {
  const ir::Node& node = info.node;
  if (node.inputs.size() < 3 || !node.has_input(2) || !constant_quantizer(info, 1, true, why)) {
    *why = "per-tensor constant 8-bit parameters only";
    return nullptr;
  }
  if (quantize && !maybe_float(info, 0)) {
    *why = "float input only";
    return nullptr;
  }
  return std::make_unique<FastQuantize>(info, quantizer_at(info, 1), quantize);
}

QUAC_REGISTER_KERNEL(
    {.domain = "quac", .op_type = "QConv", .impl = "onednn", .priority = 10, .min_opset = 0, .factory = make_qconv});
QUAC_REGISTER_KERNEL({.domain = "quac",
                      .op_type = "QMatMul",
                      .impl = "onednn",
                      .priority = 10,
                      .min_opset = 0,
                      .factory = make_qmatmul});
QUAC_REGISTER_KERNEL(
    {.domain = "quac", .op_type = "QPool", .impl = "onednn", .priority = 10, .min_opset = 0, .factory = make_qpool});
QUAC_REGISTER_KERNEL({.domain = "",
                      .op_type = "QuantizeLinear",
                      .impl = "fast",
                      .priority = 10,
                      .min_opset = 10,
                      .factory = [](const KernelInfo& info, std::string* why) {
                        return make_fast_q(info, why, true);
                      }});
QUAC_REGISTER_KERNEL({.domain = "",
                      .op_type = "DequantizeLinear",
                      .impl = "fast",
                      .priority = 10,
                      .min_opset = 10,
                      .factory = [](const KernelInfo& info, std::string* why) {
                        return make_fast_q(info, why, false);
                      }});

}  // namespace
}  // namespace quac::kernels
