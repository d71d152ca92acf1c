// Every fast (oneDNN) kernel against the reference kernels: one list of cases drives randomised comparisons of a
// default Session (passes + fast kernels) with a reference_kernels_only Session on fresh random inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <tuple>

#include "kernels/gemm_conv.h"
#include "kernels/winograd_conv.h"
#include "quac/session.h"
#include "runtime/plan.h"
#include "test_model_builder.h"

namespace quac {
namespace {

struct Input {
  std::string name;
  Shape shape;
  bool constant = false;
};

struct Case {
  std::string name;
  std::string op;  // single-node case; empty when `build` makes the graph
  std::vector<Input> inputs;
  std::vector<ir::Attribute> attrs;
  // For multi-node patterns: adds nodes reading the inputs and producing "y".
  std::function<void(testing::ModelBuilder&)> build;
  int64_t opset = 17;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

Tensor random_tensor(const Shape& shape, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  Tensor t(DataType::kFloat, shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

Tensor scalar_const(float v) { return Tensor::scalar<float>(v); }

std::vector<Case> cases() {
  std::vector<Case> c;
  auto conv = [&](std::string name, Shape x, Shape w, std::vector<ir::Attribute> attrs, bool bias = true,
                  bool const_w = true) {
    Case k{name, "Conv", {{"x", x}, {"w", w, const_w}}, std::move(attrs)};
    if (bias) k.inputs.push_back({"b", {w[0]}, true});
    c.push_back(k);
  };
  conv("conv3x3_pad", {1, 3, 9, 9}, {16, 3, 3, 3}, {ir::make_ints_attr("pads", {1, 1, 1, 1})});
  conv("conv_stride_asym_pad_batch2", {2, 5, 11, 10}, {7, 5, 3, 2},
       {ir::make_ints_attr("strides", {2, 2}), ir::make_ints_attr("pads", {0, 1, 1, 0})});
  conv("conv_group_dilation", {1, 6, 12, 12}, {10, 3, 3, 3},
       {ir::make_int_attr("group", 2), ir::make_ints_attr("dilations", {2, 2}),
        ir::make_ints_attr("pads", {2, 2, 2, 2})});
  conv("conv_depthwise_same_upper", {2, 12, 10, 10}, {12, 1, 3, 3},
       {ir::make_int_attr("group", 12), ir::make_ints_attr("strides", {2, 2}),
        ir::make_string_attr("auto_pad", "SAME_UPPER")});
  conv("conv_same_lower_nobias", {1, 4, 7, 7}, {9, 4, 4, 4}, {ir::make_string_attr("auto_pad", "SAME_LOWER")}, false);
  conv("conv_valid_1x1", {1, 20, 5, 6}, {13, 20, 1, 1}, {ir::make_string_attr("auto_pad", "VALID")});
  conv("conv1d", {2, 4, 17}, {6, 4, 3}, {ir::make_ints_attr("pads", {1, 1})});
  conv("conv3d", {1, 3, 5, 6, 7}, {4, 3, 3, 3, 3}, {ir::make_ints_attr("pads", {1, 1, 1, 1, 1, 1})});
  conv("conv_weights_input", {1, 8, 6, 6}, {8, 8, 3, 3}, {}, true, false);
  c.push_back({"convtranspose_stride2",
               "ConvTranspose",
               {{"x", {2, 4, 5, 6}}, {"w", {4, 6, 3, 3}, true}, {"b", {6}, true}},
               {ir::make_ints_attr("strides", {2, 2}), ir::make_ints_attr("pads", {1, 0, 1, 1})}});
  c.push_back({"convtranspose_group_outpad",
               "ConvTranspose",
               {{"x", {1, 6, 4, 4}}, {"w", {6, 2, 3, 3}, true}},
               {ir::make_int_attr("group", 3), ir::make_ints_attr("strides", {2, 2}),
                ir::make_ints_attr("output_padding", {1, 1}), ir::make_ints_attr("pads", {1, 1, 1, 1})}});
  c.push_back({"convtranspose_output_shape_dilated",
               "ConvTranspose",
               {{"x", {1, 3, 5, 5}}, {"w", {3, 2, 2, 2}, true}},
               {ir::make_ints_attr("strides", {2, 2}), ir::make_ints_attr("dilations", {2, 2}),
                ir::make_ints_attr("output_shape", {11, 12})}});
  c.push_back({"convtranspose_1d_same",
               "ConvTranspose",
               {{"x", {2, 3, 7}}, {"w", {3, 5, 4}}},
               {ir::make_ints_attr("strides", {2}), ir::make_string_attr("auto_pad", "SAME_UPPER")}});
  auto pool = [&](std::string name, std::string op, Shape x, std::vector<ir::Attribute> attrs) {
    c.push_back({name, op, {{"x", x}}, std::move(attrs)});
  };
  pool("maxpool_3x3_s2_p1", "MaxPool", {1, 10, 13, 13},
       {ir::make_ints_attr("kernel_shape", {3, 3}), ir::make_ints_attr("strides", {2, 2}),
        ir::make_ints_attr("pads", {1, 1, 1, 1})});
  pool("maxpool_ceil", "MaxPool", {2, 3, 10, 10},
       {ir::make_ints_attr("kernel_shape", {3, 3}), ir::make_ints_attr("strides", {2, 2}),
        ir::make_int_attr("ceil_mode", 1)});
  pool("maxpool_dilated", "MaxPool", {1, 4, 12, 12},
       {ir::make_ints_attr("kernel_shape", {2, 2}), ir::make_ints_attr("dilations", {2, 2})});
  pool("avgpool_exclude_pad", "AveragePool", {1, 5, 9, 9},
       {ir::make_ints_attr("kernel_shape", {3, 3}), ir::make_ints_attr("pads", {1, 1, 1, 1})});
  pool("avgpool_include_pad", "AveragePool", {1, 5, 9, 9},
       {ir::make_ints_attr("kernel_shape", {3, 3}), ir::make_ints_attr("pads", {1, 1, 1, 1}),
        ir::make_int_attr("count_include_pad", 1)});
  pool("global_avg", "GlobalAveragePool", {2, 9, 7, 5}, {});
  pool("global_max", "GlobalMaxPool", {2, 9, 7, 5}, {});
  c.push_back({"gemm_transb_bias",
               "Gemm",
               {{"a", {3, 20}}, {"b", {12, 20}, true}, {"c", {12}, true}},
               {ir::make_int_attr("transB", 1)}});
  c.push_back({"gemm_transa_alpha_beta",
               "Gemm",
               {{"a", {20, 3}}, {"b", {20, 12}}, {"c", {3, 1}, true}},
               {ir::make_int_attr("transA", 1), ir::make_float_attr("alpha", 0.5f), ir::make_float_attr("beta", 2.f)}});
  c.push_back({"gemm_no_c", "Gemm", {{"a", {4, 7}}, {"b", {7, 5}, true}}, {}});
  c.push_back({"matmul_batched_broadcast", "MatMul", {{"a", {2, 3, 4, 5}}, {"b", {3, 5, 6}}}, {}});
  c.push_back({"matmul_const_2d", "MatMul", {{"a", {2, 7, 9}}, {"b", {9, 11}, true}}, {}});
  c.push_back({"matmul_1d", "MatMul", {{"a", {5}}, {"b", {2, 5, 3}}}, {}});

  for (std::string op : {"Relu", "Sigmoid", "Tanh", "HardSwish", "Exp", "Abs", "Neg", "Softplus"})
    c.push_back({"eltwise_" + op, op, {{"x", {2, 3, 5, 7}}}, {}});
  c.push_back({"eltwise_leakyrelu", "LeakyRelu", {{"x", {3, 11}}}, {ir::make_float_attr("alpha", 0.1f)}});
  c.push_back({"eltwise_elu", "Elu", {{"x", {3, 11}}}, {ir::make_float_attr("alpha", 0.5f)}});
  {
    Case k{"eltwise_clip", "", {{"x", {4, 9}}}, {}};
    k.build = [](testing::ModelBuilder& m) {
      m.initializer("lo", scalar_const(-0.3f)).initializer("hi", scalar_const(0.4f));
      m.node("Clip", {"x", "lo", "hi"}, {"y"});
    };
    c.push_back(k);
  }
  for (std::string op : {"Add", "Sub", "Mul", "Div", "Max", "Min"}) {
    c.push_back({"binary_" + op + "_same", op, {{"a", {2, 3, 4}}, {"b", {2, 3, 4}}}, {}});
    c.push_back({"binary_" + op + "_bcast_b", op, {{"a", {2, 3, 4, 5}}, {"b", {3, 1, 5}}}, {}});
    c.push_back({"binary_" + op + "_bcast_a", op, {{"a", {4, 1}}, {"b", {2, 4, 6}}}, {}});
  }
  c.push_back({"softmax_last", "Softmax", {{"x", {3, 4, 10}}}, {}});
  c.push_back({"softmax_axis1", "Softmax", {{"x", {3, 4, 10}}}, {ir::make_int_attr("axis", 1)}});
  c.push_back({"softmax_opset11", "Softmax", {{"x", {3, 4, 10}}}, {ir::make_int_attr("axis", 1)}, nullptr, 11});
  c.push_back({"logsoftmax", "LogSoftmax", {{"x", {5, 13}}}, {}});
  {
    Case k{"batchnorm_unfused", "", {{"x", {2, 5, 4, 3}}, {"s", {5}, true}, {"bb", {5}, true}, {"m", {5}, true}}, {}};
    k.build = [](testing::ModelBuilder& m) {
      m.initializer("v", Tensor::from_vector<float>({5}, {0.5f, 1.f, 2.f, 0.1f, 3.f}));
      m.node("BatchNormalization", {"x", "s", "bb", "m", "v"}, {"y"}, {ir::make_float_attr("epsilon", 1e-3f)});
    };
    c.push_back(k);
  }
  c.push_back(
      {"layernorm_axis_last", "LayerNormalization", {{"x", {2, 3, 8}}, {"s", {8}, true}, {"bb", {8}, true}}, {}});
  c.push_back({"layernorm_axis1",
               "LayerNormalization",
               {{"x", {2, 3, 8}}, {"s", {3, 8}, true}},
               {ir::make_int_attr("axis", 1), ir::make_float_attr("epsilon", 1e-3f)}});
  c.push_back({"concat_axis1",
               "Concat",
               {{"a", {2, 3, 4}}, {"b", {2, 5, 4}}, {"c", {2, 1, 4}}},
               {ir::make_int_attr("axis", 1)}});
  c.push_back({"concat_axis_neg", "Concat", {{"a", {2, 3}}, {"b", {2, 4}}}, {ir::make_int_attr("axis", -1)}});
  for (std::string op :
       {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceL1", "ReduceL2", "ReduceSumSquare"}) {
    c.push_back({"reduce_" + op + "_keep", op, {{"x", {3, 4, 5}}}, {ir::make_ints_attr("axes", {1})}, nullptr, 11});
    c.push_back(
        {"reduce_" + op + "_drop_all", op, {{"x", {3, 4, 5}}}, {ir::make_int_attr("keepdims", 0)}, nullptr, 11});
  }

  // Fused patterns (the passes fuse them into quac.FusedConv / quac.Gelu / LayerNormalization).
  auto conv_then = [&](std::string name, std::function<void(testing::ModelBuilder&)> tail) {
    Case k{name, "", {{"x", {2, 6, 9, 9}}, {"w", {10, 6, 3, 3}, true}, {"b", {10}, true}}, {}};
    k.build = [tail](testing::ModelBuilder& m) {
      m.node("Conv", {"x", "w", "b"}, {"c"}, {ir::make_ints_attr("pads", {1, 1, 1, 1})});
      tail(m);
    };
    c.push_back(k);
  };
  for (std::string act : {"Relu", "Sigmoid", "Tanh", "HardSwish"})
    conv_then("conv_" + act, [act](testing::ModelBuilder& m) { m.node(act, {"c"}, {"y"}); });
  conv_then("conv_leakyrelu",
            [](testing::ModelBuilder& m) { m.node("LeakyRelu", {"c"}, {"y"}, {ir::make_float_attr("alpha", 0.2f)}); });
  conv_then("conv_elu",
            [](testing::ModelBuilder& m) { m.node("Elu", {"c"}, {"y"}, {ir::make_float_attr("alpha", 0.7f)}); });
  conv_then("conv_hardsigmoid", [](testing::ModelBuilder& m) {
    m.node("HardSigmoid", {"c"}, {"y"}, {ir::make_float_attr("alpha", 0.3f), ir::make_float_attr("beta", 0.4f)});
  });
  conv_then("conv_relu6", [](testing::ModelBuilder& m) {
    m.initializer("lo", scalar_const(0.f)).initializer("hi", scalar_const(0.5f));
    m.node("Clip", {"c", "lo", "hi"}, {"y"});
  });
  conv_then("conv_swish", [](testing::ModelBuilder& m) {
    m.node("Sigmoid", {"c"}, {"s"}).node("Mul", {"c", "s"}, {"y"});
  });
  conv_then("conv_bn_relu", [](testing::ModelBuilder& m) {
    std::mt19937 rng(7);
    Tensor var = random_tensor({10}, rng);
    for (int i = 0; i < 10; ++i) var.data<float>()[i] = std::fabs(var.data<float>()[i]) + 0.5f;
    m.initializer("g", random_tensor({10}, rng)).initializer("be", random_tensor({10}, rng));
    m.initializer("mu", random_tensor({10}, rng)).initializer("var", var);
    m.node("BatchNormalization", {"c", "g", "be", "mu", "var"}, {"bn"}).node("Relu", {"bn"}, {"y"});
  });
  // Linear layers as exporters write them (MatMul + Add of a bias), fused into quac.MatMulAdd; the bias may come
  // first in the Add. A rank-2 "bias" is not fused (it could widen the output) but must still be right.
  for (auto [name, a_shape, bias_first, bias_shape] :
       std::vector<std::tuple<std::string, Shape, bool, Shape>>{{"matmul_add_3d", {2, 5, 8}, false, {6}},
                                                                {"matmul_add_2d_bias_first", {7, 8}, true, {6}},
                                                                {"matmul_add_rank2_bias", {3, 8}, false, {1, 6}}}) {
    Case k{name, "", {{"x", a_shape}, {"w", {8, 6}, true}, {"b", bias_shape, true}}, {}};
    bool first = bias_first;
    k.build = [first](testing::ModelBuilder& m) {
      m.node("MatMul", {"x", "w"}, {"mm"});
      m.node("Add", first ? std::vector<std::string>{"b", "mm"} : std::vector<std::string>{"mm", "b"}, {"y"});
    };
    c.push_back(k);
  }
  {
    // ResNet-like block: stem conv -> maxpool -> two convs with a residual Add + Relu -> global pool; 12 channels
    // (not a multiple of 8) so the blocked layout's padding matters.
    Case k{"resnet_block_blocked",
           "",
           {{"x", {2, 3, 16, 16}},
            {"w0", {12, 3, 3, 3}, true},
            {"w1", {12, 12, 3, 3}, true},
            {"b1", {12}, true},
            {"w2", {12, 12, 1, 1}, true}},
           {}};
    k.build = [](testing::ModelBuilder& m) {
      m.node("Conv", {"x", "w0"}, {"c0"},
             {ir::make_ints_attr("pads", {1, 1, 1, 1}), ir::make_ints_attr("strides", {2, 2})});
      m.node("Relu", {"c0"}, {"r0"});
      m.node("MaxPool", {"r0"}, {"p0"},
             {ir::make_ints_attr("kernel_shape", {3, 3}), ir::make_ints_attr("strides", {1, 1}),
              ir::make_ints_attr("pads", {1, 1, 1, 1})});
      m.node("Conv", {"p0", "w1", "b1"}, {"c1"}, {ir::make_ints_attr("pads", {1, 1, 1, 1})});
      m.node("Relu", {"c1"}, {"r1"});
      m.node("Conv", {"r1", "w2"}, {"c2"});
      m.node("Add", {"c2", "p0"}, {"a"});
      m.node("Relu", {"a"}, {"r2"});
      m.node("GlobalAveragePool", {"r2"}, {"y"});
    };
    c.push_back(k);
  }
  // MaxPool between two convolutions reads and writes the blocked layout (kernels/blocked_maxpool.cc); 12 channels so
  // the last block is partial.
  auto blocked_pool = [&](std::string name, Shape x, std::vector<ir::Attribute> attrs) {
    Case k{name, "", {{"x", x}, {"w1", {12, x[1], 3, 3}, true}, {"w2", {5, 12, 1, 1}, true}}, {}};
    k.build = [attrs](testing::ModelBuilder& m) {
      m.node("Conv", {"x", "w1"}, {"c1"}, {ir::make_ints_attr("pads", {1, 1, 1, 1})}).node("Relu", {"c1"}, {"r1"});
      m.node("MaxPool", {"r1"}, {"p"}, attrs);
      m.node("Conv", {"p", "w2"}, {"y"});
    };
    c.push_back(k);
  };
  blocked_pool("blocked_maxpool_3x3_s2_p1", {2, 3, 13, 12},
               {ir::make_ints_attr("kernel_shape", {3, 3}), ir::make_ints_attr("strides", {2, 2}),
                ir::make_ints_attr("pads", {1, 1, 1, 1})});
  blocked_pool("blocked_maxpool_ceil_asym_pads", {1, 4, 11, 9},
               {ir::make_ints_attr("kernel_shape", {3, 2}), ir::make_ints_attr("strides", {2, 3}),
                ir::make_ints_attr("pads", {0, 1, 2, 0}), ir::make_int_attr("ceil_mode", 1)});
  blocked_pool("blocked_maxpool_dilated_same", {1, 2, 10, 10},
               {ir::make_ints_attr("kernel_shape", {2, 3}), ir::make_ints_attr("dilations", {2, 2}),
                ir::make_string_attr("auto_pad", "SAME_UPPER")});
  // GlobalAveragePool of a blocked convolution output (kernels/blocked_gap.cc): into the plain output (a classifier
  // follows), or into the blocked output that a 1x1 convolution reads (a squeeze-and-excitation branch); 13 channels
  // so the last block is partial, batch 2.
  for (bool to_conv : {false, true}) {
    Case k{to_conv ? "blocked_gap_to_conv" : "blocked_gap_plain",
           "",
           {{"x", {2, 5, 9, 7}}, {"w1", {13, 5, 3, 3}, true}, {"w2", {6, 13, 1, 1}, true}},
           {}};
    k.build = [to_conv](testing::ModelBuilder& m) {
      m.node("Conv", {"x", "w1"}, {"c1"}, {ir::make_ints_attr("pads", {1, 1, 1, 1})}).node("Relu", {"c1"}, {"r1"});
      m.node("GlobalAveragePool", {"r1"}, {to_conv ? "g" : "y"});
      if (to_conv) m.node("Conv", {"g", "w2"}, {"y"});
    };
    c.push_back(k);
  }
  {
    Case k{"gelu_erf_pattern", "", {{"x", {3, 17}}}, {}};
    k.build = [](testing::ModelBuilder& m) {
      m.initializer("sqrt2", scalar_const(std::sqrt(2.f)))
          .initializer("one", scalar_const(1.f))
          .initializer("half", scalar_const(0.5f));
      m.node("Div", {"x", "sqrt2"}, {"d"}).node("Erf", {"d"}, {"e"}).node("Add", {"e", "one"}, {"a"});
      m.node("Mul", {"x", "a"}, {"m"}).node("Mul", {"m", "half"}, {"y"});
    };
    c.push_back(k);
  }
  {
    Case k{"layernorm_pattern", "", {{"x", {2, 5, 16}}, {"gamma", {16}, true}, {"beta", {16}, true}}, {}};
    k.build = [](testing::ModelBuilder& m) {
      m.initializer("two", scalar_const(2.f)).initializer("eps", scalar_const(1e-5f));
      m.node("ReduceMean", {"x"}, {"mean"}, {ir::make_ints_attr("axes", {-1})});
      m.node("Sub", {"x", "mean"}, {"d"}).node("Pow", {"d", "two"}, {"p"});
      m.node("ReduceMean", {"p"}, {"v"}, {ir::make_ints_attr("axes", {-1})});
      m.node("Add", {"v", "eps"}, {"ve"}).node("Sqrt", {"ve"}, {"s"}).node("Div", {"d", "s"}, {"n"});
      m.node("Mul", {"n", "gamma"}, {"g"}).node("Add", {"g", "beta"}, {"y"});
    };
    k.opset = 13;
    c.push_back(k);
  }
  return c;
}

double rel_l2(const Tensor& a, const Tensor& b) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    double d = static_cast<double>(a.data<float>()[i]) - b.data<float>()[i];
    num += d * d;
    den += static_cast<double>(b.data<float>()[i]) * b.data<float>()[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

Model build_model(const Case& k, std::mt19937& rng, std::vector<Tensor>* feeds) {
  testing::ModelBuilder m(k.opset);
  std::vector<std::string> names;
  for (const auto& in : k.inputs) {
    names.push_back(in.name);
    if (in.constant) {
      m.initializer(in.name, random_tensor(in.shape, rng));
    } else {
      m.input(in.name, DataType::kFloat, in.shape);
      feeds->push_back(random_tensor(in.shape, rng));
    }
  }
  if (k.build)
    k.build(m);
  else
    m.node(k.op, names, {"y"}, k.attrs);
  m.output("y", DataType::kFloat);
  return m.build();
}

// Runs a session; false (with the reason) when some op has no kernel of that kind yet. The session first runs on
// other data of the same shapes, so the result checked comes from kernels reusing what they prepared on a first run.
bool try_run(const Model& model, SessionOptions opts, const std::vector<Tensor>& feeds, Tensor* out,
             std::map<std::string, int>* counts, std::string* why) {
  try {
    Session s(model, opts);
    std::vector<Tensor> other;
    for (const Tensor& f : feeds) {
      Tensor t = f.clone();
      if (t.dtype() == DataType::kFloat)
        for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = 0.5f - 2.f * t.data<float>()[i];
      other.push_back(t);
    }
    s.run(other);
    *out = s.run(feeds)[0].clone();
    if (counts) *counts = s.kernel_counts();
    return true;
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kUnsupported) throw;
    *why = e.what();
    return false;
  }
}

class FastKernels : public ::testing::TestWithParam<Case> {};

// The cases are small: keep the runtime from running them on one thread, so 2 threads test the parallel kernels.
class ParallelSmallSteps : public ::testing::Environment {
 public:
  void SetUp() override { ExecutionPlan::set_small_step_elements(0); }
};
const auto* const kParallelSmallSteps = ::testing::AddGlobalTestEnvironment(new ParallelSmallSteps);

TEST_P(FastKernels, MatchesReference) {
  const Case& k = GetParam();
  for (int threads : {1, 2}) {
    std::mt19937 rng(1234 + threads);
    std::vector<Tensor> feeds;
    Model model = build_model(k, rng, &feeds);
    SessionOptions fast_opts;
    fast_opts.num_threads = threads;
    Tensor fast, ref, ref_fused;
    std::map<std::string, int> counts;
    std::string why;
    ASSERT_TRUE(try_run(model, fast_opts, feeds, &fast, &counts, &why)) << why;
    EXPECT_GT(counts["onednn"] + counts["onednn-gemm"], 0) << "no fast kernel was used";
    double norm = 0;
    for (int64_t i = 0; i < fast.numel(); ++i) norm += std::fabs(fast.data<float>()[i]);
    EXPECT_GT(norm, 0) << "all-zero output proves nothing";

    // The same optimised graph on reference kernels (quac's fused reference kernels) ...
    SessionOptions ref_fused_opts = fast_opts;
    ref_fused_opts.reference_kernels_only = true;
    if (try_run(model, ref_fused_opts, feeds, &ref_fused, nullptr, &why)) {
      ASSERT_EQ(fast.shape(), ref_fused.shape());
      EXPECT_LE(rel_l2(fast, ref_fused), 1e-5) << k.name << " vs fused reference, threads " << threads;
    }
    // ... and the original graph, unoptimised, on the ONNX reference kernels.
    SessionOptions ref_opts = ref_fused_opts;
    ref_opts.optimization_level = 0;
    if (!try_run(model, ref_opts, feeds, &ref, nullptr, &why)) {
      if (ref_fused.defined()) continue;
      GTEST_SKIP() << "no reference kernel yet: " << why;
    }
    ASSERT_EQ(fast.shape(), ref.shape());
    EXPECT_LE(rel_l2(fast, ref), 1e-5) << k.name << " vs reference, threads " << threads;
  }
}

INSTANTIATE_TEST_SUITE_P(AllCases, FastKernels, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

// Every case whose name starts with `prefix` compiles exactly one node to the kernel `impl`; false if none exists.
bool expect_kernel_chosen_once(const std::string& prefix, const std::string& impl) {
  bool any = false;
  for (const Case& k : cases()) {
    if (k.name.rfind(prefix, 0) != 0) continue;
    any = true;
    std::mt19937 rng(5);
    std::vector<Tensor> feeds;
    Model model = build_model(k, rng, &feeds);
    Session s(model, SessionOptions{.num_threads = 1});
    EXPECT_EQ(s.kernel_counts()[impl], 1) << k.name;
  }
  return any;
}

TEST(BlockedMaxPool, IsChosenBetweenConvolutions) {
  EXPECT_TRUE(expect_kernel_chosen_once("blocked_maxpool_", "blocked-maxpool"));
}

TEST(BlockedGlobalAveragePool, IsChosenAfterConvolutions) {
  EXPECT_TRUE(expect_kernel_chosen_once("blocked_gap_", "blocked-gap"));
}

// oneDNN 2.6 has only its reference implementation for reductions over a middle or outer axis, 17x slower than
// quac's own reference kernel on 4x256x512: the reduction kernel hands those shapes to quac's, and profiles say so.
TEST(FastReduction, MiddleAxisGoesToQuacsReferenceKernel) {
  for (int64_t axis : {1, 2}) {
    testing::ModelBuilder m(13);
    m.input("x", DataType::kFloat, {2, 8, 16});
    m.node("ReduceMean", {"x"}, {"y"}, {ir::make_ints_attr("axes", {axis})});
    Model model = m.output("y", DataType::kFloat).build();
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> dist(-1.f, 1.f);
    Tensor x(DataType::kFloat, {2, 8, 16});
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = dist(rng);
    Session fast(model, {.num_threads = 1, .profile = true});
    Tensor got = fast.run(std::vector<Tensor>{x})[0];
    Tensor want = Session(model, {.num_threads = 1, .reference_kernels_only = true}).run(std::vector<Tensor>{x})[0];
    ASSERT_EQ(got.shape(), want.shape());
    for (int64_t i = 0; i < got.numel(); ++i) EXPECT_NEAR(got.data<float>()[i], want.data<float>()[i], 1e-6);
    EXPECT_EQ(fast.profile().at(0).impl, axis == 1 ? "reference" : "onednn") << "axis " << axis;
  }
}

// The im2col + sgemm convolution (kernels/gemm_conv.h) forced on for every convolution it takes: odd
// channel counts (the blocked layout's padding), stride 2, dilation, asymmetric padding, batch 2, plain and blocked
// inputs and outputs, and its post-ops (Relu, LeakyRelu, Clip, a residual Sum before and after an activation).
Case gemm_case(std::string name, Shape x, Shape w, std::vector<ir::Attribute> attrs, std::string tail) {
  Case k{name, "", {{"x", x}, {"w", w, true}, {"b", {w[0]}, true}}, {}};
  k.build = [attrs, tail, w](testing::ModelBuilder& m) {
    std::string conv_out = tail.empty() ? "y" : "c";
    m.node("Conv", {"x", "w", "b"}, {conv_out}, attrs);
    if (tail == "relu") m.node("Relu", {"c"}, {"y"});
    if (tail == "leakyrelu") m.node("LeakyRelu", {"c"}, {"y"}, {ir::make_float_attr("alpha", 0.1f)});
    if (tail == "clip") {
      m.initializer("lo", scalar_const(-0.2f)).initializer("hi", scalar_const(0.3f));
      m.node("Clip", {"c", "lo", "hi"}, {"y"});
    }
    if (tail == "blocked_chain_sum") {
      // c -> Relu = r (blocked: read by two convs) -> conv+Relu = r2 (blocked) -> conv + r (Sum post-op reading the
      // blocked r) -> Relu -> a (blocked) -> conv -> LeakyRelu after a Sum-free conv -> y (plain)
      std::mt19937 rng(99);
      m.initializer("w2", random_tensor({w[0], w[0], 3, 3}, rng));
      m.node("Relu", {"c"}, {"r"});
      m.node("Conv", {"r", "w2"}, {"c2"}, {ir::make_ints_attr("pads", {1, 1, 1, 1})}).node("Relu", {"c2"}, {"r2"});
      m.node("Conv", {"r2", "w2"}, {"c3"}, {ir::make_ints_attr("pads", {1, 1, 1, 1})});
      m.node("Add", {"c3", "r"}, {"s"}).node("Relu", {"s"}, {"a"});
      m.node("Conv", {"a", "w2"}, {"c4"}, {ir::make_ints_attr("pads", {1, 1, 1, 1})});
      m.node("LeakyRelu", {"c4"}, {"y"}, {ir::make_float_attr("alpha", 0.3f)});
    }
  };
  return k;
}

std::vector<Case> gemm_cases() {
  std::vector<Case> c;
  c.push_back(gemm_case("plain_pad1", {1, 5, 7, 7}, {11, 5, 3, 3}, {ir::make_ints_attr("pads", {1, 1, 1, 1})}, ""));
  c.push_back(gemm_case("stride2_asym_pad_batch2", {2, 13, 9, 8}, {17, 13, 3, 2},
                        {ir::make_ints_attr("strides", {2, 2}), ir::make_ints_attr("pads", {0, 1, 1, 0})}, "relu"));
  c.push_back(gemm_case("dilated", {1, 8, 10, 10}, {9, 8, 3, 3},
                        {ir::make_ints_attr("dilations", {2, 2}), ir::make_ints_attr("pads", {2, 1, 2, 1})},
                        "leakyrelu"));
  c.push_back(gemm_case("same_upper_1x1_stride2", {1, 20, 7, 6}, {24, 20, 1, 1},
                        {ir::make_ints_attr("strides", {2, 2}), ir::make_string_attr("auto_pad", "SAME_UPPER")},
                        "clip"));
  c.push_back(gemm_case("blocked_chain_sum", {2, 6, 7, 7}, {12, 6, 3, 3},
                        {ir::make_ints_attr("pads", {1, 1, 1, 1}), ir::make_ints_attr("strides", {1, 1})},
                        "blocked_chain_sum"));
  c.push_back(gemm_case("deep_small", {1, 64, 7, 7}, {40, 64, 3, 3}, {ir::make_ints_attr("pads", {1, 1, 1, 1})},
                        "blocked_chain_sum"));
  return c;
}

// Forces one of quac's own convolution paths on (policy kAlways) for a scope, restoring the previous policy after.
template <typename Policy, Policy (*Get)(), void (*Set)(Policy)>
class ForcedPolicy {
 public:
  ForcedPolicy() : saved_(Get()) { Set(Policy::kAlways); }
  ~ForcedPolicy() { Set(saved_); }
  ForcedPolicy(const ForcedPolicy&) = delete;
  ForcedPolicy& operator=(const ForcedPolicy&) = delete;

 private:
  Policy saved_;
};
using ForcedGemmConv = ForcedPolicy<kernels::GemmConvPolicy, kernels::gemm_conv_policy, kernels::set_gemm_conv_policy>;
using ForcedWinograd = ForcedPolicy<kernels::WinogradPolicy, kernels::winograd_policy, kernels::set_winograd_policy>;

// Runs the model with the fast kernels; `runs` (a path's run counter) must have moved. `what` names the case.
Tensor run_forced_path(const Model& model, const std::vector<Tensor>& feeds, int threads, int64_t (*runs)(),
                       const std::string& what) {
  Tensor out;
  std::string why;
  const int64_t runs_before = runs();
  EXPECT_TRUE(try_run(model, SessionOptions{.num_threads = threads}, feeds, &out, nullptr, &why))
      << what << ": " << why;
  EXPECT_GT(runs(), runs_before) << what << ": the forced convolution did not run";
  return out;
}

// The same model with the reference kernels only and no graph passes: the oracle.
Tensor run_reference(const Model& model, const std::vector<Tensor>& feeds, int threads) {
  SessionOptions opts{.num_threads = threads};
  opts.reference_kernels_only = true;
  opts.optimization_level = 0;
  Tensor out;
  std::string why;
  EXPECT_TRUE(try_run(model, opts, feeds, &out, nullptr, &why)) << why;
  return out;
}

void expect_not_all_zero(const Tensor& t, const std::string& what) {
  double norm = 0;
  for (int64_t i = 0; i < t.numel(); ++i) norm += std::fabs(t.data<float>()[i]);
  EXPECT_GT(norm, 0) << what << ": all-zero output proves nothing";
}

class GemmConv : public ::testing::TestWithParam<Case> {
  ForcedGemmConv forced_;
};

TEST_P(GemmConv, MatchesReference) {
  const Case& k = GetParam();
  for (int threads : {1, 2}) {
    std::mt19937 rng(4321 + threads);
    std::vector<Tensor> feeds;
    Model model = build_model(k, rng, &feeds);
    const std::string what = k.name + ", threads " + std::to_string(threads);
    Tensor fast = run_forced_path(model, feeds, threads, kernels::gemm_conv_runs, what);
    Tensor ref = run_reference(model, feeds, threads);
    ASSERT_EQ(fast.shape(), ref.shape()) << what;
    expect_not_all_zero(fast, what);
    EXPECT_LE(rel_l2(fast, ref), 1e-5) << what;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, GemmConv, ::testing::ValuesIn(gemm_cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

// The auto rule takes the deep, small-output layers and leaves large images and 1x1 kernels to oneDNN's convolution.
TEST(GemmConvPolicy, AutoRule) {
  EXPECT_TRUE(kernels::prefer_gemm_conv(49, 512, 9));
  EXPECT_TRUE(kernels::prefer_gemm_conv(49, 256, 9));
  EXPECT_FALSE(kernels::prefer_gemm_conv(196, 256, 9));
  EXPECT_FALSE(kernels::prefer_gemm_conv(49, 2048, 1));
  EXPECT_FALSE(kernels::prefer_gemm_conv(49, 32, 9));
}

// The Winograd F(2x2, 3x3) convolution (kernels/winograd_conv.h) forced on for every convolution it takes: odd channel
// counts and odd output sizes (partial tiles), no padding, asymmetric padding, SAME_UPPER, batch 2, plain and blocked
// inputs and outputs, the post-ops (a residual Sum in place, before and after an activation), and a layer large
// enough for many blocks of tiles shared out between threads.
std::vector<Case> winograd_cases() {
  std::vector<Case> c;
  auto pads = [](std::vector<int64_t> p) { return ir::make_ints_attr("pads", p); };
  c.push_back(gemm_case("plain_pad1_odd", {1, 5, 7, 7}, {11, 5, 3, 3}, {pads({1, 1, 1, 1})}, ""));
  c.push_back(gemm_case("no_pad_batch2", {2, 13, 9, 8}, {17, 13, 3, 3}, {}, "relu"));
  c.push_back(gemm_case("asym_pad", {1, 8, 10, 11}, {9, 8, 3, 3}, {pads({2, 0, 1, 2})}, "leakyrelu"));
  c.push_back(
      gemm_case("same_upper", {1, 20, 6, 7}, {24, 20, 3, 3}, {ir::make_string_attr("auto_pad", "SAME_UPPER")}, "clip"));
  c.push_back(gemm_case("blocked_chain_sum", {2, 6, 7, 7}, {12, 6, 3, 3}, {pads({1, 1, 1, 1})}, "blocked_chain_sum"));
  c.push_back(gemm_case("many_blocks", {1, 32, 30, 29}, {40, 32, 3, 3}, {pads({1, 1, 1, 1})}, "blocked_chain_sum"));
  return c;
}

bool has_avx2_fma() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

class WinogradConv : public ::testing::TestWithParam<Case> {
  ForcedWinograd forced_;
};

TEST_P(WinogradConv, MatchesReference) {
  if (!has_avx2_fma()) GTEST_SKIP() << "needs AVX2 and FMA";
  const Case& k = GetParam();
  for (int threads : {1, 2}) {
    std::mt19937 rng(8765 + threads);
    std::vector<Tensor> feeds;
    Model model = build_model(k, rng, &feeds);
    const std::string what = k.name + ", threads " + std::to_string(threads);
    Tensor fast = run_forced_path(model, feeds, threads, kernels::winograd_runs, what);
    // Blocks of tiles go to whichever thread is free, and the result must not depend on which one.
    Tensor again = run_forced_path(model, feeds, threads, kernels::winograd_runs, what);
    ASSERT_EQ(again.nbytes(), fast.nbytes()) << what;
    EXPECT_EQ(std::memcmp(again.raw_data(), fast.raw_data(), fast.nbytes()), 0) << what << ": not deterministic";
    Tensor ref = run_reference(model, feeds, threads);
    ASSERT_EQ(fast.shape(), ref.shape()) << what;
    expect_not_all_zero(fast, what);
    EXPECT_LE(rel_l2(fast, ref), 1e-5) << what;
  }
}

// Forty random geometries, down to 1x1 images and single channels: every padding from 0 to 2 on each side, odd and
// even sizes (partial tiles on either edge), batch 1 to 3, each post-op tail, at 2 threads.
TEST(WinogradConv, RandomGeometriesMatchReference) {
  if (!has_avx2_fma()) GTEST_SKIP() << "needs AVX2 and FMA";
  ForcedWinograd forced;
  std::mt19937 pick(2026);
  auto in = [&](int lo, int hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(pick); };
  const std::vector<std::string> tails = {"", "relu", "leakyrelu", "clip", "blocked_chain_sum"};
  int tested = 0;
  while (tested < 40) {
    const int64_t n = in(1, 3), c = in(1, 20), m = in(1, 20), h = in(1, 12), w = in(1, 12);
    const std::vector<int64_t> pads = {in(0, 2), in(0, 2), in(0, 2), in(0, 2)};
    if (h + pads[0] + pads[2] < 3 || w + pads[1] + pads[3] < 3) continue;  // no output
    const std::string tail = tails[static_cast<size_t>(in(0, 4))];
    Case k = gemm_case("random", {n, c, h, w}, {m, c, 3, 3}, {ir::make_ints_attr("pads", pads)}, tail);
    std::mt19937 rng(static_cast<unsigned>(pick()));
    std::vector<Tensor> feeds;
    Model model = build_model(k, rng, &feeds);
    const std::string what = "x " + shape_str({n, c, h, w}) + ", " + std::to_string(m) + " filters, pads " +
                             std::to_string(pads[0]) + std::to_string(pads[1]) + std::to_string(pads[2]) +
                             std::to_string(pads[3]) + ", tail '" + tail + "'";
    Tensor fast = run_forced_path(model, feeds, 2, kernels::winograd_runs, what);
    Tensor ref = run_reference(model, feeds, 2);
    ASSERT_EQ(fast.shape(), ref.shape()) << what;
    EXPECT_LE(rel_l2(fast, ref), 1e-5) << what;
    ++tested;
  }
}

// An empty batch is handed to the next kernel (the tile blocks would divide by zero) and gives an empty output.
TEST(WinogradConv, EmptyBatchFallsThrough) {
  ForcedWinograd forced;
  Case k = gemm_case("empty", {0, 8, 6, 6}, {8, 8, 3, 3}, {ir::make_ints_attr("pads", {1, 1, 1, 1})}, "relu");
  std::mt19937 rng(1);
  std::vector<Tensor> feeds;
  Model model = build_model(k, rng, &feeds);
  Tensor out;
  std::string why;
  EXPECT_TRUE(try_run(model, SessionOptions{.num_threads = 2}, feeds, &out, nullptr, &why)) << why;
  EXPECT_EQ(out.shape(), (Shape{0, 8, 6, 6}));
}

// The auto rule: 3x3 layers with at least 64 channels on both sides and more than 7x7 outputs.
TEST(WinogradPolicy, AutoRule) {
  EXPECT_TRUE(kernels::prefer_winograd(56 * 56, 64, 64));
  EXPECT_TRUE(kernels::prefer_winograd(14 * 14, 256, 256));
  EXPECT_FALSE(kernels::prefer_winograd(7 * 7, 512, 512));
  EXPECT_FALSE(kernels::prefer_winograd(28 * 28, 32, 64));
  EXPECT_FALSE(kernels::prefer_winograd(14 * 14, 2048, 2048));
}

INSTANTIATE_TEST_SUITE_P(Cases, WinogradConv, ::testing::ValuesIn(winograd_cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

}  // namespace
}  // namespace quac
