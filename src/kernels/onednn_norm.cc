// oneDNN kernels for BatchNormalization (inference), LayerNormalization (ONNX and quac), Concat and the Reduce*
// family. Primitives are cached per input shape; what oneDNN cannot take runs on the reference kernel.
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "kernels/onednn_util.h"

namespace quac::kernels {
namespace {

class FallbackKernel : public Kernel {
 public:
  explicit FallbackKernel(const KernelInfo& info) : fallback_(make_reference_kernel(info)) {}
  void run(KernelContext& ctx) final {
    fell_back_ = false;
    compute(ctx);
  }
  const char* last_variant() const override { return fell_back_ ? "reference" : nullptr; }

 protected:
  // The oneDNN computation, which hands what it cannot take to run_fallback.
  virtual void compute(KernelContext& ctx) = 0;
  void run_fallback(KernelContext& ctx, const std::string& why) {
    if (!fallback_) ctx.fail("the oneDNN kernel cannot run this (" + why + ") and no reference kernel exists");
    fell_back_ = true;
    fallback_->run(ctx);
  }
  bool all_float(const KernelContext& ctx) const {
    for (size_t i = 0; i < ctx.num_inputs(); ++i)
      if (ctx.input(i) && ctx.input(i)->dtype() != DataType::kFloat) return false;
    return true;
  }
  std::unique_ptr<Kernel> fallback_;
  std::mutex mutex_;
  std::atomic<bool> fell_back_{false};  // the last run went to the reference kernel
};

dnnl::memory mem(const dnnl::memory::desc& md, const Tensor& t) {
  return dnnl::memory(md, cpu_engine(), const_cast<void*>(t.raw_data()));
}

class BatchNormKernel : public FallbackKernel {
 public:
  BatchNormKernel(const KernelInfo& info) : FallbackKernel(info), eps_(info.node.attr_float("epsilon", 1e-5f)) {}
  void compute(KernelContext& ctx) override {
    const Tensor& x = ctx.in(0);
    if (!all_float(ctx)) return run_fallback(ctx, "non-float input");
    if (x.rank() < 2 || x.rank() > 5 || x.numel() == 0) return run_fallback(ctx, "unsupported rank");
    int64_t c = x.dim(1);
    for (size_t i = 1; i <= 4; ++i)
      if (ctx.in(i).numel() != c) ctx.fail("scale, bias, mean and var must have C elements");
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = prims_.find(x.shape());
    if (it == prims_.end()) {
      using f = dnnl::normalization_flags;
      dnnl::batch_normalization_forward::desc d(dnnl::prop_kind::forward_inference, plain_desc(x.shape()), eps_,
                                                f::use_global_stats | f::use_scale | f::use_shift);
      it = prims_
               .emplace(x.shape(), dnnl::batch_normalization_forward(
                                       dnnl::batch_normalization_forward::primitive_desc(d, cpu_engine())))
               .first;
    }
    Tensor& y = ctx.allocate_output(0, DataType::kFloat, x.shape());
    dnnl::memory::desc cmd({c}, dt::f32, tag::a);
    it->second.execute(cpu_stream(), {{DNNL_ARG_SRC, mem(plain_desc(x.shape()), x)},
                                      {DNNL_ARG_DST, mem(plain_desc(x.shape()), y)},
                                      {DNNL_ARG_SCALE, mem(cmd, ctx.in(1))},
                                      {DNNL_ARG_SHIFT, mem(cmd, ctx.in(2))},
                                      {DNNL_ARG_MEAN, mem(cmd, ctx.in(3))},
                                      {DNNL_ARG_VARIANCE, mem(cmd, ctx.in(4))}});
    cpu_stream().wait();
  }

 private:
  float eps_;
  std::map<Shape, dnnl::batch_normalization_forward> prims_;
};

std::unique_ptr<Kernel> make_batch_norm(const KernelInfo& info, std::string* why) {
  const ir::Node& n = info.node;
  for (size_t o = 1; o < n.outputs.size(); ++o)
    if (!n.outputs[o].empty()) {
      *why = "training outputs are not supported";
      return nullptr;
    }
  if (n.attr_int("training_mode", 0) || n.attr_int("spatial", 1) != 1 || n.inputs.size() != 5 ||
      (n.has("is_test") && n.attr_int("is_test", 0) == 0)) {
    *why = "only spatial inference mode";
    return nullptr;
  }
  for (size_t i = 0; i < 5; ++i)
    if (!maybe_float(info, i)) {
      *why = "only float32 is supported";
      return nullptr;
    }
  return std::make_unique<BatchNormKernel>(info);
}

class LayerNormKernel : public FallbackKernel {
 public:
  LayerNormKernel(const KernelInfo& info)
      : FallbackKernel(info), axis_(info.node.attr_int("axis", -1)), eps_(info.node.attr_float("epsilon", 1e-5f)) {}
  void compute(KernelContext& ctx) override {
    const Tensor& x = ctx.in(0);
    const Tensor& scale = ctx.in(1);
    const Tensor* bias = ctx.input(2);
    if (!all_float(ctx)) return run_fallback(ctx, "non-float input");
    int64_t r = x.rank(), axis = axis_ < 0 ? axis_ + r : axis_;
    if (axis < 0 || axis >= r) ctx.fail("axis out of range");
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < r; ++i) (i < axis ? outer : inner) *= x.dim(i);
    if (scale.numel() != inner || (bias && bias->numel() != inner) || x.numel() == 0)
      return run_fallback(ctx, "broadcast scale or bias");
    Shape shape = {outer, inner};
    std::lock_guard<std::mutex> lock(mutex_);
    auto key = std::make_pair(shape, bias != nullptr);
    auto it = prims_.find(key);
    if (it == prims_.end()) {
      using f = dnnl::normalization_flags;
      f flags = bias ? f::use_scale | f::use_shift : f::use_scale;
      dnnl::layer_normalization_forward::desc d(dnnl::prop_kind::forward_inference, plain_desc(shape), eps_, flags);
      it = prims_
               .emplace(key, dnnl::layer_normalization_forward(
                                 dnnl::layer_normalization_forward::primitive_desc(d, cpu_engine())))
               .first;
    }
    Tensor& y = ctx.allocate_output(0, DataType::kFloat, x.shape());
    dnnl::memory::desc cmd({inner}, dt::f32, tag::a);
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, mem(plain_desc(shape), x)},
                                               {DNNL_ARG_DST, mem(plain_desc(shape), y)},
                                               {DNNL_ARG_SCALE, mem(cmd, scale)}};
    if (bias) args[DNNL_ARG_SHIFT] = mem(cmd, *bias);
    it->second.execute(cpu_stream(), args);
    cpu_stream().wait();
  }

 private:
  int64_t axis_;
  float eps_;
  std::map<std::pair<Shape, bool>, dnnl::layer_normalization_forward> prims_;
};

std::unique_ptr<Kernel> make_layer_norm(const KernelInfo& info, std::string* why) {
  const ir::Node& n = info.node;
  for (size_t o = 1; o < n.outputs.size(); ++o)
    if (!n.outputs[o].empty()) {
      *why = "Mean/InvStdDev outputs are not supported";
      return nullptr;
    }
  for (size_t i = 0; i < n.inputs.size(); ++i)
    if (n.has_input(i) && !maybe_float(info, i)) {
      *why = "only float32 is supported";
      return nullptr;
    }
  return std::make_unique<LayerNormKernel>(info);
}

class ConcatKernel : public FallbackKernel {
 public:
  ConcatKernel(const KernelInfo& info) : FallbackKernel(info), axis_(info.node.attr_int("axis", 1)) {}
  void compute(KernelContext& ctx) override {
    if (!all_float(ctx) || ctx.num_inputs() == 0) return run_fallback(ctx, "non-float input");
    std::vector<Shape> shapes;
    for (size_t i = 0; i < ctx.num_inputs(); ++i) {
      const Tensor& t = ctx.in(i);
      if (t.numel() == 0 || t.rank() == 0 || t.rank() > DNNL_MAX_NDIMS) return run_fallback(ctx, "empty input");
      shapes.push_back(t.shape());
    }
    int64_t r = static_cast<int64_t>(shapes[0].size()), axis = axis_ < 0 ? axis_ + r : axis_;
    if (axis < 0 || axis >= r) ctx.fail("axis out of range");
    Shape out = shapes[0];
    for (size_t i = 1; i < shapes.size(); ++i) {
      if (static_cast<int64_t>(shapes[i].size()) != r) ctx.fail("inputs must have the same rank");
      for (int64_t d = 0; d < r; ++d)
        if (d != axis && shapes[i][static_cast<size_t>(d)] != out[static_cast<size_t>(d)])
          ctx.fail("input shapes differ outside the concat axis");
      out[static_cast<size_t>(axis)] += shapes[i][static_cast<size_t>(axis)];
    }
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = prims_.find(shapes);
    if (it == prims_.end()) {
      std::vector<dnnl::memory::desc> mds;
      for (const auto& s : shapes) mds.push_back(plain_desc(s));
      dnnl::concat::primitive_desc pd(plain_desc(out), static_cast<int>(axis), mds, cpu_engine());
      it = prims_.emplace(shapes, dnnl::concat(pd)).first;
    }
    Tensor& y = ctx.allocate_output(0, DataType::kFloat, out);
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_DST, mem(plain_desc(out), y)}};
    for (size_t i = 0; i < shapes.size(); ++i)
      args[DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i)] = mem(plain_desc(shapes[i]), ctx.in(i));
    it->second.execute(cpu_stream(), args);
    cpu_stream().wait();
  }

 private:
  int64_t axis_;
  std::map<std::vector<Shape>, dnnl::concat> prims_;
};

std::unique_ptr<Kernel> make_concat(const KernelInfo& info, std::string* why) {
  for (size_t i = 0; i < info.node.inputs.size(); ++i)
    if (!maybe_float(info, i)) {
      *why = "only float32 is supported";
      return nullptr;
    }
  if (info.opset < 4 && !info.node.has("axis")) {
    *why = "opset < 4 without axis";
    return nullptr;
  }
  return std::make_unique<ConcatKernel>(info);
}

class ReduceKernel : public FallbackKernel {
 public:
  ReduceKernel(const KernelInfo& info, dnnl::algorithm alg, float p, std::vector<int64_t> axes, bool axes_given)
      : FallbackKernel(info), alg_(alg), p_(p), axes_(std::move(axes)), axes_given_(axes_given) {
    keepdims_ = info.node.attr_int("keepdims", 1) != 0;
    noop_ = info.node.attr_int("noop_with_empty_axes", 0) != 0;
  }
  void compute(KernelContext& ctx) override {
    const Tensor& x = ctx.in(0);
    if (x.dtype() != DataType::kFloat || x.rank() == 0 || x.rank() > DNNL_MAX_NDIMS || x.numel() == 0 ||
        (axes_.empty() && noop_))
      return run_fallback(ctx, "unsupported input");
    int64_t r = x.rank();
    std::vector<bool> reduce(static_cast<size_t>(r), axes_.empty());
    for (int64_t a : axes_) {
      int64_t k = a < 0 ? a + r : a;
      if (k < 0 || k >= r) ctx.fail("axis out of range");
      reduce[static_cast<size_t>(k)] = true;
    }
    Shape dst = x.shape(), out;
    for (int64_t i = 0; i < r; ++i) {
      if (reduce[static_cast<size_t>(i)]) dst[static_cast<size_t>(i)] = 1;
      if (!reduce[static_cast<size_t>(i)] || keepdims_) out.push_back(dst[static_cast<size_t>(i)]);
    }
    if (dst == x.shape()) return run_fallback(ctx, "nothing to reduce");
    std::unique_lock<std::mutex> lock(mutex_);
    auto it = prims_.find(x.shape());
    if (it == prims_.end()) {
      // oneDNN's reference reduction (what it offers for a middle axis, say) is several times slower than quac's
      // own reference kernel (ViT fixture's token mean, 1x16x64: 27 us against 4 us): that shape goes there.
      dnnl::reduction::desc d(alg_, plain_desc(x.shape()), plain_desc(dst), p_, 0.f);
      dnnl::reduction::primitive_desc pd(d, cpu_engine());
      std::optional<dnnl::reduction> prim;
      if (std::string(pd.impl_info_str()).find("ref") == std::string::npos) prim.emplace(pd);
      it = prims_.emplace(x.shape(), std::move(prim)).first;
    }
    if (!it->second) {
      lock.unlock();
      return run_fallback(ctx, "oneDNN has only its reference implementation for this shape");
    }
    Tensor& y = ctx.allocate_output(0, DataType::kFloat, out);
    it->second->execute(cpu_stream(),
                        {{DNNL_ARG_SRC, mem(plain_desc(x.shape()), x)}, {DNNL_ARG_DST, mem(plain_desc(dst), y)}});
    cpu_stream().wait();
  }

 private:
  dnnl::algorithm alg_;
  float p_;
  std::vector<int64_t> axes_;
  bool axes_given_, keepdims_ = true, noop_ = false;
  std::map<Shape, std::optional<dnnl::reduction>> prims_;  // nullopt: the shape goes to the reference kernel
};

std::unique_ptr<Kernel> make_reduce(const KernelInfo& info, std::string* why) {
  using alg = dnnl::algorithm;
  const std::string& op = info.node.op_type;
  static const std::map<std::string, std::pair<alg, float>> kOps = {
      {"ReduceMean", {alg::reduction_mean, 0.f}},      {"ReduceSum", {alg::reduction_sum, 0.f}},
      {"ReduceMax", {alg::reduction_max, 0.f}},        {"ReduceMin", {alg::reduction_min, 0.f}},
      {"ReduceProd", {alg::reduction_mul, 0.f}},       {"ReduceL1", {alg::reduction_norm_lp_sum, 1.f}},
      {"ReduceL2", {alg::reduction_norm_lp_sum, 2.f}}, {"ReduceSumSquare", {alg::reduction_norm_lp_power_p_sum, 2.f}}};
  auto it = kOps.find(op);
  if (it == kOps.end() || !maybe_float(info, 0)) {
    *why = "only float32 reductions";
    return nullptr;
  }
  std::vector<int64_t> axes = info.node.attr_ints("axes", {});
  bool given = info.node.has("axes");
  if (info.node.has_input(1)) {
    if (!info.constant_inputs[1]) {
      *why = "axes must be constant";
      return nullptr;
    }
    axes = info.constant_inputs[1]->to_int_vector();
    given = true;
  }
  return std::make_unique<ReduceKernel>(info, it->second.first, it->second.second, axes, given);
}

#define QUAC_REGISTER_FAST(op, fn) \
  QUAC_REGISTER_KERNEL({.domain = "", .op_type = op, .impl = "onednn", .priority = 10, .factory = fn})
QUAC_REGISTER_FAST("BatchNormalization", make_batch_norm);
QUAC_REGISTER_FAST("LayerNormalization", make_layer_norm);
QUAC_REGISTER_KERNEL({.domain = "quac",
                      .op_type = "LayerNormalization",
                      .impl = "onednn",
                      .priority = 10,
                      .min_opset = 0,
                      .factory = make_layer_norm});
QUAC_REGISTER_FAST("Concat", make_concat);
QUAC_REGISTER_FAST("ReduceMean", make_reduce);
QUAC_REGISTER_FAST("ReduceSum", make_reduce);
QUAC_REGISTER_FAST("ReduceMax", make_reduce);
QUAC_REGISTER_FAST("ReduceMin", make_reduce);
QUAC_REGISTER_FAST("ReduceProd", make_reduce);
QUAC_REGISTER_FAST("ReduceL1", make_reduce);
QUAC_REGISTER_FAST("ReduceL2", make_reduce);
QUAC_REGISTER_FAST("ReduceSumSquare", make_reduce);

}  // namespace
}  // namespace quac::kernels
