// oneDNN convolution for Conv and quac.FusedConv (bias, activations and a residual Sum as post-ops). The primitive is
// created and the weights reordered once per input shape; activations may arrive and leave in the blocked layout.
#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "kernels/blocked_layout.h"
#include "kernels/conv_common.h"
#include "kernels/onednn_util.h"
#include "ops/fused_ref.h"
#include "passes/shape_infer.h"

namespace quac::kernels {
namespace {

class ConvKernel : public Kernel {
 public:
  ConvKernel(const KernelInfo& info, std::vector<PostOp> post_ops) : node_(info.node), post_ops_(std::move(post_ops)) {
    if (info.constant_inputs.size() > 1 && info.constant_inputs[1]) const_w_ = *info.constant_inputs[1];
    if (info.constant_inputs.size() > 2 && info.constant_inputs[2]) const_b_ = *info.constant_inputs[2];
    group_ = node_.attr_int("group", 1);
    blocked_in_ = ops::is_blocked_input(node_, 0);
    blocked_sum_ = ops::is_blocked_input(node_, 3);
    blocked_out_ = node_.attr_int("blocked_output", 0) != 0;
    for (const auto& p : post_ops_) has_sum_ |= p.op == "Sum";
  }

  void run(KernelContext& ctx) override {
    std::lock_guard<std::mutex> lock(mutex_);
    const Tensor& x = ctx.in(0);
    const Tensor& w = ctx.in(1);
    if (x.dtype() != DataType::kFloat || w.dtype() != DataType::kFloat) ctx.fail("the oneDNN Conv needs float32");
    if (w.rank() < 3 || w.rank() > 5 || group_ <= 0 || w.dim(0) % group_) ctx.fail("invalid weights or group");
    int64_t c_in = w.dim(1) * group_, m = w.dim(0);
    Shape xs = x.shape();
    if (blocked_in_) {
      if (x.rank() != 5 || x.dim(1) != (c_in + kChannelBlock - 1) / kChannelBlock)
        ctx.fail("blocked input has unexpected shape " + shape_str(xs));
      xs = {x.dim(0), c_in, x.dim(2), x.dim(3)};
    }
    if (static_cast<int64_t>(xs.size()) != w.rank() || xs[1] != c_in)
      ctx.fail("input " + shape_str(xs) + " does not match weights " + shape_str(w.shape()));
    if (!state_ || state_->x_shape != xs || state_->w_shape != w.shape()) prepare(ctx, xs, w.shape());
    State& s = *state_;
    auto& strm = cpu_stream();
    const Tensor* b = ctx.input(2);
    if (b && (b->dtype() != DataType::kFloat || b->numel() != m)) ctx.fail("bias must be float with M elements");
    if (static_cast<bool>(b) != s.has_bias) ctx.fail("the bias input came and went between runs");
    const Tensor* sum = has_sum_ ? &ctx.in(3) : nullptr;
    if (sum && (sum->dtype() != DataType::kFloat || sum->shape() != s.sum_shape))
      ctx.fail("the Sum input must have shape " + shape_str(s.sum_shape) + ", got " + shape_str(sum->shape()));
    // A residual the primitive can read where it writes (same layout, no reorder of dst) and that nobody reads
    // later becomes the output: the Sum post-op accumulates into it, with no copy of the residual first.
    const bool in_place = sum && !s.sum_reorder && !s.dst_reorder && sum->shape() == s.out_shape &&
                          sum->nbytes() == s.dst_bytes && ctx.input_reusable(3);
    void* out_data;
    if (in_place) {
      ctx.set_output(0, *sum);
      out_data = const_cast<void*>(sum->raw_data());
    } else {
      out_data = ctx.allocate_output(0, DataType::kFloat, s.out_shape).raw_data();
    }

    // The memories and the argument map were made once in prepare(); a run only points them at this run's data.
    s.src_user.set_data_handle(const_cast<void*>(x.raw_data()));
    if (s.src_reorder) s.src_reorder.execute(strm, s.src_user, s.src);
    if (!const_w_.defined()) {
      s.w_user.set_data_handle(const_cast<void*>(w.raw_data()));
      if (s.w_reorder) s.w_reorder.execute(strm, s.w_user, s.weights);
    }
    if (b) s.bias.set_data_handle(const_cast<void*>(b->raw_data()));
    s.dst_user.set_data_handle(out_data);
    if (sum && !in_place) {
      if (s.sum_reorder) {
        s.sum_user.set_data_handle(const_cast<void*>(sum->raw_data()));
        s.sum_reorder.execute(strm, s.sum_user, s.dst);
      } else {
        std::memcpy(s.dst.get_data_handle(), sum->raw_data(), s.dst_bytes);
      }
    }
    s.conv.execute(strm, s.args);
    if (s.dst_reorder) s.dst_reorder.execute(strm, s.dst, s.dst_user);
    strm.wait();
  }

 private:
  struct State {
    Shape x_shape, w_shape, out_shape, sum_shape;
    bool has_bias = false;
    size_t dst_bytes = 0;
    dnnl::memory::desc user_src, user_w, user_dst, user_sum;
    dnnl::convolution_forward::primitive_desc pd;
    dnnl::convolution_forward conv;
    // User-layout memories (handles set per run) and primitive-layout ones (the user's own when no reorder is
    // needed, else backed by the kernel's scratch buffers).
    dnnl::memory src_user, src, w_user, weights, bias, dst_user, dst, sum_user, scratchpad;
    dnnl::reorder src_reorder, w_reorder, dst_reorder, sum_reorder;  // empty when not needed
    std::unordered_map<int, dnnl::memory> args;
  };

  void prepare(KernelContext& ctx, const Shape& xs, const Shape& ws) {
    auto st = std::make_unique<State>();
    st->x_shape = xs;
    st->w_shape = ws;
    size_t nsp = xs.size() - 2;
    Shape in(xs.begin() + 2, xs.end()), kernel(ws.begin() + 2, ws.end()), o, pb, pe;
    auto ks = node_.attr_ints("kernel_shape", {});
    if (!ks.empty() && ks != kernel) ctx.fail("kernel_shape does not match the weights");
    if (!passes::window_output(node_, in, kernel, &o, &pb, &pe)) ctx.fail("invalid convolution attributes for input");
    auto strides = node_.attr_ints("strides", {}), dil = node_.attr_ints("dilations", {});
    if (strides.empty()) strides.assign(nsp, 1);
    if (dil.empty()) dil.assign(nsp, 1);
    for (auto& d : dil) d -= 1;  // oneDNN counts dilation from 0
    int64_t m = ws[0];
    Shape ys = {xs[0], m};
    ys.insert(ys.end(), o.begin(), o.end());
    st->sum_shape = blocked_sum_ ? blocked_shape(ys[0], ys[1], ys[2], ys[3]) : ys;
    st->out_shape = blocked_out_ ? blocked_shape(ys[0], ys[1], ys[2], ys[3]) : ys;
    st->user_src = blocked_in_ ? dnnl::memory::desc(to_dims(xs), dt::f32, tag::nChw8c) : plain_desc(xs);
    st->user_dst = blocked_out_ ? dnnl::memory::desc(to_dims(ys), dt::f32, tag::nChw8c) : plain_desc(ys);
    st->user_sum = blocked_sum_ ? dnnl::memory::desc(to_dims(ys), dt::f32, tag::nChw8c) : plain_desc(ys);
    dnnl::memory::dims wdims;
    tag wtag;
    if (group_ > 1) {
      wdims = {group_, m / group_, ws[1]};
      wdims.insert(wdims.end(), kernel.begin(), kernel.end());
      wtag = nsp == 1 ? tag::goiw : nsp == 2 ? tag::goihw : tag::goidhw;
    } else {
      wdims = to_dims(ws);
      wtag = nsp == 1 ? tag::oiw : nsp == 2 ? tag::oihw : tag::oidhw;
    }
    st->user_w = dnnl::memory::desc(wdims, dt::f32, wtag);
    dnnl::post_ops pops;
    for (const auto& p : post_ops_) {
      if (p.op == "Sum")
        pops.append_sum(1.f);
      else if (!append_eltwise(pops, p.op, p.alpha, p.beta))
        ctx.fail("unsupported post-op " + p.op);
    }
    dnnl::primitive_attr attr;
    attr.set_post_ops(pops);
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);  // ours, reused across runs: no allocation per run
    auto any = [](const dnnl::memory::dims& d) { return dnnl::memory::desc(d, dt::f32, tag::any); };
    bool has_bias = node_.has_input(2);
    // A sum post-op reads dst in the primitive's format: keep dst in the user's layout when blocked so the residual
    // needs no reorder.
    auto src_md = any(to_dims(xs));
    auto dst_md = blocked_out_ ? st->user_dst : any(to_dims(ys));
    auto bias_md = has_bias ? dnnl::memory::desc({m}, dt::f32, tag::x) : dnnl::memory::desc();
    dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                         src_md, any(wdims), bias_md, dst_md, to_dims(strides), to_dims(dil),
                                         to_dims(pb), to_dims(pe));
    st->pd = dnnl::convolution_forward::primitive_desc(desc, attr, cpu_engine());
    st->conv = dnnl::convolution_forward(st->pd);
    auto& eng = cpu_engine();
    const auto src_desc = st->pd.src_desc(), w_desc = st->pd.weights_desc(), dst_desc = st->pd.dst_desc();
    st->has_bias = has_bias;
    st->dst_bytes = dst_desc.get_size();
    st->src_user = dnnl::memory(st->user_src, eng, nullptr);
    st->src = st->src_user;
    if (st->user_src != src_desc) {
      st->src_reorder = dnnl::reorder(dnnl::reorder::primitive_desc(eng, st->user_src, eng, src_desc));
      st->src = dnnl::memory(src_desc, eng, src_buf_.get(src_desc.get_size()));
    }
    st->dst_user = dnnl::memory(st->user_dst, eng, nullptr);
    st->dst = st->dst_user;
    if (st->user_dst != dst_desc) {
      st->dst_reorder = dnnl::reorder(dnnl::reorder::primitive_desc(eng, dst_desc, eng, st->user_dst));
      st->dst = dnnl::memory(dst_desc, eng, dst_buf_.get(st->dst_bytes));
    }
    if (has_sum_ && st->user_sum != dst_desc) {
      st->sum_reorder = dnnl::reorder(dnnl::reorder::primitive_desc(eng, st->user_sum, eng, dst_desc));
      st->sum_user = dnnl::memory(st->user_sum, eng, nullptr);
    }
    if (const_w_.defined()) {
      st->weights = dnnl::memory(w_desc, eng);
      dnnl::memory wu(st->user_w, eng, const_cast<void*>(const_w_.raw_data()));
      reorder(wu, st->weights);
    } else {
      st->w_user = dnnl::memory(st->user_w, eng, nullptr);
      st->weights = st->w_user;
      if (st->user_w != w_desc) {
        st->w_reorder = dnnl::reorder(dnnl::reorder::primitive_desc(eng, st->user_w, eng, w_desc));
        st->weights = dnnl::memory(w_desc, eng, w_buf_.get(w_desc.get_size()));
      }
    }
    st->scratchpad = pad_buf_.scratchpad(st->pd.scratchpad_desc());
    st->args = {{DNNL_ARG_SRC, st->src},
                {DNNL_ARG_WEIGHTS, st->weights},
                {DNNL_ARG_DST, st->dst},
                {DNNL_ARG_SCRATCHPAD, st->scratchpad}};
    if (has_bias) {
      st->bias = dnnl::memory(st->pd.bias_desc(), eng, nullptr);
      st->args[DNNL_ARG_BIAS] = st->bias;
    }
    state_ = std::move(st);
  }

  const ir::Node& node_;
  std::vector<PostOp> post_ops_;
  Tensor const_w_, const_b_;
  int64_t group_ = 1;
  bool blocked_in_ = false, blocked_sum_ = false, blocked_out_ = false, has_sum_ = false;
  std::unique_ptr<State> state_;
  Scratch src_buf_, w_buf_, dst_buf_, pad_buf_;
  std::mutex mutex_;
};

std::unique_ptr<Kernel> make_conv(const KernelInfo& info, std::string* why) {
  const ir::Node& node = info.node;
  if (!maybe_float(info, 0) || !maybe_float(info, 1) || (node.has_input(2) && !maybe_float(info, 2))) {
    *why = "only float32 is supported";
    return nullptr;
  }
  if (!info.constant_inputs[1] && !known_float(info, 1)) {
    *why = "weights are neither constant nor declared float32";
    return nullptr;
  }
  if (info.constant_inputs[1] && (info.constant_inputs[1]->rank() < 3 || info.constant_inputs[1]->rank() > 5)) {
    *why = "only 1-D, 2-D and 3-D convolutions";
    return nullptr;
  }
  std::vector<PostOp> post_ops;
  if (!read_post_ops(node, &post_ops, why)) return nullptr;
  for (const auto& p : post_ops) {
    if (!known_post_op(p.op)) {
      *why = "unsupported post-op " + p.op;
      return nullptr;
    }
  }
  bool blocked = node.attr_int("blocked_output", 0) != 0 || node.has("blocked_inputs");
  if (blocked && info.constant_inputs[1] && info.constant_inputs[1]->rank() != 4) {
    *why = "the blocked layout is 2-D only";
    return nullptr;
  }
  return std::make_unique<ConvKernel>(info, std::move(post_ops));
}

QUAC_REGISTER_CONV_KERNEL("onednn", 10, make_conv);

}  // namespace
}  // namespace quac::kernels
