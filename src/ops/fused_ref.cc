// Reference kernels (plain C++, the numerical oracle) for the ops quac's passes create: quac.FusedConv (Conv + bias +
// post-ops), quac.Pool (2-D pools that may read/write the blocked layout), quac.Gelu, quac.LayerNormalization.
#include "ops/fused_ref.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "kernels/blocked_layout.h"
#include "ops/kernel.h"
#include "ops/quant_util.h"
#include "passes/shape_infer.h"

namespace quac::ops {

float apply_post_op(const std::string& op, float alpha, float beta, float x) {
  if (op == "Relu") return x > 0 ? x : 0.f;
  if (op == "Clip") return std::min(std::max(x, alpha), beta);
  if (op == "LeakyRelu") return x < 0 ? alpha * x : x;
  if (op == "Sigmoid") return 1.f / (1.f + std::exp(-x));
  if (op == "Tanh") return std::tanh(x);
  if (op == "HardSigmoid") return std::max(0.f, std::min(1.f, alpha * x + beta));
  if (op == "HardSwish") return x * std::max(0.f, std::min(1.f, x / 6.f + 0.5f));
  if (op == "Elu") return x < 0 ? alpha * (std::exp(x) - 1.f) : x;
  if (op == "Swish") return x / (1.f + std::exp(-alpha * x));
  if (op == "Gelu") return 0.5f * x * (1.f + std::erf(x / std::sqrt(2.f)));
  QUAC_THROW(kInvalidModel, "unknown fused post-op '", op, "'");
}

bool is_blocked_input(const ir::Node& node, size_t index) {
  for (int64_t k : node.attr_ints("blocked_inputs", {}))
    if (k == static_cast<int64_t>(index)) return true;
  return false;
}

Tensor plain_input(const KernelContext& ctx, size_t index, int64_t channels) {
  const Tensor& t = ctx.in(index);
  if (!is_blocked_input(ctx.node(), index)) return t;
  if (t.rank() != 5 || t.dtype() != DataType::kFloat || t.dim(4) != kernels::kChannelBlock ||
      t.dim(1) != (channels + kernels::kChannelBlock - 1) / kernels::kChannelBlock)
    ctx.fail("blocked input " + std::to_string(index) + " has unexpected shape " + shape_str(t.shape()));
  Tensor plain(DataType::kFloat, {t.dim(0), channels, t.dim(2), t.dim(3)});
  kernels::from_blocked(t.data<float>(), plain.data<float>(), t.dim(0), channels, t.dim(2), t.dim(3));
  return plain;
}

void write_output(KernelContext& ctx, const Tensor& plain) {
  if (ctx.node().attr_int("blocked_output", 0) == 0) {
    ctx.set_output(0, plain);
    return;
  }
  if (plain.rank() != 4) ctx.fail("a blocked output must have rank 4");
  const Shape& s = plain.shape();
  Tensor& out = ctx.allocate_output(0, DataType::kFloat, kernels::blocked_shape(s[0], s[1], s[2], s[3]));
  kernels::to_blocked(plain.data<float>(), out.data<float>(), s[0], s[1], s[2], s[3]);
}

namespace {

// Spatial geometry padded to three dimensions so one loop nest covers 1-D, 2-D and 3-D.
struct Window {
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, d[3] = {1, 1, 1};
  int64_t pb[3] = {0, 0, 0}, pe[3] = {0, 0, 0};
};

Window make_window(const KernelContext& ctx, const Shape& x, const Shape& kernel) {
  const ir::Node& node = ctx.node();
  size_t n = x.size() - 2;
  if (n < 1 || n > 3) ctx.fail("only 1-D, 2-D and 3-D windows are supported");
  Shape in(x.begin() + 2, x.end()), out, pb, pe;
  if (!passes::window_output(node, in, kernel, &out, &pb, &pe)) ctx.fail("invalid window attributes for the input");
  Window w;
  auto strides = node.attr_ints("strides", {}), dil = node.attr_ints("dilations", {});
  for (size_t i = 0; i < n; ++i) {
    size_t j = 3 - n + i;
    w.in[j] = in[i];
    w.out[j] = out[i];
    w.k[j] = kernel[i];
    w.s[j] = strides.empty() ? 1 : strides[i];
    w.d[j] = dil.empty() ? 1 : dil[i];
    w.pb[j] = pb[i];
    w.pe[j] = pe[i];
  }
  return w;
}

}  // namespace

Tensor conv_forward_ref(const KernelContext& ctx, const Tensor& x, const Tensor& w, const Tensor* b) {
  const ir::Node& node = ctx.node();
  if (w.dtype() != DataType::kFloat || w.rank() < 3) ctx.fail("weights must be float with rank >= 3");
  int64_t group = node.attr_int("group", 1), m = w.dim(0);
  if (group <= 0 || m % group) ctx.fail("invalid group");
  int64_t cg = w.dim(1), c = cg * group, mg = m / group;
  if (x.dtype() != DataType::kFloat || x.rank() != w.rank() || x.dim(1) != c)
    ctx.fail("input " + shape_str(x.shape()) + " does not match weights " + shape_str(w.shape()));
  Shape kernel(w.shape().begin() + 2, w.shape().end());
  auto ks = node.attr_ints("kernel_shape", {});
  if (!ks.empty() && ks != kernel) ctx.fail("kernel_shape does not match the weights");
  Window win = make_window(ctx, x.shape(), kernel);
  if (b && (b->dtype() != DataType::kFloat || b->numel() != m)) ctx.fail("bias must be float with M elements");
  int64_t batch = x.dim(0);
  Shape out_shape = {batch, m};
  for (int64_t i = 3 - (x.rank() - 2); i < 3; ++i) out_shape.push_back(win.out[i]);
  Tensor y(DataType::kFloat, out_shape);
  const float *xd = x.data<float>(), *wd = w.data<float>();
  float* yd = y.data<float>();
  int64_t in_sp = win.in[0] * win.in[1] * win.in[2], out_sp = win.out[0] * win.out[1] * win.out[2];
  int64_t ksz = win.k[0] * win.k[1] * win.k[2];
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t oc = 0; oc < m; ++oc) {
      int64_t g = oc / mg;
      float* yo = yd + (n * m + oc) * out_sp;
      for (int64_t o0 = 0; o0 < win.out[0]; ++o0)
        for (int64_t o1 = 0; o1 < win.out[1]; ++o1)
          for (int64_t o2 = 0; o2 < win.out[2]; ++o2) {
            double acc = b ? b->data<float>()[oc] : 0.0;
            for (int64_t ic = 0; ic < cg; ++ic) {
              const float* xi = xd + (n * c + g * cg + ic) * in_sp;
              const float* wi = wd + (oc * cg + ic) * ksz;
              for (int64_t k0 = 0; k0 < win.k[0]; ++k0) {
                int64_t i0 = o0 * win.s[0] - win.pb[0] + k0 * win.d[0];
                if (i0 < 0 || i0 >= win.in[0]) continue;
                for (int64_t k1 = 0; k1 < win.k[1]; ++k1) {
                  int64_t i1 = o1 * win.s[1] - win.pb[1] + k1 * win.d[1];
                  if (i1 < 0 || i1 >= win.in[1]) continue;
                  for (int64_t k2 = 0; k2 < win.k[2]; ++k2) {
                    int64_t i2 = o2 * win.s[2] - win.pb[2] + k2 * win.d[2];
                    if (i2 < 0 || i2 >= win.in[2]) continue;
                    acc += static_cast<double>(xi[(i0 * win.in[1] + i1) * win.in[2] + i2]) *
                           wi[(k0 * win.k[1] + k1) * win.k[2] + k2];
                  }
                }
              }
            }
            yo[(o0 * win.out[1] + o1) * win.out[2] + o2] = static_cast<float>(acc);
          }
    }
  return y;
}

namespace {

void fused_conv_ref(KernelContext& ctx) {
  const ir::Node& node = ctx.node();
  const Tensor& w = ctx.in(1);
  if (w.dtype() != DataType::kFloat || w.rank() < 3) ctx.fail("weights must be float with rank >= 3");
  int64_t m = w.dim(0), c = w.dim(1) * node.attr_int("group", 1);
  Tensor x = plain_input(ctx, 0, c);
  Tensor y = conv_forward_ref(ctx, x, w, ctx.input(2));
  float* yd = y.data<float>();
  auto ops = node.attr_strings("post_ops");
  auto alphas = node.attr_floats("post_alpha"), betas = node.attr_floats("post_beta");
  if (alphas.size() != ops.size() || betas.size() != ops.size()) ctx.fail("post-op attributes disagree in length");
  Tensor sum;
  for (size_t p = 0; p < ops.size(); ++p) {
    if (ops[p] == "Sum") {
      if (!ctx.input(3)) ctx.fail("the Sum post-op needs input 3");
      sum = plain_input(ctx, 3, m);
      if (sum.shape() != y.shape() || sum.dtype() != DataType::kFloat)
        ctx.fail("the Sum input must have the output's shape " + shape_str(y.shape()));
      for (int64_t i = 0; i < y.numel(); ++i) yd[i] += sum.data<float>()[i];
      continue;
    }
    for (int64_t i = 0; i < y.numel(); ++i) yd[i] = apply_post_op(ops[p], alphas[p], betas[p], yd[i]);
  }
  write_output(ctx, y);
}

}  // namespace

Tensor pool_forward_ref(const KernelContext& ctx, const Tensor& x, const std::string& mode) {
  const ir::Node& node = ctx.node();
  if (x.dtype() != DataType::kFloat || x.rank() < 3) ctx.fail("quac.Pool needs a float input of rank >= 3");
  bool global = mode == "GlobalAveragePool" || mode == "GlobalMaxPool";
  bool is_max = mode == "MaxPool" || mode == "GlobalMaxPool";
  if (!global && mode != "MaxPool" && mode != "AveragePool") ctx.fail("unknown pool mode '" + mode + "'");
  Shape kernel = global ? Shape(x.shape().begin() + 2, x.shape().end()) : node.attr_ints("kernel_shape", {});
  Window win;
  if (global) {
    for (int64_t i = 0; i < x.rank() - 2; ++i) {
      size_t j = static_cast<size_t>(3 - (x.rank() - 2) + i);
      win.in[j] = win.k[j] = x.dim(2 + i);
    }
  } else {
    win = make_window(ctx, x.shape(), kernel);
  }
  bool include_pad = node.attr_int("count_include_pad", 0) != 0;
  Shape out_shape = {x.dim(0), x.dim(1)};
  for (int64_t i = 3 - (x.rank() - 2); i < 3; ++i) out_shape.push_back(win.out[i]);
  Tensor y(DataType::kFloat, out_shape);
  int64_t in_sp = win.in[0] * win.in[1] * win.in[2], out_sp = win.out[0] * win.out[1] * win.out[2];
  for (int64_t nc = 0; nc < x.dim(0) * x.dim(1); ++nc) {
    const float* xi = x.data<float>() + nc * in_sp;
    float* yo = y.data<float>() + nc * out_sp;
    for (int64_t o0 = 0; o0 < win.out[0]; ++o0)
      for (int64_t o1 = 0; o1 < win.out[1]; ++o1)
        for (int64_t o2 = 0; o2 < win.out[2]; ++o2) {
          double acc = is_max ? -std::numeric_limits<double>::infinity() : 0.0;
          int64_t count = 0, padded_count = 0;
          for (int64_t k0 = 0; k0 < win.k[0]; ++k0) {
            int64_t i0 = o0 * win.s[0] - win.pb[0] + k0 * win.d[0];
            for (int64_t k1 = 0; k1 < win.k[1]; ++k1) {
              int64_t i1 = o1 * win.s[1] - win.pb[1] + k1 * win.d[1];
              for (int64_t k2 = 0; k2 < win.k[2]; ++k2) {
                int64_t i2 = o2 * win.s[2] - win.pb[2] + k2 * win.d[2];
                bool in_pad_region =
                    i0 < win.in[0] + win.pe[0] && i1 < win.in[1] + win.pe[1] && i2 < win.in[2] + win.pe[2];
                if (in_pad_region) ++padded_count;
                if (i0 < 0 || i0 >= win.in[0] || i1 < 0 || i1 >= win.in[1] || i2 < 0 || i2 >= win.in[2]) continue;
                float v = xi[(i0 * win.in[1] + i1) * win.in[2] + i2];
                acc = is_max ? std::max<double>(acc, v) : acc + v;
                ++count;
              }
            }
          }
          int64_t div = include_pad ? padded_count : count;
          yo[(o0 * win.out[1] + o1) * win.out[2] + o2] =
              static_cast<float>(is_max ? acc : (div ? acc / static_cast<double>(div) : 0.0));
        }
  }
  return y;
}

namespace {

void pool_ref(KernelContext& ctx) {
  Tensor x = plain_input(ctx, 0, ctx.node().attr_int("channels", 0));
  write_output(ctx, pool_forward_ref(ctx, x, ctx.node().attr_string("mode", "")));
}

void gelu_ref(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  if (x.dtype() != DataType::kFloat) ctx.fail("quac.Gelu supports float only");
  Tensor& y = ctx.allocate_output(0, DataType::kFloat, x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) y.data<float>()[i] = apply_post_op("Gelu", 0, 0, x.data<float>()[i]);
}

void layer_norm_ref(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& scale = ctx.in(1);
  const Tensor* bias = ctx.input(2);
  if (x.dtype() != DataType::kFloat || scale.dtype() != DataType::kFloat || (bias && bias->dtype() != DataType::kFloat))
    ctx.fail("quac.LayerNormalization supports float only");
  int64_t axis = ctx.node().attr_int("axis", -1);
  if (axis < 0) axis += x.rank();
  if (axis < 0 || axis >= x.rank()) ctx.fail("axis out of range");
  int64_t inner = 1;
  for (int64_t i = axis; i < x.rank(); ++i) inner *= x.dim(i);
  if (scale.numel() != inner || (bias && bias->numel() != inner))
    ctx.fail("scale and bias must have the normalised size " + std::to_string(inner));
  float eps = ctx.node().attr_float("epsilon", 1e-5f);
  Tensor& y = ctx.allocate_output(0, DataType::kFloat, x.shape());
  int64_t outer = inner ? x.numel() / inner : 0;
  for (int64_t o = 0; o < outer; ++o) {
    const float* xi = x.data<float>() + o * inner;
    float* yo = y.data<float>() + o * inner;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < inner; ++i) mean += xi[i];
    mean /= static_cast<double>(inner);
    for (int64_t i = 0; i < inner; ++i) var += (xi[i] - mean) * (xi[i] - mean);
    var /= static_cast<double>(inner);
    double inv = 1.0 / std::sqrt(var + eps);
    for (int64_t i = 0; i < inner; ++i)
      yo[i] = static_cast<float>((xi[i] - mean) * inv * scale.data<float>()[i] + (bias ? bias->data<float>()[i] : 0));
  }
}

// quac.MatMulAdd(A, B, bias): MatMul (numpy semantics) plus a bias broadcast along the last axis (N values), the
// Linear layer as exporters write it (MatMul + Add).
void matmul_add_ref(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  const Tensor& bias = ctx.in(2);
  if (a.dtype() != DataType::kFloat || b.dtype() != DataType::kFloat || bias.dtype() != DataType::kFloat)
    ctx.fail("inputs must be float32");
  MatMulShapes s = matmul_shapes(ctx, a.shape(), b.shape());
  if (bias.numel() != s.N)
    ctx.fail("bias has " + std::to_string(bias.numel()) + " values, expected " + std::to_string(s.N));
  Tensor& y = ctx.allocate_output(0, DataType::kFloat, s.out);
  batched_matmul<float>(a.data<float>(), s.a_batch, b.data<float>(), s.b_batch, s.out_batch, s.M, s.K, s.N,
                        y.data<float>(), ctx.num_threads());
  float* yp = y.data<float>();
  const float* c = bias.data<float>();
  for (int64_t i = 0; i < y.numel(); ++i) yp[i] += c[i % s.N];
}

QUAC_REGISTER_QUAC_REFERENCE("FusedConv", fused_conv_ref);
QUAC_REGISTER_QUAC_REFERENCE("Pool", pool_ref);
QUAC_REGISTER_QUAC_REFERENCE("Gelu", gelu_ref);
QUAC_REGISTER_QUAC_REFERENCE("MatMulAdd", matmul_add_ref);
QUAC_REGISTER_QUAC_REFERENCE("LayerNormalization", layer_norm_ref);

}  // namespace
}  // namespace quac::ops
