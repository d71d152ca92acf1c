// oneDNN matmul for Gemm and MatMul (batched, broadcast batch dims). Constant weights are reordered once per shape
// into the primitive's preferred layout.
#include <algorithm>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "kernels/onednn_util.h"

namespace quac::kernels {
namespace {

dnnl::memory::dims row_major_strides(const dnnl::memory::dims& d) {
  dnnl::memory::dims s(d.size(), 1);
  for (size_t i = d.size(); i-- > 1;) s[i - 1] = s[i] * d[i];
  return s;
}

// dims of a rank-r tensor viewed as [..., rows, cols] (optionally transposed) for oneDNN.
dnnl::memory::desc matrix_desc(const dnnl::memory::dims& d, bool transpose) {
  auto strides = row_major_strides(d);
  auto dims = d;
  size_t r = d.size();
  if (transpose) {
    std::swap(dims[r - 1], dims[r - 2]);
    std::swap(strides[r - 1], strides[r - 2]);
  }
  return dnnl::memory::desc(dims, dt::f32, strides);
}

class MatMulKernel : public Kernel {
 public:
  // gemm: ONNX Gemm; otherwise MatMul, or quac.MatMulAdd (MatMul + a bias of N values along the last axis).
  MatMulKernel(const KernelInfo& info, bool gemm) : node_(info.node), gemm_(gemm) {
    bias_ = node_.domain == "quac" && node_.op_type == "MatMulAdd";
    if (info.constant_inputs.size() > 1 && info.constant_inputs[1]) const_b_ = *info.constant_inputs[1];
    if (bias_ && info.constant_inputs.size() > 2 && info.constant_inputs[2]) const_c_ = *info.constant_inputs[2];
    if (gemm) {
      trans_a_ = node_.attr_int("transA", 0) != 0;
      trans_b_ = node_.attr_int("transB", 0) != 0;
      alpha_ = node_.attr_float("alpha", 1.f);
      beta_ = node_.attr_float("beta", 1.f);
      if (info.constant_inputs.size() > 2 && info.constant_inputs[2]) {
        const Tensor& c = *info.constant_inputs[2];
        const_c_ = Tensor(DataType::kFloat, c.shape());
        for (int64_t i = 0; i < c.numel(); ++i) const_c_.data<float>()[i] = beta_ * c.data<float>()[i];
      }
    }
  }

  void run(KernelContext& ctx) override {
    std::lock_guard<std::mutex> lock(mutex_);
    const Tensor& a = ctx.in(0);
    const Tensor& b = ctx.in(1);
    const Tensor* c = gemm_ || bias_ ? ctx.input(2) : nullptr;
    if (bias_ && !c) ctx.fail("MatMulAdd needs its bias input");
    if (a.dtype() != DataType::kFloat || b.dtype() != DataType::kFloat || (c && c->dtype() != DataType::kFloat))
      ctx.fail("the oneDNN matmul needs float32");
    Shape cs = c ? c->shape() : Shape{};
    if (!state_ || state_->a_shape != a.shape() || state_->b_shape != b.shape() || state_->c_shape != cs ||
        state_->has_c != (c != nullptr))
      prepare(ctx, a.shape(), b.shape(), c);
    State& s = *state_;
    auto& strm = cpu_stream();
    Tensor& out = ctx.allocate_output(0, DataType::kFloat, s.out_shape);
    // Memories and arguments were made in prepare(); a run points them at this run's data.
    s.a.set_data_handle(const_cast<void*>(a.raw_data()));
    s.dst.set_data_handle(out.raw_data());
    if (!const_b_.defined()) {
      s.b_user.set_data_handle(const_cast<void*>(b.raw_data()));
      if (s.b_reorder) s.b_reorder.execute(strm, s.b_user, s.weights);
    }
    if (c && !const_c_.defined()) s.c.set_data_handle(const_cast<void*>(c->raw_data()));
    s.prim.execute(strm, s.args);
    strm.wait();
  }

 private:
  struct State {
    Shape a_shape, b_shape, c_shape, out_shape;
    bool has_c = false;
    dnnl::memory::desc a_md, b_md, c_md;
    dnnl::matmul::primitive_desc pd;
    dnnl::matmul prim;
    dnnl::memory a, b_user, weights, c, dst, scratchpad;
    dnnl::reorder b_reorder;  // non-constant B in another layout than the primitive's
    std::unordered_map<int, dnnl::memory> args;
  };

  void prepare(KernelContext& ctx, const Shape& as, const Shape& bs, const Tensor* c) {
    auto st = std::make_unique<State>();
    st->a_shape = as;
    st->b_shape = bs;
    st->has_c = c != nullptr;
    if (c) st->c_shape = c->shape();
    dnnl::memory::dims ad = to_dims(as), bd = to_dims(bs);
    Shape out;
    if (gemm_) {
      if (as.size() != 2 || bs.size() != 2) ctx.fail("Gemm inputs must be 2-D");
      int64_t m = trans_a_ ? as[1] : as[0], k = trans_a_ ? as[0] : as[1];
      int64_t kb = trans_b_ ? bs[1] : bs[0], n = trans_b_ ? bs[0] : bs[1];
      if (k != kb) ctx.fail("Gemm inner dimensions differ: " + shape_str(as) + " x " + shape_str(bs));
      out = {m, n};
    } else {
      if (as.empty() || bs.empty()) ctx.fail("MatMul inputs must have rank >= 1");
      bool a1 = as.size() == 1, b1 = bs.size() == 1;
      if (a1) ad = {1, as[0]};
      if (b1) bd = {bs[0], 1};
      size_t r = std::max(ad.size(), bd.size());
      while (ad.size() < r) ad.insert(ad.begin(), 1);
      while (bd.size() < r) bd.insert(bd.begin(), 1);
      if (r > DNNL_MAX_NDIMS) ctx.fail("MatMul rank too large");
      if (ad[r - 1] != bd[r - 2]) ctx.fail("MatMul inner dimensions differ: " + shape_str(as) + " x " + shape_str(bs));
      Shape full;
      for (size_t i = 0; i + 2 < r; ++i) {
        if (ad[i] != bd[i] && ad[i] != 1 && bd[i] != 1) ctx.fail("MatMul batch dimensions do not broadcast");
        full.push_back(std::max(ad[i], bd[i]));
        if (ad[i] == 0 || bd[i] == 0) full.back() = 0;
      }
      full.push_back(ad[r - 2]);
      full.push_back(bd[r - 1]);
      for (int64_t d : full)
        if (d == 0) ctx.fail("empty MatMul is not supported by the oneDNN kernel");
      // Output shape drops the dimensions added for 1-D inputs.
      out.assign(full.begin(), full.end() - 2);
      if (!a1) out.push_back(full[r - 2]);
      if (!b1) out.push_back(full[r - 1]);
      st->out_shape = out;
      out = full;
    }
    if (gemm_) st->out_shape = out;
    st->a_md = matrix_desc(ad, trans_a_);
    st->b_md = matrix_desc(bd, trans_b_);
    dnnl::memory::dims od = to_dims(out);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (alpha_ != 1.f) attr.set_output_scales(0, {alpha_});
    if (c && bias_) {
      if (c->numel() != od.back())
        ctx.fail("bias has " + std::to_string(c->numel()) + " values, expected " + std::to_string(od.back()));
      dnnl::memory::dims cd(od.size(), 1);
      cd.back() = od.back();
      st->c_md = dnnl::memory::desc(cd, dt::f32, plain_tag(cd.size()));
      dnnl::post_ops pops;
      pops.append_binary(dnnl::algorithm::binary_add, st->c_md);
      attr.set_post_ops(pops);
    } else if (c) {
      if (!const_c_.defined() && beta_ != 1.f) ctx.fail("non-constant C with beta != 1");
      Shape cs = c->shape();
      if (cs.size() > 2) ctx.fail("Gemm C must have rank <= 2");
      while (cs.size() < 2) cs.insert(cs.begin(), 1);
      for (size_t i = 0; i < 2; ++i)
        if (cs[i] != 1 && cs[i] != out[i]) ctx.fail("Gemm C does not broadcast to the output");
      st->c_md = plain_desc(cs);
      dnnl::post_ops pops;
      pops.append_binary(dnnl::algorithm::binary_add, st->c_md);
      attr.set_post_ops(pops);
    }
    auto w_md = const_b_.defined() ? dnnl::memory::desc(st->b_md.dims(), dt::f32, tag::any) : st->b_md;
    dnnl::matmul::desc desc(st->a_md, w_md, dnnl::memory::desc(od, dt::f32, plain_tag(od.size())));
    st->pd = dnnl::matmul::primitive_desc(desc, attr, cpu_engine());
    st->prim = dnnl::matmul(st->pd);
    auto& eng = cpu_engine();
    const auto w_desc = st->pd.weights_desc();
    if (const_b_.defined()) {
      st->weights = dnnl::memory(w_desc, eng);
      reorder(dnnl::memory(st->b_md, eng, const_cast<void*>(const_b_.raw_data())), st->weights);
    } else {
      st->b_user = dnnl::memory(st->b_md, eng, nullptr);
      st->weights = st->b_user;
      if (st->b_md != w_desc) {
        st->b_reorder = dnnl::reorder(dnnl::reorder::primitive_desc(eng, st->b_md, eng, w_desc));
        st->weights = dnnl::memory(w_desc, eng, b_buf_.get(w_desc.get_size()));
      }
    }
    st->a = dnnl::memory(st->a_md, eng, nullptr);
    st->dst = dnnl::memory(st->pd.dst_desc(), eng, nullptr);
    st->scratchpad = pad_buf_.scratchpad(st->pd.scratchpad_desc());
    st->args = {{DNNL_ARG_SRC, st->a},
                {DNNL_ARG_WEIGHTS, st->weights},
                {DNNL_ARG_DST, st->dst},
                {DNNL_ARG_SCRATCHPAD, st->scratchpad}};
    if (c) {
      st->c = dnnl::memory(st->c_md, eng, const_c_.defined() ? const_c_.raw_data() : nullptr);
      st->args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1] = st->c;
    }
    state_ = std::move(st);
  }

  const ir::Node& node_;
  bool gemm_, bias_ = false;
  bool trans_a_ = false, trans_b_ = false;
  float alpha_ = 1.f, beta_ = 1.f;
  Tensor const_b_, const_c_;
  std::unique_ptr<State> state_;
  Scratch b_buf_, pad_buf_;
  std::mutex mutex_;
};

std::unique_ptr<Kernel> make_matmul(const KernelInfo& info, std::string* why) {
  bool gemm = info.node.op_type == "Gemm";
  for (size_t i = 0; i < info.node.inputs.size(); ++i)
    if (info.node.has_input(i) && !maybe_float(info, i)) {
      *why = "only float32 is supported";
      return nullptr;
    }
  if (gemm && info.node.has_input(2) && !info.constant_inputs[2] && info.node.attr_float("beta", 1.f) != 1.f) {
    *why = "non-constant C with beta != 1";
    return nullptr;
  }
  if (gemm && !info.node.has_input(2) && info.opset < 11) {
    *why = "C is required before opset 11";
    return nullptr;
  }
  return std::make_unique<MatMulKernel>(info, gemm);
}

QUAC_REGISTER_KERNEL({.domain = "", .op_type = "Gemm", .impl = "onednn", .priority = 10, .factory = make_matmul});
QUAC_REGISTER_KERNEL({.domain = "", .op_type = "MatMul", .impl = "onednn", .priority = 10, .factory = make_matmul});
QUAC_REGISTER_KERNEL({.domain = "quac",
                      .op_type = "MatMulAdd",
                      .impl = "onednn",
                      .priority = 10,
                      .min_opset = 0,
                      .factory = make_matmul});

}  // namespace
}  // namespace quac::kernels
