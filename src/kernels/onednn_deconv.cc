// oneDNN deconvolution for ConvTranspose (1-D/2-D/3-D, groups, dilations, output_shape/output_padding/auto_pad).
// Primitive and weight reorder are prepared once per input shape; geometry oneDNN cannot express (an output_padding
// larger than the end padding) runs on the reference kernel.
#include <memory>
#include <mutex>

#include "kernels/onednn_util.h"

namespace quac::kernels {
namespace {

class DeconvKernel : public Kernel {
 public:
  explicit DeconvKernel(const KernelInfo& info) : node_(info.node), fallback_(make_reference_kernel(info)) {
    if (info.constant_inputs[1]) const_w_ = *info.constant_inputs[1];
    group_ = node_.attr_int("group", 1);
  }

  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.in(0);
    const Tensor& w = ctx.in(1);
    const Tensor* b = ctx.input(2);
    if (x.dtype() != DataType::kFloat || w.dtype() != DataType::kFloat || (b && b->dtype() != DataType::kFloat) ||
        x.rank() < 3 || x.rank() > 5 || w.rank() != x.rank() || group_ <= 0 || x.dim(1) != w.dim(0) ||
        w.dim(0) % group_ || x.numel() == 0)
      return fallback(ctx);
    std::lock_guard<std::mutex> lock(mutex_);
    if (!state_ || state_->x_shape != x.shape() || state_->w_shape != w.shape()) {
      state_.reset();
      if (!prepare(x.shape(), w.shape())) return fallback(ctx);
    }
    State& s = *state_;
    if (b && b->numel() != s.y_shape[1]) ctx.fail("bias must have M elements");
    auto& eng = cpu_engine();
    auto& strm = cpu_stream();
    dnnl::memory src(s.user_src, eng, const_cast<void*>(x.raw_data()));
    if (s.user_src != s.pd.src_desc()) {
      dnnl::memory tmp(s.pd.src_desc(), eng, src_buf_.get(s.pd.src_desc().get_size()));
      reorder(src, tmp);
      src = tmp;
    }
    dnnl::memory wmem = s.weights;
    if (!const_w_.defined()) {
      wmem = dnnl::memory(s.pd.weights_desc(), eng, w_buf_.get(s.pd.weights_desc().get_size()));
      reorder(dnnl::memory(s.user_w, eng, const_cast<void*>(w.raw_data())), wmem);
    }
    Tensor& y = ctx.allocate_output(0, DataType::kFloat, s.y_shape);
    dnnl::memory dst_user(s.user_dst, eng, y.raw_data());
    bool direct = s.user_dst == s.pd.dst_desc();
    dnnl::memory dst = direct ? dst_user : dnnl::memory(s.pd.dst_desc(), eng, dst_buf_.get(s.pd.dst_desc().get_size()));
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wmem}, {DNNL_ARG_DST, dst}};
    if (b) args[DNNL_ARG_BIAS] = dnnl::memory(s.pd.bias_desc(), eng, const_cast<void*>(b->raw_data()));
    s.prim.execute(strm, args);
    if (!direct) reorder(dst, dst_user);
    strm.wait();
  }

 private:
  struct State {
    Shape x_shape, w_shape, y_shape;
    dnnl::memory::desc user_src, user_w, user_dst;
    dnnl::deconvolution_forward::primitive_desc pd;
    dnnl::deconvolution_forward prim;
    dnnl::memory weights;
  };

  void fallback(KernelContext& ctx) {
    if (!fallback_) ctx.fail("the oneDNN ConvTranspose cannot run this input and no reference kernel exists");
    fallback_->run(ctx);
  }

  bool prepare(const Shape& xs, const Shape& ws) {
    size_t n = xs.size() - 2;
    Shape kernel(ws.begin() + 2, ws.end());
    auto ks = node_.attr_ints("kernel_shape", {});
    if (!ks.empty() && ks != kernel) return false;
    auto strides = node_.attr_ints("strides", {}), dil = node_.attr_ints("dilations", {});
    auto out_pad = node_.attr_ints("output_padding", {}), pads = node_.attr_ints("pads", {});
    auto out_shape = node_.attr_ints("output_shape", {});
    std::string auto_pad = node_.attr_string("auto_pad", "NOTSET");
    if (strides.empty()) strides.assign(n, 1);
    if (dil.empty()) dil.assign(n, 1);
    if (out_pad.empty()) out_pad.assign(n, 0);
    if (pads.empty()) pads.assign(2 * n, 0);
    if (out_shape.size() > n) out_shape.erase(out_shape.begin(), out_shape.end() - static_cast<int64_t>(n));
    if (strides.size() != n || dil.size() != n || out_pad.size() != n || pads.size() != 2 * n) return false;
    Shape pb(n), pe(n), y = {xs[0], ws[1] * group_};
    for (size_t i = 0; i < n; ++i) {
      int64_t k_eff = (kernel[i] - 1) * dil[i] + 1;
      int64_t full = strides[i] * (xs[2 + i] - 1) + out_pad[i] + k_eff;
      if (!out_shape.empty() || auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
        int64_t target = out_shape.empty() ? xs[2 + i] * strides[i] : out_shape[i];
        int64_t total = full - target;
        if (total < 0) return false;
        bool upper = auto_pad == "SAME_UPPER";
        pb[i] = upper ? total / 2 : total - total / 2;
        pe[i] = total - pb[i];
      } else if (auto_pad != "VALID") {
        pb[i] = pads[i];
        pe[i] = pads[i + n];
      }
      y.push_back(full - pb[i] - pe[i]);
      pe[i] -= out_pad[i];  // oneDNN has no output_padding: it is negative end padding
      if (pb[i] < 0 || pe[i] < 0 || y.back() <= 0) return false;
    }
    for (auto& d : dil) d -= 1;
    auto st = std::make_unique<State>();
    st->x_shape = xs;
    st->w_shape = ws;
    st->y_shape = y;
    st->user_src = plain_desc(xs);
    st->user_dst = plain_desc(y);
    // ONNX weights are [C, M/group, k...]: as oneDNN's (g, o, i, k...) that is strided, not a plain tag.
    int64_t cg = ws[0] / group_, mg = ws[1], ksz = 1;
    for (int64_t k : kernel) ksz *= k;
    dnnl::memory::dims wd = {group_, mg, cg}, wstr = {cg * mg * ksz, ksz, mg * ksz};
    int64_t inner = ksz;
    for (size_t i = 0; i < n; ++i) {
      wd.push_back(kernel[i]);
      inner /= kernel[i];
      wstr.push_back(inner);
    }
    st->user_w = dnnl::memory::desc(wd, dt::f32, wstr);
    auto any = [](const dnnl::memory::dims& d) { return dnnl::memory::desc(d, dt::f32, tag::any); };
    auto bias_md = node_.has_input(2) ? dnnl::memory::desc({y[1]}, dt::f32, tag::x) : dnnl::memory::desc();
    try {
      dnnl::deconvolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct,
                                          any(to_dims(xs)), any(wd), bias_md, any(to_dims(y)), to_dims(strides),
                                          to_dims(dil), to_dims(pb), to_dims(pe));
      st->pd = dnnl::deconvolution_forward::primitive_desc(d, cpu_engine());
    } catch (const dnnl::error&) {
      return false;
    }
    st->prim = dnnl::deconvolution_forward(st->pd);
    if (const_w_.defined()) {
      st->weights = dnnl::memory(st->pd.weights_desc(), cpu_engine());
      reorder(dnnl::memory(st->user_w, cpu_engine(), const_cast<void*>(const_w_.raw_data())), st->weights);
    }
    state_ = std::move(st);
    return true;
  }

  const ir::Node& node_;
  std::unique_ptr<Kernel> fallback_;
  Tensor const_w_;
  int64_t group_ = 1;
  std::unique_ptr<State> state_;
  Scratch src_buf_, w_buf_, dst_buf_;
  std::mutex mutex_;
};

std::unique_ptr<Kernel> make_deconv(const KernelInfo& info, std::string* why) {
  for (size_t i = 0; i < info.node.inputs.size(); ++i)
    if (info.node.has_input(i) && !maybe_float(info, i)) {
      *why = "only float32 is supported";
      return nullptr;
    }
  return std::make_unique<DeconvKernel>(info);
}

QUAC_REGISTER_KERNEL(
    {.domain = "", .op_type = "ConvTranspose", .impl = "onednn", .priority = 10, .factory = make_deconv});

}  // namespace
}  // namespace quac::kernels
