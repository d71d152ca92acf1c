// oneDNN kernels for element-wise activations, binary ops with broadcasting, Softmax/LogSoftmax and quac.Gelu. Each
// caches its primitive per input shape; shapes or types oneDNN cannot take run on the reference kernel instead.
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "kernels/onednn_util.h"
#include "ops/op_util.h"

namespace quac::kernels {
namespace {

// Kernel base: a primitive cache keyed by input shapes, and the reference kernel as a fallback.
class CachedKernel : public Kernel {
 public:
  explicit CachedKernel(const KernelInfo& info) : fallback_(make_reference_kernel(info)) {}

 protected:
  void run_fallback(KernelContext& ctx, const std::string& why) {
    if (!fallback_) ctx.fail("the oneDNN kernel cannot run this (" + why + ") and no reference kernel exists");
    fallback_->run(ctx);
  }
  std::unique_ptr<Kernel> fallback_;
  std::mutex mutex_;
};

bool all_float(const KernelContext& ctx) {
  for (size_t i = 0; i < ctx.num_inputs(); ++i)
    if (ctx.input(i) && ctx.input(i)->dtype() != DataType::kFloat) return false;
  return true;
}

struct Eltwise {
  dnnl::algorithm alg;
  float alpha = 0, beta = 0;
};

class EltwiseKernel : public CachedKernel {
 public:
  EltwiseKernel(const KernelInfo& info, Eltwise e) : CachedKernel(info), e_(e) {}
  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.in(0);
    if (!all_float(ctx)) return run_fallback(ctx, "non-float input");
    std::lock_guard<std::mutex> lock(mutex_);
    Tensor& y = ctx.allocate_output(0, DataType::kFloat, x.shape());
    if (x.numel() == 0) return;
    auto it = prims_.find(x.numel());
    if (it == prims_.end()) {
      dnnl::memory::desc md({x.numel()}, dt::f32, tag::a);
      dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_inference, e_.alg, md, e_.alpha, e_.beta);
      it = prims_.emplace(x.numel(), dnnl::eltwise_forward(dnnl::eltwise_forward::primitive_desc(d, cpu_engine())))
               .first;
    }
    dnnl::memory::desc md({x.numel()}, dt::f32, tag::a);
    it->second.execute(cpu_stream(), {{DNNL_ARG_SRC, dnnl::memory(md, cpu_engine(), const_cast<void*>(x.raw_data()))},
                                      {DNNL_ARG_DST, dnnl::memory(md, cpu_engine(), y.raw_data())}});
    cpu_stream().wait();
  }

 private:
  Eltwise e_;
  std::map<int64_t, dnnl::eltwise_forward> prims_;
};

std::unique_ptr<Kernel> make_eltwise(const KernelInfo& info, std::string* why) {
  using alg = dnnl::algorithm;
  const ir::Node& n = info.node;
  if (!maybe_float(info, 0)) {
    *why = "only float32 is supported";
    return nullptr;
  }
  const std::string& op = n.op_type;
  Eltwise e{alg::eltwise_relu};
  if (op == "Relu") {
  } else if (op == "LeakyRelu") {
    e.alpha = n.attr_float("alpha", 0.01f);
  } else if (op == "Elu") {
    e = {alg::eltwise_elu, n.attr_float("alpha", 1.f)};
  } else if (op == "Sigmoid") {
    e = {alg::eltwise_logistic};
  } else if (op == "Tanh") {
    e = {alg::eltwise_tanh};
  } else if (op == "HardSwish") {
    e = {alg::eltwise_hardswish};
  } else if (op == "Exp") {
    e = {alg::eltwise_exp};
  } else if (op == "Log") {
    e = {alg::eltwise_log};
  } else if (op == "Sqrt") {
    e = {alg::eltwise_sqrt};
  } else if (op == "Abs") {
    e = {alg::eltwise_abs};
  } else if (op == "Neg") {
    e = {alg::eltwise_linear, -1.f, 0.f};
  } else if (op == "Softplus") {
    e = {alg::eltwise_soft_relu};
  } else if (op == "Gelu" && n.domain == "quac") {
    e = {alg::eltwise_gelu_erf};
  } else if (op == "Clip") {
    float lo = -3.4e38f, hi = 3.4e38f;
    if (info.opset < 11) {
      lo = n.attr_float("min", lo);
      hi = n.attr_float("max", hi);
    }
    for (size_t i = 1; i <= 2; ++i) {
      if (!n.has_input(i)) continue;
      const Tensor* t = info.constant_inputs[i];
      if (!t || t->numel() != 1 || t->dtype() != DataType::kFloat) {
        *why = "Clip bounds must be constant float scalars";
        return nullptr;
      }
      (i == 1 ? lo : hi) = t->data<float>()[0];
    }
    if (std::isnan(lo) || std::isnan(hi)) {
      *why = "NaN Clip bounds";
      return nullptr;
    }
    e = {alg::eltwise_clip_v2, lo, hi};
  } else {
    *why = "not an eltwise op";
    return nullptr;
  }
  return std::make_unique<EltwiseKernel>(info, e);
}

class BinaryKernel : public CachedKernel {
 public:
  BinaryKernel(const KernelInfo& info, dnnl::algorithm alg, bool commutative)
      : CachedKernel(info), alg_(alg), commutative_(commutative) {}
  void run(KernelContext& ctx) override {
    const Tensor* a = &ctx.in(0);
    const Tensor* b = &ctx.in(1);
    if (!all_float(ctx)) return run_fallback(ctx, "non-float input");
    Shape as = a->shape(), bs = b->shape();
    size_t r = std::max<size_t>({as.size(), bs.size(), 1});
    while (as.size() < r) as.insert(as.begin(), 1);
    while (bs.size() < r) bs.insert(bs.begin(), 1);
    Shape out(r);
    for (size_t i = 0; i < r; ++i) {
      if (as[i] != bs[i] && as[i] != 1 && bs[i] != 1) ctx.fail("shapes do not broadcast");
      out[i] = as[i] == 1 ? bs[i] : as[i];
    }
    Shape real_out(out.end() - static_cast<int64_t>(std::max(a->rank(), b->rank())), out.end());
    if (r > DNNL_MAX_NDIMS || shape_numel(out) == 0) return run_fallback(ctx, "unsupported shape");
    Tensor expanded;
    if (as != out) {
      if (commutative_ && bs == out) {
        std::swap(a, b);
        std::swap(as, bs);
      } else {
        // oneDNN broadcasts only the second source: materialise the first at full size.
        expanded = Tensor(DataType::kFloat, out);
        const float* src = a->data<float>();
        float* dst = expanded.data<float>();
        ops::for_each_broadcast(out, {ops::broadcast_strides(as, out)},
                                [&](int64_t i, const std::vector<int64_t>& off) { dst[i] = src[off[0]]; });
        a = &expanded;
        as = out;
      }
    }
    std::lock_guard<std::mutex> lock(mutex_);
    auto key = std::make_pair(as, bs);
    auto it = prims_.find(key);
    if (it == prims_.end()) {
      // Primitive, memories and arguments made once per shape pair; a run only sets the data handles.
      auto& eng = cpu_engine();
      Prepared p;
      dnnl::binary::desc d(alg_, plain_desc(as), plain_desc(bs), plain_desc(out));
      p.prim = dnnl::binary(dnnl::binary::primitive_desc(d, eng));
      p.a = dnnl::memory(plain_desc(as), eng, nullptr);
      p.b = dnnl::memory(plain_desc(bs), eng, nullptr);
      p.dst = dnnl::memory(plain_desc(out), eng, nullptr);
      p.args = {{DNNL_ARG_SRC_0, p.a}, {DNNL_ARG_SRC_1, p.b}, {DNNL_ARG_DST, p.dst}};
      it = prims_.emplace(key, std::move(p)).first;
    }
    Prepared& p = it->second;
    Tensor& y = ctx.allocate_output(0, DataType::kFloat, real_out);
    p.a.set_data_handle(const_cast<void*>(a->raw_data()));
    p.b.set_data_handle(const_cast<void*>(b->raw_data()));
    p.dst.set_data_handle(y.raw_data());
    p.prim.execute(cpu_stream(), p.args);
    cpu_stream().wait();
  }

 private:
  struct Prepared {
    dnnl::binary prim;
    dnnl::memory a, b, dst;
    std::unordered_map<int, dnnl::memory> args;
  };
  dnnl::algorithm alg_;
  bool commutative_;
  std::map<std::pair<Shape, Shape>, Prepared> prims_;
};

std::unique_ptr<Kernel> make_binary(const KernelInfo& info, std::string* why) {
  using alg = dnnl::algorithm;
  const std::string& op = info.node.op_type;
  if (info.node.inputs.size() != 2 || !maybe_float(info, 0) || !maybe_float(info, 1)) {
    *why = "only two float32 inputs are supported";
    return nullptr;
  }
  if (info.opset < 7 && info.node.has("broadcast")) {
    *why = "legacy broadcast attribute";
    return nullptr;
  }
  static const std::map<std::string, std::pair<alg, bool>> kOps = {
      {"Add", {alg::binary_add, true}},  {"Sub", {alg::binary_sub, false}}, {"Mul", {alg::binary_mul, true}},
      {"Div", {alg::binary_div, false}}, {"Max", {alg::binary_max, true}},  {"Min", {alg::binary_min, true}}};
  auto it = kOps.find(op);
  if (it == kOps.end()) {
    *why = "not a binary op";
    return nullptr;
  }
  return std::make_unique<BinaryKernel>(info, it->second.first, it->second.second);
}

class SoftmaxKernel : public CachedKernel {
 public:
  SoftmaxKernel(const KernelInfo& info, bool log) : CachedKernel(info), log_(log), opset_(info.opset) {
    axis_ = info.node.attr_int("axis", info.opset >= 13 ? -1 : 1);
  }
  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.in(0);
    if (!all_float(ctx)) return run_fallback(ctx, "non-float input");
    int64_t r = x.rank(), axis = axis_ < 0 ? axis_ + r : axis_;
    if (axis < 0 || axis >= std::max<int64_t>(r, 1)) ctx.fail("axis out of range");
    if (r == 0 || x.numel() == 0 || r > DNNL_MAX_NDIMS) return run_fallback(ctx, "unsupported shape");
    Shape shape = x.shape();
    int sm_axis = static_cast<int>(axis);
    if (opset_ < 13) {  // old semantics: coerce to 2-D at axis
      int64_t outer = 1, inner = 1;
      for (int64_t i = 0; i < r; ++i) (i < axis ? outer : inner) *= x.dim(i);
      shape = {outer, inner};
      sm_axis = 1;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = prims_.find(shape);
    if (it == prims_.end()) {
      auto md = plain_desc(shape);
      dnnl::primitive p;
      if (log_)
        p = dnnl::logsoftmax_forward(
            dnnl::logsoftmax_forward::primitive_desc({dnnl::prop_kind::forward_inference, md, sm_axis}, cpu_engine()));
      else
        p = dnnl::softmax_forward(
            dnnl::softmax_forward::primitive_desc({dnnl::prop_kind::forward_inference, md, sm_axis}, cpu_engine()));
      it = prims_.emplace(shape, p).first;
    }
    Tensor& y = ctx.allocate_output(0, DataType::kFloat, x.shape());
    auto md = plain_desc(shape);
    it->second.execute(cpu_stream(), {{DNNL_ARG_SRC, dnnl::memory(md, cpu_engine(), const_cast<void*>(x.raw_data()))},
                                      {DNNL_ARG_DST, dnnl::memory(md, cpu_engine(), y.raw_data())}});
    cpu_stream().wait();
  }

 private:
  bool log_;
  int64_t opset_, axis_;
  std::map<Shape, dnnl::primitive> prims_;
};

std::unique_ptr<Kernel> make_softmax(const KernelInfo& info, std::string* why) {
  if (!maybe_float(info, 0)) {
    *why = "only float32 is supported";
    return nullptr;
  }
  return std::make_unique<SoftmaxKernel>(info, info.node.op_type == "LogSoftmax");
}

#define QUAC_REGISTER_FAST(op, fn) \
  QUAC_REGISTER_KERNEL({.domain = "", .op_type = op, .impl = "onednn", .priority = 10, .factory = fn})
QUAC_REGISTER_FAST("Relu", make_eltwise);
QUAC_REGISTER_FAST("LeakyRelu", make_eltwise);
QUAC_REGISTER_FAST("Elu", make_eltwise);
QUAC_REGISTER_FAST("Sigmoid", make_eltwise);
QUAC_REGISTER_FAST("Tanh", make_eltwise);
QUAC_REGISTER_FAST("HardSwish", make_eltwise);
QUAC_REGISTER_FAST("Exp", make_eltwise);
QUAC_REGISTER_FAST("Log", make_eltwise);
QUAC_REGISTER_FAST("Sqrt", make_eltwise);
QUAC_REGISTER_FAST("Abs", make_eltwise);
QUAC_REGISTER_FAST("Neg", make_eltwise);
QUAC_REGISTER_FAST("Softplus", make_eltwise);
QUAC_REGISTER_FAST("Clip", make_eltwise);
QUAC_REGISTER_KERNEL(
    {.domain = "quac", .op_type = "Gelu", .impl = "onednn", .priority = 10, .min_opset = 0, .factory = make_eltwise});
QUAC_REGISTER_FAST("Add", make_binary);
QUAC_REGISTER_FAST("Sub", make_binary);
QUAC_REGISTER_FAST("Mul", make_binary);
QUAC_REGISTER_FAST("Div", make_binary);
QUAC_REGISTER_FAST("Max", make_binary);
QUAC_REGISTER_FAST("Min", make_binary);
QUAC_REGISTER_FAST("Softmax", make_softmax);
QUAC_REGISTER_FAST("LogSoftmax", make_softmax);

}  // namespace
}  // namespace quac::kernels
