// Graph passes: clean-ups, BN folding and fusions rewrite the graph as intended and the optimised session computes
// what the unoptimised reference session computes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "passes/pass.h"
#include "quac/session.h"
#include "test_model_builder.h"

namespace quac {
namespace {

Tensor random_tensor(const Shape& shape, std::mt19937& rng, float lo = -1.f, float hi = 1.f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor t(DataType::kFloat, shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

// x -> Identity -> Conv -> BN -> Relu -> Conv(1x1) -> Add(residual) -> Clip(Constant bounds) -> Dropout -> y
Model residual_model() {
  std::mt19937 rng(3);
  testing::ModelBuilder m(13);
  m.input("x", DataType::kFloat, {2, 4, 10, 10});
  m.initializer("w1", random_tensor({12, 4, 3, 3}, rng)).initializer("w2", random_tensor({12, 12, 1, 1}, rng));
  m.initializer("w0", random_tensor({12, 4, 1, 1}, rng));
  m.initializer("g", random_tensor({12}, rng)).initializer("be", random_tensor({12}, rng));
  m.initializer("mu", random_tensor({12}, rng)).initializer("var", random_tensor({12}, rng, 0.5f, 2.f));
  m.initializer("one", Tensor::scalar<float>(1.f)).initializer("two", Tensor::scalar<float>(2.f));
  m.node("Identity", {"x"}, {"xi"});
  m.node("Conv", {"xi", "w0"}, {"skip"});
  m.node("Conv", {"xi", "w1"}, {"c1"}, {ir::make_ints_attr("pads", {1, 1, 1, 1})});
  m.node("BatchNormalization", {"c1", "g", "be", "mu", "var"}, {"bn"}, {ir::make_float_attr("epsilon", 1e-3f)});
  m.node("Relu", {"bn"}, {"r"});
  m.node("Conv", {"r", "w2"}, {"c2"});
  m.node("Add", {"c2", "skip"}, {"a"});
  m.node("Constant", {}, {"lo"}, {ir::make_tensor_attr("value", Tensor::scalar<float>(-0.5f))});
  m.node("Add", {"one", "two"}, {"hi"});  // folded to the constant 3
  m.node("Clip", {"a", "lo", "hi"}, {"cl"});
  m.node("Dropout", {"cl"}, {"y"});
  m.output("y", DataType::kFloat);
  return m.build();
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

TEST(Passes, FoldsAndFusesTheResidualBlock) {
  Model model = residual_model();
  ir::Graph g = model.ir().graph;
  PassContext ctx{model.ir(), {"y"}, 2, false};
  run_passes(g, ctx);
  std::map<std::string, int> ops;
  for (const auto& n : g.nodes) ops[n.domain + "." + n.op_type]++;
  EXPECT_EQ(ops.size(), 1u) << "only fused convolutions should remain";
  EXPECT_EQ(ops["quac.FusedConv"], 3);
  EXPECT_TRUE(g.initializers.count("hi"));  // constant-folded
  const ir::Node& last = g.nodes.back();
  EXPECT_EQ(last.outputs[0], "y");
  EXPECT_EQ(last.attr_strings("post_ops"), (std::vector<std::string>{"Sum", "Clip"}));
  bool relu_fused = false;
  for (const auto& n : g.nodes)
    if (n.attr_strings("post_ops") == std::vector<std::string>{"Relu"}) relu_fused = n.inputs.size() >= 3;
  EXPECT_TRUE(relu_fused) << "BN folded into the conv (bias added) and Relu fused";
}

TEST(Passes, OptimisedSessionMatchesUnoptimisedReference) {
  Model model = residual_model();
  std::mt19937 rng(11);
  std::vector<Tensor> feeds = {random_tensor({2, 4, 10, 10}, rng)};
  SessionOptions ref;
  ref.reference_kernels_only = true;
  ref.optimization_level = 0;
  auto expected = Session(model, ref).run(feeds)[0];
  for (int level : {1, 2}) {
    for (bool reference : {true, false}) {
      SessionOptions o;
      o.optimization_level = level;
      o.reference_kernels_only = reference;
      auto got = Session(model, o).run(feeds)[0];
      ASSERT_EQ(got.shape(), expected.shape());
      EXPECT_LE(rel_l2(got, expected), 1e-5) << "level " << level << " reference " << reference;
    }
  }
}

// A fused residual Sum accumulates in place into the skip tensor only when nothing else still needs it: a skip that
// is also a graph output or is read by a later node keeps its value, and so does the caller's input.
TEST(Passes, ResidualSumInPlaceLeavesLiveValuesAlone) {
  std::mt19937 rng(17);
  testing::ModelBuilder m(13);
  m.input("x", DataType::kFloat, {1, 8, 6, 6});
  m.initializer("w0", random_tensor({8, 8, 1, 1}, rng)).initializer("w1", random_tensor({8, 8, 3, 3}, rng));
  m.initializer("w2", random_tensor({8, 8, 1, 1}, rng)).initializer("w3", random_tensor({8, 8, 1, 1}, rng));
  m.initializer("w4", random_tensor({8, 8, 1, 1}, rng)).initializer("w5", random_tensor({8, 8, 1, 1}, rng));
  m.initializer("w6", random_tensor({8, 8, 1, 1}, rng));
  m.node("Conv", {"x", "w0"}, {"skip"});
  m.node("Conv", {"x", "w1"}, {"c1"}, {ir::make_ints_attr("pads", {1, 1, 1, 1})});
  m.node("Add", {"c1", "skip"}, {"a1"});  // skip: a graph output and read again below
  m.node("Conv", {"a1", "w4"}, {"b"});
  m.node("Conv", {"b", "w2"}, {"c2"});
  m.node("Add", {"c2", "a1"}, {"a2"});  // a1 (blocked) is read again below: not reused
  m.node("Conv", {"a2", "w3"}, {"c3"});
  m.node("Conv", {"a1", "w5"}, {"d"});
  m.node("Add", {"c3", "d"}, {"e"});  // d: this is its last reader, so it is reused
  m.node("Conv", {"e", "w6"}, {"a3"});
  m.node("Relu", {"skip"}, {"s2"});
  m.output("a3", DataType::kFloat).output("skip", DataType::kFloat).output("s2", DataType::kFloat);
  Model model = m.build();
  SessionOptions ref;
  ref.reference_kernels_only = true;
  ref.optimization_level = 0;
  Session expected_session(model, ref), fast(model, SessionOptions{});
  for (int run = 0; run < 3; ++run) {  // buffers come back from the pool between runs
    std::vector<Tensor> feeds = {random_tensor({1, 8, 6, 6}, rng)};
    Tensor x_copy = feeds[0].clone();
    auto expected = expected_session.run(feeds);
    auto got = fast.run(feeds);
    ASSERT_EQ(got.size(), 3u);
    for (size_t i = 0; i < 3; ++i) EXPECT_LE(rel_l2(got[i], expected[i]), 1e-5) << "output " << i << " run " << run;
    EXPECT_EQ(rel_l2(feeds[0], x_copy), 0.0) << "the input was written";
  }
}

// HardSwish as exporters write it before opset 14 (x * HardSigmoid(x, 1/6, 1/2)) and Swish (x * Sigmoid(x)) after a
// Conv become post-ops; a HardSigmoid with other constants is left alone.
TEST(Passes, GatedActivationsAfterConvAreFused) {
  std::mt19937 rng(5);
  testing::ModelBuilder m(13);
  m.input("x", DataType::kFloat, {1, 3, 9, 9});
  m.initializer("w1", random_tensor({8, 3, 3, 3}, rng)).initializer("w2", random_tensor({8, 8, 1, 1}, rng));
  m.initializer("w3", random_tensor({8, 8, 1, 1}, rng));
  m.node("Conv", {"x", "w1"}, {"c1"});
  m.node("HardSigmoid", {"c1"}, {"g1"}, {ir::make_float_attr("alpha", 1.f / 6), ir::make_float_attr("beta", 0.5f)});
  m.node("Mul", {"c1", "g1"}, {"h1"});
  m.node("Conv", {"h1", "w2"}, {"c2"});
  m.node("Sigmoid", {"c2"}, {"g2"});
  m.node("Mul", {"g2", "c2"}, {"h2"});
  m.node("Conv", {"h2", "w3"}, {"c3"});
  m.node("HardSigmoid", {"c3"}, {"g3"});  // default alpha 0.2: not HardSwish
  m.node("Mul", {"c3", "g3"}, {"y"});
  m.output("y", DataType::kFloat);
  Model model = m.build();
  ir::Graph g = model.ir().graph;
  PassContext ctx{model.ir(), {"y"}, 2, false};
  run_passes(g, ctx);
  std::vector<std::vector<std::string>> post_ops;
  std::map<std::string, int> ops;
  for (const auto& n : g.nodes) {
    ops[n.op_type]++;
    if (n.op_type == "FusedConv") post_ops.push_back(n.attr_strings("post_ops"));
  }
  EXPECT_EQ(ops["HardSigmoid"], 1);
  EXPECT_EQ(ops["Mul"], 1);
  EXPECT_EQ(ops["Sigmoid"], 0);
  ASSERT_EQ(post_ops.size(), 3u);
  EXPECT_EQ(post_ops[0], std::vector<std::string>{"HardSwish"});
  EXPECT_EQ(post_ops[1], std::vector<std::string>{"Swish"});
  EXPECT_TRUE(post_ops[2].empty());

  std::vector<Tensor> feeds = {random_tensor({1, 3, 9, 9}, rng, -3.f, 3.f)};
  SessionOptions ref;
  ref.reference_kernels_only = true;
  ref.optimization_level = 0;
  auto expected = Session(model, ref).run(feeds)[0];
  for (bool reference : {true, false}) {
    SessionOptions o;
    o.reference_kernels_only = reference;
    EXPECT_LE(rel_l2(Session(model, o).run(feeds)[0], expected), 1e-5) << "reference kernels " << reference;
  }
}

TEST(Passes, IdentityBeforeGraphOutputKeepsTheOutputName) {
  testing::ModelBuilder m(13);
  m.input("x", DataType::kFloat, {3});
  m.node("Relu", {"x"}, {"r"}).node("Identity", {"r"}, {"y"});
  m.output("y", DataType::kFloat);
  Model model = m.build();
  ir::Graph g = model.ir().graph;
  PassContext ctx{model.ir(), {"y"}, 1, false};
  run_passes(g, ctx);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].outputs[0], "y");
}

TEST(Passes, TappedValuesSurvive) {
  testing::ModelBuilder m(13);
  m.input("x", DataType::kFloat, {1, 2, 5, 5});
  std::mt19937 rng(5);
  m.initializer("w", random_tensor({3, 2, 3, 3}, rng));
  m.node("Conv", {"x", "w"}, {"c"}).node("Relu", {"c"}, {"y"});
  m.output("y", DataType::kFloat);
  Model model = m.build();
  SessionOptions o;
  o.taps = {"c"};
  Session s(model, o);
  bool seen = false;
  s.run({random_tensor({1, 2, 5, 5}, rng)}, [&](const std::string& v, const Tensor& t) {
    if (v == "c") seen = t.shape() == Shape{1, 3, 3, 3};
  });
  EXPECT_TRUE(seen) << "a tapped conv output must not be fused away or stored blocked";
}

TEST(Passes, GeluAndLayerNormPatternsAreFused) {
  testing::ModelBuilder m(13);
  m.input("x", DataType::kFloat, {2, 8});
  m.initializer("sqrt2", Tensor::scalar<float>(std::sqrt(2.f))).initializer("one", Tensor::scalar<float>(1.f));
  m.initializer("half", Tensor::scalar<float>(0.5f)).initializer("two", Tensor::scalar<float>(2.f));
  m.initializer("eps", Tensor::scalar<float>(1e-5f));
  std::mt19937 rng(9);
  m.initializer("gamma", random_tensor({8}, rng)).initializer("beta", random_tensor({8}, rng));
  m.node("Mul", {"x", "half"}, {"h"}).node("Div", {"x", "sqrt2"}, {"d"}).node("Erf", {"d"}, {"e"});
  m.node("Add", {"e", "one"}, {"a"}).node("Mul", {"h", "a"}, {"gelu"});
  m.node("ReduceMean", {"gelu"}, {"mean"}, {ir::make_ints_attr("axes", {-1})});
  m.node("Sub", {"gelu", "mean"}, {"dd"}).node("Pow", {"dd", "two"}, {"p"});
  m.node("ReduceMean", {"p"}, {"v"}, {ir::make_ints_attr("axes", {-1})});
  m.node("Add", {"v", "eps"}, {"ve"}).node("Sqrt", {"ve"}, {"s"}).node("Div", {"dd", "s"}, {"n"});
  m.node("Mul", {"n", "gamma"}, {"gm"}).node("Add", {"gm", "beta"}, {"y"});
  m.output("y", DataType::kFloat);
  Model model = m.build();
  ir::Graph g = model.ir().graph;
  PassContext ctx{model.ir(), {"y"}, 2, false};
  run_passes(g, ctx);
  ASSERT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(g.nodes[0].op_type, "Gelu");
  EXPECT_EQ(g.nodes[1].op_type, "LayerNormalization");
  std::vector<Tensor> feeds = {random_tensor({2, 8}, rng)};
  SessionOptions ref;
  ref.reference_kernels_only = true;
  ref.optimization_level = 0;
  auto expected = Session(model, ref).run(feeds)[0];
  auto got = Session(model, SessionOptions{}).run(feeds)[0];
  EXPECT_LE(rel_l2(got, expected), 1e-5);
}

TEST(Passes, BlockedLayoutWithDynamicBatch) {
  std::mt19937 rng(21);
  testing::ModelBuilder m(13);
  m.input("x", DataType::kFloat, {-1, 3, -1, -1});
  m.initializer("w1", random_tensor({10, 3, 3, 3}, rng)).initializer("w2", random_tensor({6, 10, 3, 3}, rng));
  m.node("Conv", {"x", "w1"}, {"c1"}, {ir::make_ints_attr("pads", {1, 1, 1, 1})}).node("Relu", {"c1"}, {"r1"});
  m.node("MaxPool", {"r1"}, {"p"}, {ir::make_ints_attr("kernel_shape", {2, 2}), ir::make_ints_attr("strides", {2, 2})});
  m.node("Conv", {"p", "w2"}, {"y"});
  m.output("y", DataType::kFloat);
  Model model = m.build();
  ir::Graph g = model.ir().graph;
  PassContext ctx{model.ir(), {"y"}, 2, false};
  run_passes(g, ctx);
  ASSERT_EQ(g.nodes.size(), 3u);
  EXPECT_EQ(g.nodes[0].attr_int("blocked_output", 0), 1);
  EXPECT_EQ(g.nodes[1].op_type, "Pool");
  EXPECT_EQ(g.nodes[1].attr_int("blocked_output", 0), 1);
  EXPECT_EQ(g.nodes[2].attr_int("blocked_output", 0), 0) << "graph outputs stay plain";
  SessionOptions ref;
  ref.reference_kernels_only = true;
  ref.optimization_level = 0;
  Session fast(model), slow(model, ref);
  for (int64_t batch : {1, 3}) {
    std::vector<Tensor> feeds = {random_tensor({batch, 3, 9, 7}, rng)};
    auto got = fast.run(feeds)[0];
    auto expected = slow.run(feeds)[0];
    ASSERT_EQ(got.shape(), expected.shape());
    EXPECT_LE(rel_l2(got, expected), 1e-5) << "batch " << batch;
  }
}

// A residual Add becomes the Sum post-op under a dynamic batch too (shapes compared with stand-ins for the dynamic
// sizes), while an Add that broadcasts a graph input of another shape stays an Add.
TEST(Passes, ResidualAddFusedUnderDynamicBatch) {
  std::mt19937 rng(31);
  testing::ModelBuilder m(13);
  m.input("x", DataType::kFloat, {-1, 4, 8, 8});
  m.input("z", DataType::kFloat, {1, 12, 1, 1});
  m.initializer("w0", random_tensor({12, 4, 1, 1}, rng)).initializer("w1", random_tensor({12, 4, 3, 3}, rng));
  m.initializer("w2", random_tensor({12, 12, 3, 3}, rng));
  m.node("Conv", {"x", "w0"}, {"skip"});
  m.node("Conv", {"x", "w1"}, {"c1"}, {ir::make_ints_attr("pads", {1, 1, 1, 1})}).node("Relu", {"c1"}, {"r1"});
  m.node("Conv", {"r1", "w2"}, {"c2"}, {ir::make_ints_attr("pads", {1, 1, 1, 1})});
  m.node("Add", {"c2", "skip"}, {"a"}).node("Relu", {"a"}, {"r2"});
  m.node("Conv", {"r2", "w2"}, {"c3"}, {ir::make_ints_attr("pads", {1, 1, 1, 1})});
  m.node("Add", {"c3", "z"}, {"y"});
  m.output("y", DataType::kFloat);
  Model model = m.build();
  ir::Graph g = model.ir().graph;
  PassContext ctx{model.ir(), {"y"}, 2, false};
  run_passes(g, ctx);
  int sums = 0, adds = 0;
  for (const auto& n : g.nodes) {
    auto ops = n.attr_strings("post_ops");
    sums += static_cast<int>(std::count(ops.begin(), ops.end(), "Sum"));
    adds += n.op_type == "Add";
  }
  EXPECT_EQ(sums, 1) << "the residual Add is fused";
  EXPECT_EQ(adds, 1) << "the broadcasting Add is not";
  SessionOptions ref;
  ref.reference_kernels_only = true;
  ref.optimization_level = 0;
  Session fast(model), slow(model, ref);
  for (int64_t batch : {1, 3}) {
    std::vector<Tensor> feeds = {random_tensor({batch, 4, 8, 8}, rng), random_tensor({1, 12, 1, 1}, rng)};
    auto got = fast.run(feeds)[0];
    auto expected = slow.run(feeds)[0];
    ASSERT_EQ(got.shape(), expected.shape());
    EXPECT_LE(rel_l2(got, expected), 1e-5) << "batch " << batch;
  }
}

}  // namespace
}  // namespace quac
