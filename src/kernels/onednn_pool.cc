// oneDNN pooling for MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool and quac.Pool (the same ops reading or
// writing the blocked layout). Primitives are created once per input shape.
#include <memory>
#include <mutex>

#include "kernels/blocked_layout.h"
#include "kernels/onednn_util.h"
#include "ops/fused_ref.h"
#include "passes/shape_infer.h"

namespace quac::kernels {
namespace {

class PoolKernel : public Kernel {
 public:
  PoolKernel(const ir::Node& node, std::string mode) : node_(node), mode_(std::move(mode)) {
    blocked_in_ = ops::is_blocked_input(node, 0);
    blocked_out_ = node.attr_int("blocked_output", 0) != 0;
    channels_ = node.attr_int("channels", 0);
  }

  void run(KernelContext& ctx) override {
    std::lock_guard<std::mutex> lock(mutex_);
    const Tensor& x = ctx.in(0);
    if (x.dtype() != DataType::kFloat) ctx.fail("the oneDNN pool needs float32");
    Shape xs = x.shape();
    if (blocked_in_) {
      if (x.rank() != 5 || x.dim(1) != (channels_ + kChannelBlock - 1) / kChannelBlock)
        ctx.fail("blocked input has unexpected shape " + shape_str(xs));
      xs = {x.dim(0), channels_, x.dim(2), x.dim(3)};
    }
    if (xs.size() < 3 || xs.size() > 5) ctx.fail("pooling needs a rank 3..5 input");
    if (!state_ || state_->x_shape != xs) prepare(ctx, xs);
    State& s = *state_;
    auto& eng = cpu_engine();
    auto& strm = cpu_stream();
    Tensor& out = ctx.allocate_output(0, DataType::kFloat, s.out_shape);
    dnnl::memory src(s.user_src, eng, const_cast<void*>(x.raw_data()));
    dnnl::memory dst_user(s.user_dst, eng, out.raw_data());
    bool direct = s.user_dst == s.pd.dst_desc();
    dnnl::memory dst = direct ? dst_user : dnnl::memory(s.pd.dst_desc(), eng, dst_buf_.get(s.pd.dst_desc().get_size()));
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}};
    if (s.pd.workspace_desc().get_size())
      args[DNNL_ARG_WORKSPACE] =
          dnnl::memory(s.pd.workspace_desc(), eng, ws_buf_.get(s.pd.workspace_desc().get_size()));
    s.pool.execute(strm, args);
    if (!direct) s.dst_reorder.execute(strm, dst, dst_user);
    strm.wait();
  }

 private:
  struct State {
    Shape x_shape, out_shape;
    dnnl::memory::desc user_src, user_dst;
    dnnl::pooling_v2_forward::primitive_desc pd;
    dnnl::pooling_v2_forward pool;
    dnnl::reorder dst_reorder;
  };

  void prepare(KernelContext& ctx, const Shape& xs) {
    auto st = std::make_unique<State>();
    st->x_shape = xs;
    size_t nsp = xs.size() - 2;
    bool global = mode_ == "GlobalAveragePool" || mode_ == "GlobalMaxPool";
    Shape in(xs.begin() + 2, xs.end()), kernel, o, pb, pe;
    Shape strides(nsp, 1), dil(nsp, 0);
    if (global) {
      kernel = in;
      o.assign(nsp, 1);
      pb.assign(nsp, 0);
      pe.assign(nsp, 0);
    } else {
      kernel = node_.attr_ints("kernel_shape", {});
      if (kernel.size() != nsp || !passes::window_output(node_, in, kernel, &o, &pb, &pe))
        ctx.fail("invalid pooling attributes for input " + shape_str(xs));
      auto s = node_.attr_ints("strides", {}), d = node_.attr_ints("dilations", {});
      if (!s.empty()) strides = s;
      for (size_t i = 0; i < d.size() && i < nsp; ++i) dil[i] = d[i] - 1;
      // ceil_mode: extend the end padding so oneDNN's floor formula gives the same size.
      for (size_t i = 0; i < nsp; ++i) {
        int64_t k_eff = (kernel[i] - 1) * (dil[i] + 1) + 1;
        pe[i] = std::max<int64_t>(pe[i], (o[i] - 1) * strides[i] + k_eff - in[i] - pb[i]);
      }
    }
    Shape ys = {xs[0], xs[1]};
    ys.insert(ys.end(), o.begin(), o.end());
    bool b4 = xs.size() == 4;
    st->user_src = blocked_in_ ? dnnl::memory::desc(to_dims(xs), dt::f32, tag::nChw8c) : plain_desc(xs);
    st->user_dst = blocked_out_ ? dnnl::memory::desc(to_dims(ys), dt::f32, tag::nChw8c) : plain_desc(ys);
    st->out_shape = blocked_out_ && b4 ? blocked_shape(ys[0], ys[1], ys[2], ys[3]) : ys;
    dnnl::algorithm alg = dnnl::algorithm::pooling_max;
    if (mode_ == "AveragePool" || mode_ == "GlobalAveragePool")
      alg = node_.attr_int("count_include_pad", 0) ? dnnl::algorithm::pooling_avg_include_padding
                                                   : dnnl::algorithm::pooling_avg_exclude_padding;
    dnnl::memory::desc dst_md = blocked_out_ ? st->user_dst : dnnl::memory::desc(to_dims(ys), dt::f32, tag::any);
    dnnl::pooling_v2_forward::desc desc(dnnl::prop_kind::forward_inference, alg, st->user_src, dst_md, to_dims(strides),
                                        to_dims(kernel), to_dims(dil), to_dims(pb), to_dims(pe));
    st->pd = dnnl::pooling_v2_forward::primitive_desc(desc, cpu_engine());
    st->pool = dnnl::pooling_v2_forward(st->pd);
    if (st->user_dst != st->pd.dst_desc())
      st->dst_reorder =
          dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), st->pd.dst_desc(), cpu_engine(), st->user_dst));
    state_ = std::move(st);
  }

  const ir::Node& node_;
  std::string mode_;
  bool blocked_in_ = false, blocked_out_ = false;
  int64_t channels_ = 0;
  std::unique_ptr<State> state_;
  Scratch dst_buf_, ws_buf_;
  std::mutex mutex_;
};

std::unique_ptr<Kernel> make_pool(const KernelInfo& info, std::string* why) {
  const ir::Node& node = info.node;
  std::string mode = node.domain == "quac" ? node.attr_string("mode", "") : node.op_type;
  if (mode != "MaxPool" && mode != "AveragePool" && mode != "GlobalAveragePool" && mode != "GlobalMaxPool") {
    *why = "unknown pool mode";
    return nullptr;
  }
  if (!maybe_float(info, 0)) {
    *why = "only float32 is supported";
    return nullptr;
  }
  if (node.outputs.size() > 1 && !node.outputs[1].empty()) {
    *why = "MaxPool Indices output is not supported";
    return nullptr;
  }
  if (mode == "AveragePool" && node.attr_int("count_include_pad", 0) && node.attr_int("ceil_mode", 0)) {
    *why = "count_include_pad with ceil_mode counts padding differently";
    return nullptr;
  }
  if (mode == "AveragePool" && node.has("dilations")) {
    for (int64_t d : node.attr_ints("dilations"))
      if (d != 1) {
        *why = "dilated AveragePool";
        return nullptr;
      }
  }
  return std::make_unique<PoolKernel>(node, mode);
}

#define QUAC_REGISTER_POOL(op) \
  QUAC_REGISTER_KERNEL({.domain = "", .op_type = op, .impl = "onednn", .priority = 10, .factory = make_pool})
QUAC_REGISTER_POOL("MaxPool");
QUAC_REGISTER_POOL("AveragePool");
QUAC_REGISTER_POOL("GlobalAveragePool");
QUAC_REGISTER_POOL("GlobalMaxPool");
QUAC_REGISTER_KERNEL(
    {.domain = "quac", .op_type = "Pool", .impl = "onednn", .priority = 10, .min_opset = 0, .factory = make_pool});

}  // namespace
}  // namespace quac::kernels
