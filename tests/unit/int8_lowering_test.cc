// INT8 lowering: QDQ patterns become quac.QConv / QMatMul / QPool run by oneDNN INT8 primitives, and the lowered
// graph computes what the QDQ graph computes with reference kernels only, within one quantization step of the
// output scale, on fresh random inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>

#include "passes/pass.h"
#include "quac/dataset.h"
#include "quac/pipeline.h"
#include "quac/session.h"
#include "test_model_builder.h"

namespace quac {
namespace {

using testing::ModelBuilder;

Tensor uniform(const Shape& shape, std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor t(DataType::kFloat, shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

Tensor int8_weights(const Shape& shape, std::mt19937& rng, int lo, int hi) {
  std::uniform_int_distribution<int> dist(lo, hi);
  Tensor t(DataType::kInt8, shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<int8_t>()[i] = static_cast<int8_t>(dist(rng));
  return t;
}

Tensor zeros_s8(int64_t n) {
  Tensor t(DataType::kInt8, {n});
  for (int64_t i = 0; i < n; ++i) t.data<int8_t>()[i] = 0;
  return t;
}

Tensor zero_point(bool u8, int v) {
  return u8 ? Tensor::scalar<uint8_t>(static_cast<uint8_t>(v)) : Tensor::scalar<int8_t>(static_cast<int8_t>(v));
}

// Real range [lo, hi] covered by an 8-bit quantizer.
void range_of(bool u8, int zp, float scale, float* lo, float* hi) {
  *lo = ((u8 ? 0 : -128) - zp) * scale;
  *hi = ((u8 ? 255 : 127) - zp) * scale;
}

struct ConvCase {
  std::string name;
  int64_t c = 8, m = 16, h = 9, w = 9, k = 3, stride = 1, pad = 1, group = 1;
  bool per_channel = true, x_u8 = true, y_u8 = true;
  int x_zp = 0, y_zp = 0;
  std::string act;  // "", Relu, Clip, HardSwish, HardSwishGate, SwishGate
  bool residual = false, res_u8 = false;
  bool float_residual = false;  // the residual is added in float (quac's placement before Add inputs are quantized)
  bool qdq_before_add = false;  // conv -> Q -> DQ -> Add (ONNX Runtime's QDQ form of a residual block)
  int w_lo = -64, w_hi = 64;    // 7-bit weights by default (the INT8 primitive on CPUs without VNNI)
  bool float_weights = false;   // Q -> DQ of float weights instead of int8 initializers
  bool output_q = true;
  int batch = 2;
};

std::ostream& operator<<(std::ostream& os, const ConvCase& c) { return os << c.name; }

// x -> Q -> DQ -> Conv(DQ(w), b) -> [act] -> [Add(DQ(Q(r)))] -> [Q -> DQ] -> y
Model conv_model(const ConvCase& p, float y_scale, std::mt19937& rng) {
  ModelBuilder b(13);
  int64_t oh = (p.h + 2 * p.pad - p.k) / p.stride + 1, ow = (p.w + 2 * p.pad - p.k) / p.stride + 1;
  b.input("x", DataType::kFloat, {p.batch, p.c, p.h, p.w});
  if (p.residual) b.input("r", DataType::kFloat, {p.batch, p.m, oh, ow});
  b.initializer("xs", Tensor::scalar<float>(0.02f)).initializer("xz", zero_point(p.x_u8, p.x_zp));
  Shape ws = {p.m, p.c / p.group, p.k, p.k};
  Tensor wscale = p.per_channel ? uniform({p.m}, rng, 0.002f, 0.01f) : Tensor::scalar<float>(0.005f);
  Tensor wzero = p.per_channel ? Tensor(DataType::kInt8, {p.m}) : Tensor::scalar<int8_t>(0);
  if (p.per_channel)
    for (int64_t i = 0; i < p.m; ++i) wzero.data<int8_t>()[i] = 0;
  b.initializer("ws", wscale).initializer("wz", wzero);
  std::vector<ir::Attribute> dq_axis = {ir::make_int_attr("axis", 0)};
  if (p.float_weights) {
    Tensor wf(DataType::kFloat, ws);
    Tensor wi = int8_weights(ws, rng, p.w_lo, p.w_hi);
    int64_t per = wf.numel() / p.m;
    for (int64_t i = 0; i < wf.numel(); ++i)
      wf.data<float>()[i] = (wi.data<int8_t>()[i] + 0.3f) * (p.per_channel ? wscale.data<float>()[i / per] : 0.005f);
    b.initializer("wf", wf);
    b.node("QuantizeLinear", {"wf", "ws", "wz"}, {"wq"}, dq_axis);
  } else {
    b.initializer("wq", int8_weights(ws, rng, p.w_lo, p.w_hi));
  }
  b.node("DequantizeLinear", {"wq", "ws", "wz"}, {"wd"}, dq_axis);
  b.initializer("bias", uniform({p.m}, rng, -0.5f, 0.5f));
  b.node("QuantizeLinear", {"x", "xs", "xz"}, {"xq"}).node("DequantizeLinear", {"xq", "xs", "xz"}, {"xd"});
  std::vector<ir::Attribute> attrs = {
      ir::make_ints_attr("kernel_shape", {p.k, p.k}), ir::make_ints_attr("pads", {p.pad, p.pad, p.pad, p.pad}),
      ir::make_ints_attr("strides", {p.stride, p.stride}), ir::make_int_attr("group", p.group)};
  b.node("Conv", {"xd", "wd", "bias"}, {"c"}, attrs);
  std::string v = "c";
  if (p.act == "Relu") {
    b.node("Relu", {v}, {"act"});
    v = "act";
  } else if (p.act == "Clip") {
    b.initializer("lo", Tensor::scalar<float>(0.f)).initializer("hi", Tensor::scalar<float>(0.6f));
    b.node("Clip", {v, "lo", "hi"}, {"act"});
    v = "act";
  } else if (p.act == "HardSwish") {
    b.node("HardSwish", {v}, {"act"});
    v = "act";
  } else if (p.act == "HardSwishGate") {  // as exported before opset 14
    b.node("HardSigmoid", {v}, {"gate"}, {ir::make_float_attr("alpha", 1.f / 6), ir::make_float_attr("beta", 0.5f)});
    b.node("Mul", {v, "gate"}, {"act"});
    v = "act";
  } else if (p.act == "SwishGate") {
    b.node("Sigmoid", {v}, {"gate"}).node("Mul", {"gate", v}, {"act"});
    v = "act";
  }
  if (p.residual) {
    b.initializer("rs", Tensor::scalar<float>(0.03f)).initializer("rz", zero_point(p.res_u8, p.res_u8 ? 20 : -5));
    b.node("QuantizeLinear", {"r", "rs", "rz"}, {"rq"}).node("DequantizeLinear", {"rq", "rs", "rz"}, {"rd"});
    if (p.qdq_before_add) {
      b.initializer("cs", Tensor::scalar<float>(y_scale * 0.7f)).initializer("cz", zero_point(false, 3));
      b.node("QuantizeLinear", {v, "cs", "cz"}, {"cq"}).node("DequantizeLinear", {"cq", "cs", "cz"}, {"cd"});
      v = "cd";
    }
    b.node("Add", {v, p.float_residual ? "r" : "rd"}, {"sum"});
    v = "sum";
    if (p.act == "Relu") {
      b.node("Relu", {v}, {"act2"});
      v = "act2";
    }
  }
  if (p.output_q) {
    b.initializer("ys", Tensor::scalar<float>(y_scale)).initializer("yz", zero_point(p.y_u8, p.y_zp));
    b.node("QuantizeLinear", {v, "ys", "yz"}, {"yq"}).node("DequantizeLinear", {"yq", "ys", "yz"}, {"y"});
  } else {
    b.node("Identity", {v}, {"y"});
  }
  b.output("y", DataType::kFloat);
  return b.build();
}

std::vector<Tensor> conv_feeds(const ConvCase& p, std::mt19937& rng) {
  float lo, hi;
  range_of(p.x_u8, p.x_zp, 0.02f, &lo, &hi);
  std::vector<Tensor> feeds = {uniform({p.batch, p.c, p.h, p.w}, rng, lo * 1.05f, hi * 1.05f)};
  if (p.residual) {
    int64_t oh = (p.h + 2 * p.pad - p.k) / p.stride + 1, ow = (p.w + 2 * p.pad - p.k) / p.stride + 1;
    range_of(p.res_u8, p.res_u8 ? 20 : -5, 0.03f, &lo, &hi);
    feeds.push_back(uniform({p.batch, p.m, oh, ow}, rng, lo, hi));
  }
  return feeds;
}

Tensor run_reference(const Model& model, const std::vector<Tensor>& feeds) {
  SessionOptions o;
  o.reference_kernels_only = true;
  o.optimization_level = 0;
  return Session(model, o).run(feeds)[0];
}

Tensor run_lowered(const Model& model, const std::vector<Tensor>& feeds, int threads, bool reference = false) {
  SessionOptions o;
  o.num_threads = threads;
  o.reference_kernels_only = reference;
  return Session(model, o).run(feeds)[0];
}

std::map<std::string, int> lowered_ops(const Model& model) {
  auto exe = model.executable();  // a quantized model runs as its QDQ graph
  ir::Graph g = exe->graph;
  PassContext ctx{*exe, {}, 2, false};
  for (const auto& o : g.outputs) ctx.protected_values.insert(o.name);
  run_passes(g, ctx);
  std::map<std::string, int> ops;
  for (const auto& n : g.nodes) ops[(n.domain.empty() ? "" : n.domain + ".") + n.op_type]++;
  return ops;
}

// Largest element-wise difference and the count of differing elements.
double max_abs_diff(const Tensor& a, const Tensor& b) {
  double d = 0;
  for (int64_t i = 0; i < a.numel(); ++i)
    d = std::max(d, std::fabs(static_cast<double>(a.data<float>()[i]) - b.data<float>()[i]));
  return d;
}

double max_abs(const Tensor& a) {
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::fabs(static_cast<double>(a.data<float>()[i])));
  return m;
}

class Int8Conv : public ::testing::TestWithParam<ConvCase> {};

TEST_P(Int8Conv, MatchesTheQdqReferenceWithinOneStep) {
  const ConvCase& p = GetParam();
  std::mt19937 rng(std::hash<std::string>{}(p.name) & 0xffff);
  // The output scale from the float result's range, so the output quantizer neither saturates everything nor
  // rounds everything to zero.
  ConvCase probe = p;
  probe.output_q = false;
  std::mt19937 rng_probe = rng;
  Model float_model = conv_model(probe, 1.f, rng_probe);
  std::mt19937 feed_rng(std::hash<std::string>{}(p.name) + 17);
  auto feeds = conv_feeds(p, feed_rng);
  float y_scale = static_cast<float>(max_abs(run_reference(float_model, feeds)) / 120.0);
  Model model = conv_model(p, p.output_q ? y_scale : 1.f, rng);

  auto ops = lowered_ops(model);
  EXPECT_EQ(ops["quac.QConv"], 1) << "the pattern must be lowered";
  EXPECT_EQ(ops["Conv"] + ops["quac.FusedConv"], 0);
  EXPECT_EQ(ops["Mul"] + ops["Sigmoid"] + ops["HardSigmoid"], 0) << "gated activations become post-ops";

  for (int round = 0; round < 2; ++round) {
    auto fresh = conv_feeds(p, feed_rng);
    Tensor want = run_reference(model, fresh);
    for (int threads : {1, 2}) {
      Tensor got = run_lowered(model, fresh, threads);
      ASSERT_EQ(got.shape(), want.shape());
      double tol = p.output_q ? y_scale * 1.001 : 1e-4 * std::max(1.0, max_abs(want));
      EXPECT_LE(max_abs_diff(got, want), tol) << p.name << " threads " << threads;
    }
    // The INT8 ops' own reference kernels agree too (reference_kernels_only after the passes).
    Tensor ref_lowered = run_lowered(model, fresh, 1, true);
    EXPECT_LE(max_abs_diff(ref_lowered, want), p.output_q ? y_scale * 1.001 : 1e-4 * std::max(1.0, max_abs(want)));
  }
}

std::vector<ConvCase> conv_cases() {
  std::vector<ConvCase> v;
  auto add = [&](ConvCase c) { v.push_back(c); };
  add({.name = "PerChannelU8"});
  add({.name = "PerTensorU8", .per_channel = false});
  add({.name = "U8ZeroPoint", .x_zp = 37, .y_zp = 11});
  add({.name = "S8Activations", .x_u8 = false, .y_u8 = false, .x_zp = 5, .y_zp = -3});
  add({.name = "S8InU8Out", .x_u8 = false, .x_zp = 0, .act = "Relu"});
  add({.name = "Grouped", .c = 8, .m = 12, .group = 4});
  add({.name = "Depthwise", .c = 16, .m = 16, .group = 16, .x_zp = 9});
  add({.name = "Strided", .h = 12, .w = 11, .stride = 2});
  add({.name = "NoPadding5x5", .k = 5, .pad = 0, .x_zp = 100});
  add({.name = "Pointwise", .k = 1, .pad = 0});
  add({.name = "Relu", .act = "Relu"});
  add({.name = "Clip", .y_u8 = true, .act = "Clip"});
  add({.name = "HardSwish", .y_u8 = false, .y_zp = 4, .act = "HardSwish"});
  add({.name = "HardSwishGate", .y_u8 = false, .y_zp = 4, .act = "HardSwishGate"});
  add({.name = "SwishGateResidual", .act = "SwishGate", .residual = true, .res_u8 = true});
  add({.name = "ResidualRelu", .act = "Relu", .residual = true, .res_u8 = true});
  add({.name = "ResidualS8", .y_u8 = false, .residual = true, .res_u8 = false});
  add({.name = "FloatResidual", .act = "Relu", .residual = true, .float_residual = true});
  add({.name = "QdqResidual", .act = "Relu", .residual = true, .res_u8 = true, .qdq_before_add = true});
  add({.name = "QdqResidualS8", .y_u8 = false, .y_zp = 2, .residual = true, .qdq_before_add = true});
  add({.name = "FloatWeightsQdq", .float_weights = true});
  add({.name = "FloatOutput", .output_q = false});
  add({.name = "FloatOutputResidual", .residual = true, .output_q = false});
  // 8-bit weights: on CPUs without VNNI the u8 x s8 products can saturate in oneDNN's INT8 kernels, so these layers
  // must take the exact path (see kernels/onednn_int8.cc); the results still match the reference.
  add({.name = "EightBitWeights", .w_lo = -127, .w_hi = 127});
  add({.name = "EightBitWeightsResidual", .act = "Relu", .residual = true, .w_lo = -128, .w_hi = 127});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Cases, Int8Conv, ::testing::ValuesIn(conv_cases()),
                         [](const auto& info) { return info.param.name; });

// All-255 activations and +-127 weights: two adjacent products of 32385 overflow vpmaddubsw's s16. The result must
// still be exact (the kernel may not use the saturating INT8 path for such weights on CPUs without VNNI).
TEST(Int8Lowering, SaturatingWeightsStayExact) {
  ModelBuilder b(13);
  b.input("x", DataType::kFloat, {1, 16, 4, 4});
  b.initializer("xs", Tensor::scalar<float>(1.f)).initializer("xz", Tensor::scalar<uint8_t>(0));
  Tensor w(DataType::kInt8, {8, 16, 1, 1});
  for (int64_t i = 0; i < w.numel(); ++i) w.data<int8_t>()[i] = 127;
  b.initializer("w", w).initializer("ws", Tensor::scalar<float>(1.f)).initializer("wz", Tensor::scalar<int8_t>(0));
  b.initializer("ys", Tensor::scalar<float>(4096.f)).initializer("yz", Tensor::scalar<uint8_t>(0));
  b.node("QuantizeLinear", {"x", "xs", "xz"}, {"xq"}).node("DequantizeLinear", {"xq", "xs", "xz"}, {"xd"});
  b.node("DequantizeLinear", {"w", "ws", "wz"}, {"wd"});
  b.node("Conv", {"xd", "wd"}, {"c"});
  b.node("QuantizeLinear", {"c", "ys", "yz"}, {"yq"}).node("DequantizeLinear", {"yq", "ys", "yz"}, {"y"});
  b.output("y", DataType::kFloat);
  Model model = b.build();
  Tensor x(DataType::kFloat, {1, 16, 4, 4});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = 255.f;
  Tensor want = run_reference(model, {x});
  // 16 * 255 * 127 = 518160 -> 126.5 steps of 4096 -> 126 or 127.
  EXPECT_NEAR(want.data<float>()[0], 4096.f * 127, 4096.f * 1.01);
  EXPECT_LE(max_abs_diff(run_lowered(model, {x}, 1), want), 4096.0 * 1.001);
}

// The fast per-tensor QuantizeLinear / DequantizeLinear give exactly the reference's values, ties (round half to
// even), saturation, infinities and NaN included.
TEST(Int8Lowering, FastQuantizeLinearIsExact) {
  std::mt19937 rng(5);
  for (bool u8 : {true, false}) {
    ModelBuilder b(13);
    b.input("x", DataType::kFloat, {4096});
    b.initializer("s", Tensor::scalar<float>(0.5f)).initializer("z", zero_point(u8, u8 ? 100 : -7));
    b.node("QuantizeLinear", {"x", "s", "z"}, {"q"}).node("DequantizeLinear", {"q", "s", "z"}, {"y"});
    b.output("q", u8 ? DataType::kUInt8 : DataType::kInt8).output("y", DataType::kFloat);
    Model model = b.build();
    Tensor x = uniform({4096}, rng, -200.f, 200.f);
    for (int i = 0; i < 1000; ++i) x.data<float>()[i] = 0.25f * static_cast<float>(i - 500);  // ties at .5 steps
    x.data<float>()[1000] = INFINITY;
    x.data<float>()[1001] = -INFINITY;
    x.data<float>()[1002] = NAN;
    SessionOptions ref;
    ref.reference_kernels_only = true;
    auto want = Session(model, ref).run({x});
    auto got = Session(model, SessionOptions{.num_threads = 2}).run({x});
    ASSERT_EQ(got[0].nbytes(), want[0].nbytes());
    EXPECT_EQ(std::memcmp(got[0].raw_data(), want[0].raw_data(), want[0].nbytes()), 0) << "u8 " << u8;
    EXPECT_EQ(std::memcmp(got[1].raw_data(), want[1].raw_data(), want[1].nbytes()), 0) << "u8 " << u8;
  }
}

// x -> Q -> DQ -> MatMul / Gemm(DQ(w)) -> [Relu] -> [Q -> DQ]
Model matmul_model(bool gemm, bool trans_b, bool x_u8, int x_zp, bool output_q, float y_scale, std::mt19937& rng,
                   int w_max = 64) {
  ModelBuilder b(13);
  int64_t k = 24, n = 10;
  b.input("x", DataType::kFloat, {3, k});
  b.initializer("xs", Tensor::scalar<float>(0.02f)).initializer("xz", zero_point(x_u8, x_zp));
  Shape ws = trans_b ? Shape{n, k} : Shape{k, n};
  b.initializer("w", int8_weights(ws, rng, -w_max, w_max));
  b.initializer("wsc", uniform({n}, rng, 0.002f, 0.01f)).initializer("wz", zeros_s8(n));
  b.node("QuantizeLinear", {"x", "xs", "xz"}, {"xq"}).node("DequantizeLinear", {"xq", "xs", "xz"}, {"xd"});
  b.node("DequantizeLinear", {"w", "wsc", "wz"}, {"wd"}, {ir::make_int_attr("axis", trans_b ? 0 : 1)});
  b.initializer("bias", uniform({n}, rng, -0.3f, 0.3f));
  if (gemm) {
    b.node("Gemm", {"xd", "wd", "bias"}, {"mm"}, {ir::make_int_attr("transB", trans_b ? 1 : 0)});
  } else {
    b.node("MatMul", {"xd", "wd"}, {"mm0"}).node("Add", {"mm0", "bias"}, {"mm"});
  }
  b.node("Relu", {"mm"}, {"r"});
  if (output_q) {
    b.initializer("ys", Tensor::scalar<float>(y_scale)).initializer("yz", Tensor::scalar<uint8_t>(3));
    b.node("QuantizeLinear", {"r", "ys", "yz"}, {"yq"}).node("DequantizeLinear", {"yq", "ys", "yz"}, {"y"});
  } else {
    b.node("Identity", {"r"}, {"y"});
  }
  b.output("y", DataType::kFloat);
  return b.build();
}

TEST(Int8Lowering, MatMulAndGemm) {
  struct Case {
    bool gemm, trans_b, x_u8;
    int x_zp;
    bool output_q;
    int w_max = 64;  // 127: 8-bit weights, run as two exact halves on CPUs without VNNI
  };
  for (Case c : {Case{true, true, true, 10, true}, Case{true, false, false, -7, true},
                 Case{false, false, true, 0, true}, Case{true, true, true, 128, false},
                 Case{false, false, true, 3, true, 127}, Case{true, true, false, 0, false, 127}}) {
    std::mt19937 rng(c.gemm * 4 + c.trans_b * 2 + c.x_u8 + c.w_max);
    Model model = matmul_model(c.gemm, c.trans_b, c.x_u8, c.x_zp, c.output_q, 0.01f, rng, c.w_max);
    auto ops = lowered_ops(model);
    EXPECT_EQ(ops["quac.QMatMul"], 1);
    EXPECT_EQ(ops["MatMul"] + ops["Gemm"] + ops["Add"] + ops["Relu"], 0) << "bias Add and Relu fused";
    float lo, hi;
    range_of(c.x_u8, c.x_zp, 0.02f, &lo, &hi);
    for (int threads : {1, 2}) {
      std::vector<Tensor> feeds = {uniform({3, 24}, rng, lo, hi)};
      Tensor want = run_reference(model, feeds), got = run_lowered(model, feeds, threads);
      EXPECT_LE(max_abs_diff(got, want), c.output_q ? 0.01 * 1.001 : 1e-4 * std::max(1.0, max_abs(want)))
          << "gemm " << c.gemm << " transB " << c.trans_b;
    }
  }
}

// conv -> Q -> DQ -> MaxPool -> Q -> DQ -> conv -> Q -> DQ -> GlobalAveragePool -> Q -> DQ, and a Concat of two
// branches with one quantizer: everything stays INT8 (no float op, no DQ but the last).
TEST(Int8Lowering, PoolingAndConcatStayInt8) {
  std::mt19937 rng(21);
  ModelBuilder b(13);
  b.input("x", DataType::kFloat, {2, 4, 12, 12});
  b.initializer("s0", Tensor::scalar<float>(0.02f)).initializer("z0", Tensor::scalar<uint8_t>(0));
  b.initializer("s1", Tensor::scalar<float>(0.05f)).initializer("z1", Tensor::scalar<uint8_t>(0));
  b.initializer("s2", Tensor::scalar<float>(0.04f)).initializer("z2", Tensor::scalar<uint8_t>(2));
  b.initializer("s3", Tensor::scalar<float>(0.01f)).initializer("z3", Tensor::scalar<uint8_t>(1));
  auto conv = [&](const std::string& in, const std::string& out, int64_t c, int64_t m, const std::string& s,
                  const std::string& z) {
    b.initializer(out + "_w", int8_weights({m, c, 3, 3}, rng, -64, 64));
    b.initializer(out + "_ws", uniform({m}, rng, 0.002f, 0.01f)).initializer(out + "_wz", zeros_s8(m));
    b.node("DequantizeLinear", {out + "_w", out + "_ws", out + "_wz"}, {out + "_wd"}, {ir::make_int_attr("axis", 0)});
    b.node("Conv", {in, out + "_wd"}, {out + "_c"}, {ir::make_ints_attr("pads", {1, 1, 1, 1})});
    b.node("Relu", {out + "_c"}, {out + "_r"});
    b.node("QuantizeLinear", {out + "_r", s, z}, {out});
  };
  b.node("QuantizeLinear", {"x", "s0", "z0"}, {"xq"}).node("DequantizeLinear", {"xq", "s0", "z0"}, {"xd"});
  conv("xd", "c1", 4, 8, "s1", "z1");
  b.node("DequantizeLinear", {"c1", "s1", "z1"}, {"c1d"});
  b.node("MaxPool", {"c1d"}, {"p"},
         {ir::make_ints_attr("kernel_shape", {3, 3}), ir::make_ints_attr("strides", {2, 2}),
          ir::make_ints_attr("pads", {1, 1, 1, 1})});
  b.node("QuantizeLinear", {"p", "s1", "z1"}, {"pq"}).node("DequantizeLinear", {"pq", "s1", "z1"}, {"pd"});
  conv("pd", "c2", 8, 8, "s2", "z2");
  conv("pd", "c3", 8, 8, "s2", "z2");
  b.node("DequantizeLinear", {"c2", "s2", "z2"}, {"c2d"}).node("DequantizeLinear", {"c3", "s2", "z2"}, {"c3d"});
  b.node("Concat", {"c2d", "c3d"}, {"cat"}, {ir::make_int_attr("axis", 1)});
  b.node("QuantizeLinear", {"cat", "s2", "z2"}, {"catq"}).node("DequantizeLinear", {"catq", "s2", "z2"}, {"catd"});
  b.node("GlobalAveragePool", {"catd"}, {"gap"});
  b.node("QuantizeLinear", {"gap", "s3", "z3"}, {"gq"}).node("DequantizeLinear", {"gq", "s3", "z3"}, {"y"});
  b.output("y", DataType::kFloat);
  Model model = b.build();
  auto ops = lowered_ops(model);
  EXPECT_EQ(ops["quac.QConv"], 3);
  EXPECT_EQ(ops["quac.QPool"], 2);
  EXPECT_EQ(ops["Concat"], 1);
  EXPECT_EQ(ops["DequantizeLinear"], 1) << "only the output's DQ remains";
  EXPECT_EQ(ops["QuantizeLinear"], 1) << "only the input's Q remains";
  EXPECT_EQ(ops["MaxPool"] + ops["GlobalAveragePool"], 0);
  for (int threads : {1, 2}) {
    std::vector<Tensor> feeds = {uniform({2, 4, 12, 12}, rng, 0.f, 5.f)};
    Tensor want = run_reference(model, feeds), got = run_lowered(model, feeds, threads);
    EXPECT_LE(max_abs_diff(got, want), 0.01 * 1.001 + 1e-6) << "threads " << threads;
    // Each step may differ by one quantization step of its own output; by the GAP those are averaged, so the final
    // output stays within one step of its scale on these inputs.
  }
}

// The QDQ form ONNX Runtime's quantizer writes: Q -> DQ pairs on activations, DQ on int8 weights, the bias as DQ of
// int32 (scale x_scale * w_scale), every Add input quantized:
//   x -> Q/DQ -> Conv(b) -> Relu -> Q/DQ -> Conv -> Q/DQ -> Add(skip Q/DQ) -> Relu -> Q/DQ -> MaxPool -> Q/DQ -> y
TEST(Int8Lowering, OnnxRuntimeStyleResidualBlock) {
  std::mt19937 rng(33);
  ModelBuilder b(13);
  b.input("x", DataType::kFloat, {1, 8, 10, 10});
  b.initializer("sx", Tensor::scalar<float>(0.03f)).initializer("zx", Tensor::scalar<uint8_t>(128));
  b.initializer("s1", Tensor::scalar<float>(0.02f)).initializer("z1", Tensor::scalar<uint8_t>(0));
  b.initializer("s2", Tensor::scalar<float>(0.05f)).initializer("z2", Tensor::scalar<uint8_t>(120));
  b.initializer("s3", Tensor::scalar<float>(0.04f)).initializer("z3", Tensor::scalar<uint8_t>(0));
  b.initializer("s4", Tensor::scalar<float>(0.045f)).initializer("z4", Tensor::scalar<uint8_t>(0));
  auto qdq = [&](const std::string& v, const std::string& s, const std::string& z) {
    b.node("QuantizeLinear", {v, s, z}, {v + "_q"}).node("DequantizeLinear", {v + "_q", s, z}, {v + "_dq"});
    return v + "_dq";
  };
  auto weights = [&](const std::string& name, float in_scale) {
    b.initializer(name, int8_weights({8, 8, 3, 3}, rng, -64, 64));
    Tensor ws = uniform({8}, rng, 0.002f, 0.006f);
    b.initializer(name + "_s", ws).initializer(name + "_z", zeros_s8(8));
    b.node("DequantizeLinear", {name, name + "_s", name + "_z"}, {name + "_dq"}, {ir::make_int_attr("axis", 0)});
    Tensor bias(DataType::kInt32, {8}), bscale(DataType::kFloat, {8});
    std::uniform_int_distribution<int> bd(-2000, 2000);
    for (int i = 0; i < 8; ++i) {
      bias.data<int32_t>()[i] = bd(rng);
      bscale.data<float>()[i] = in_scale * ws.data<float>()[i];
    }
    b.initializer(name + "_b", bias).initializer(name + "_bs", bscale);
    b.node("DequantizeLinear", {name + "_b", name + "_bs"}, {name + "_bdq"}, {ir::make_int_attr("axis", 0)});
    return std::vector<std::string>{name + "_dq", name + "_bdq"};
  };
  std::vector<ir::Attribute> pads = {ir::make_ints_attr("pads", {1, 1, 1, 1})};
  std::string x = qdq("x", "sx", "zx");
  auto w1 = weights("w1", 0.03f);
  b.node("Conv", {x, w1[0], w1[1]}, {"c1"}, pads).node("Relu", {"c1"}, {"r1"});
  std::string r1 = qdq("r1", "s1", "z1");
  auto w2 = weights("w2", 0.02f);
  b.node("Conv", {r1, w2[0], w2[1]}, {"c2"}, pads);
  std::string c2 = qdq("c2", "s2", "z2");
  b.node("Add", {c2, x}, {"a"}).node("Relu", {"a"}, {"r2"});
  std::string r2 = qdq("r2", "s3", "z3");
  b.node("MaxPool", {r2}, {"p"}, {ir::make_ints_attr("kernel_shape", {2, 2}), ir::make_ints_attr("strides", {2, 2})});
  std::string p = qdq("p", "s4", "z4");
  b.node("Identity", {p}, {"y"});
  b.output("y", DataType::kFloat);
  Model model = b.build();
  auto ops = lowered_ops(model);
  EXPECT_EQ(ops["quac.QConv"], 2);
  EXPECT_EQ(ops["quac.QPool"], 1);
  EXPECT_EQ(ops["Add"] + ops["Relu"] + ops["Conv"] + ops["MaxPool"], 0) << "everything fused into INT8 ops";
  for (int threads : {1, 2}) {
    std::vector<Tensor> feeds = {uniform({1, 8, 10, 10}, rng, -3.8f, 3.8f)};
    Tensor want = run_reference(model, feeds), got = run_lowered(model, feeds, threads);
    EXPECT_LE(max_abs_diff(got, want), 0.045 * 1.001) << "threads " << threads;
  }
}

// quac's placement before Add inputs are quantized: block outputs stay float (read by the next block's residual Add
// and by the Q of the next conv). The float block outputs are then stored channels-last between the INT8 convs.
//   x -> Q/DQ -> Conv -> Relu -> a ; a -> Q/DQ -> Conv -> Relu -> Q/DQ -> Conv -> Add(a) -> Relu -> r ;
//   r -> Q/DQ -> Conv -> y, and r -> Q/DQ -> Conv -> Add(r) -> y2
TEST(Int8Lowering, FloatSkipPathsBetweenInt8Convs) {
  std::mt19937 rng(44);
  ModelBuilder b(13);
  b.input("x", DataType::kFloat, {2, 8, 9, 9});
  int step = 0;
  auto conv = [&](const std::string& in_float, const std::string& out, float in_scale) {
    std::string t = std::to_string(step++);
    b.initializer("s" + t, Tensor::scalar<float>(in_scale)).initializer("z" + t, Tensor::scalar<uint8_t>(0));
    b.node("QuantizeLinear", {in_float, "s" + t, "z" + t}, {"q" + t});
    b.node("DequantizeLinear", {"q" + t, "s" + t, "z" + t}, {"d" + t});
    b.initializer("w" + t, int8_weights({8, 8, 3, 3}, rng, -64, 64));
    b.initializer("ws" + t, uniform({8}, rng, 0.002f, 0.006f)).initializer("wz" + t, zeros_s8(8));
    b.node("DequantizeLinear", {"w" + t, "ws" + t, "wz" + t}, {"wd" + t}, {ir::make_int_attr("axis", 0)});
    b.initializer("b" + t, uniform({8}, rng, -0.2f, 0.2f));
    b.node("Conv", {"d" + t, "wd" + t, "b" + t}, {out}, {ir::make_ints_attr("pads", {1, 1, 1, 1})});
  };
  conv("x", "c0", 0.02f);
  b.node("Relu", {"c0"}, {"a"});
  conv("a", "c1", 0.01f);
  b.node("Relu", {"c1"}, {"r1"});
  conv("r1", "c2", 0.01f);
  b.node("Add", {"c2", "a"}, {"s"}).node("Relu", {"s"}, {"r"});
  conv("r", "y", 0.015f);
  conv("r", "c4", 0.015f);
  b.node("Add", {"c4", "r"}, {"y2"});
  b.output("y", DataType::kFloat).output("y2", DataType::kFloat);
  Model model = b.build();
  auto exe = model.executable();
  ir::Graph g = exe->graph;
  PassContext pctx{*exe, {"y", "y2"}, 2, false};
  run_passes(g, pctx);
  int convs = 0, nhwc_float = 0;
  for (const auto& n : g.nodes) {
    convs += n.op_type == "QConv";
    nhwc_float += n.op_type == "QConv" && !n.has_input(6) && n.attr_int("nhwc_output", 0) == 1;
    EXPECT_NE(n.op_type, "Add") << "residual Adds fuse into the convolutions";
  }
  EXPECT_EQ(convs, 5);
  EXPECT_EQ(nhwc_float, 2) << "the float block outputs a and r are stored channels-last";
  if (nhwc_float != 2)
    for (const auto& n : g.nodes) {
      std::string line = n.op_type + " (";
      for (const auto& i : n.inputs) line += i + " ";
      line += ") -> " + n.outputs[0] + " nhwc_out=" + std::to_string(n.attr_int("nhwc_output", 0));
      ADD_FAILURE() << line;
    }
  for (int threads : {1, 2}) {
    std::vector<Tensor> feeds = {uniform({2, 8, 9, 9}, rng, -1.f, 4.f)};
    SessionOptions ref;
    ref.reference_kernels_only = true;
    ref.optimization_level = 0;
    auto want = Session(model, ref).run(feeds);
    auto got = Session(model, SessionOptions{.num_threads = threads}).run(feeds);
    auto lowered_ref = Session(model, SessionOptions{.reference_kernels_only = true}).run(feeds);
    for (size_t o = 0; o < 2; ++o) {
      // Float outputs after three quantized layers: an intermediate value may round the other way at a tie-break
      // (float vs exact integer accumulation), which moves the output by about one weight step.
      double tol = 1e-2 * std::max(1.0, max_abs(want[o]));
      EXPECT_LE(max_abs_diff(got[o], want[o]), tol) << "output " << o << " threads " << threads;
      EXPECT_LE(max_abs_diff(lowered_ref[o], want[o]), tol) << "output " << o;
    }
  }
}

// Patterns the pass must leave alone: per-channel activation scales, a float activation (no DQ), weights that are
// not constant, asymmetric weights, a Q with a per-channel output.
TEST(Int8Lowering, LeavesOtherPatternsAlone) {
  std::mt19937 rng(4);
  auto base = [&](ModelBuilder& b) {
    b.input("x", DataType::kFloat, {1, 4, 6, 6});
    b.initializer("xs", Tensor::scalar<float>(0.02f)).initializer("xz", Tensor::scalar<uint8_t>(0));
    b.initializer("w", int8_weights({4, 4, 3, 3}, rng, -64, 64)).initializer("ws", Tensor::scalar<float>(0.01f));
    b.node("QuantizeLinear", {"x", "xs", "xz"}, {"xq"});
  };
  {  // the conv reads the float input directly
    ModelBuilder b(13);
    base(b);
    b.initializer("wz", Tensor::scalar<int8_t>(0));
    b.node("DequantizeLinear", {"w", "ws", "wz"}, {"wd"}).node("Conv", {"x", "wd"}, {"y"});
    b.node("Identity", {"xq"}, {"unused"});
    b.output("y", DataType::kFloat);
    EXPECT_EQ(lowered_ops(b.build())["quac.QConv"], 0);
  }
  {  // asymmetric weights (nonzero weight zero point)
    ModelBuilder b(13);
    base(b);
    b.initializer("wz", Tensor::scalar<int8_t>(3));
    b.node("DequantizeLinear", {"xq", "xs", "xz"}, {"xd"});
    b.node("DequantizeLinear", {"w", "ws", "wz"}, {"wd"}).node("Conv", {"xd", "wd"}, {"y"});
    b.output("y", DataType::kFloat);
    Model m = b.build();
    EXPECT_EQ(lowered_ops(m)["quac.QConv"], 0);
    std::vector<Tensor> feeds = {uniform({1, 4, 6, 6}, rng, 0.f, 4.f)};
    EXPECT_LE(max_abs_diff(run_lowered(m, feeds, 1), run_reference(m, feeds)), 1e-4);
  }
  {  // weights computed at run time
    ModelBuilder b(13);
    b.input("x", DataType::kFloat, {1, 4, 6, 6}).input("wf", DataType::kFloat, {4, 4, 3, 3});
    b.initializer("xs", Tensor::scalar<float>(0.02f)).initializer("xz", Tensor::scalar<uint8_t>(0));
    b.node("QuantizeLinear", {"x", "xs", "xz"}, {"xq"}).node("DequantizeLinear", {"xq", "xs", "xz"}, {"xd"});
    b.node("Conv", {"xd", "wf"}, {"y"});
    b.output("y", DataType::kFloat);
    EXPECT_EQ(lowered_ops(b.build())["quac.QConv"], 0);
  }
  {  // per-channel activation quantizer
    ModelBuilder b(13);
    b.input("x", DataType::kFloat, {1, 4, 6, 6});
    b.initializer("xs", Tensor::from_vector<float>({4}, {0.01f, 0.02f, 0.03f, 0.04f}));
    Tensor xz(DataType::kUInt8, {4});
    for (int i = 0; i < 4; ++i) xz.data<uint8_t>()[i] = 0;
    b.initializer("xz", xz);
    b.initializer("w", int8_weights({4, 4, 3, 3}, rng, -64, 64)).initializer("ws", Tensor::scalar<float>(0.01f));
    b.initializer("wz", Tensor::scalar<int8_t>(0));
    b.node("QuantizeLinear", {"x", "xs", "xz"}, {"xq"}).node("DequantizeLinear", {"xq", "xs", "xz"}, {"xd"});
    b.node("DequantizeLinear", {"w", "ws", "wz"}, {"wd"}).node("Conv", {"xd", "wd"}, {"y"});
    b.output("y", DataType::kFloat);
    EXPECT_EQ(lowered_ops(b.build())["quac.QConv"], 0);
  }
  {  // MaxPool without an output quantizer (its result is float), and one whose output is also read in float
    ModelBuilder b(13);
    b.input("x", DataType::kFloat, {1, 4, 6, 6});
    b.initializer("xs", Tensor::scalar<float>(0.02f)).initializer("xz", Tensor::scalar<uint8_t>(0));
    b.initializer("ys", Tensor::scalar<float>(0.03f));
    b.node("QuantizeLinear", {"x", "xs", "xz"}, {"xq"}).node("DequantizeLinear", {"xq", "xs", "xz"}, {"xd"});
    b.node("MaxPool", {"xd"}, {"y"}, {ir::make_ints_attr("kernel_shape", {2, 2})});
    b.node("MaxPool", {"xd"}, {"p2"}, {ir::make_ints_attr("kernel_shape", {3, 3})});
    b.node("QuantizeLinear", {"p2", "ys", "xz"}, {"y2"}).node("Relu", {"p2"}, {"y3"});
    b.output("y", DataType::kFloat).output("y2", DataType::kUInt8).output("y3", DataType::kFloat);
    EXPECT_EQ(lowered_ops(b.build())["quac.QPool"], 0);
  }
}

// A full quantized fixture: quac's own DefaultQuantization of the CNN, run lowered vs the QDQ reference on a few
// hundred Fashion-MNIST test images: top-1 must agree on nearly all.
// The Add of two convolutions where only one output is quantized (quac's placement: the skip convolution writes
// 8-bit, the main path's last convolution fuses the Add). Even when the skip convolution comes first in the graph, it
// must not take the Add with the other (float) convolution output as a float residual: it keeps its 8-bit output and
// the main path's convolution fuses the Add with an 8-bit residual.
//   x -> Q/DQ -> ConvA -> Q/DQ -> Add ; x -> Q/DQ -> ConvB -> Relu -> Q/DQ -> ConvC -> Add ; Add -> Relu -> Q/DQ -> y
TEST(Int8Lowering, SkipConvolutionFirstKeepsItsOutputQuantized) {
  std::mt19937 rng(61);
  ModelBuilder b(13);
  b.input("x", DataType::kFloat, {1, 8, 8, 8});
  auto scalar_q = [&](const std::string& n, float s) {
    b.initializer(n + "_s", Tensor::scalar<float>(s)).initializer(n + "_z", Tensor::scalar<uint8_t>(0));
  };
  auto qdq = [&](const std::string& v, const std::string& q) {
    b.node("QuantizeLinear", {v, q + "_s", q + "_z"}, {v + "_q"});
    b.node("DequantizeLinear", {v + "_q", q + "_s", q + "_z"}, {v + "_dq"});
    return v + "_dq";
  };
  auto conv = [&](const std::string& in, const std::string& out) {
    b.initializer(out + "_w", int8_weights({8, 8, 3, 3}, rng, -64, 64));
    b.initializer(out + "_ws", uniform({8}, rng, 0.002f, 0.006f)).initializer(out + "_wz", zeros_s8(8));
    b.node("DequantizeLinear", {out + "_w", out + "_ws", out + "_wz"}, {out + "_wd"}, {ir::make_int_attr("axis", 0)});
    b.node("Conv", {in, out + "_wd"}, {out}, {ir::make_ints_attr("pads", {1, 1, 1, 1})});
  };
  scalar_q("qx", 0.02f);
  scalar_q("qa", 0.03f);
  scalar_q("qb", 0.02f);
  scalar_q("qy", 0.04f);
  b.node("Relu", {"x"}, {"xr"});
  std::string xd = qdq("xr", "qx");
  conv(xd, "a");
  b.node("Relu", {"a"}, {"ar"});  // keeps the skip's range non-negative (u8)
  std::string ad = qdq("ar", "qa");
  conv(xd, "bconv");
  b.node("Relu", {"bconv"}, {"br"});
  std::string bd = qdq("br", "qb");
  conv(bd, "c");
  b.node("Add", {ad, "c"}, {"s"}).node("Relu", {"s"}, {"r"});
  std::string y = qdq("r", "qy");
  b.node("Identity", {y}, {"y"});
  b.output("y", DataType::kFloat);
  Model model = b.build();
  auto ops = lowered_ops(model);
  EXPECT_EQ(ops["quac.QConv"], 3);
  EXPECT_EQ(ops["Add"] + ops["Conv"], 0);
  EXPECT_EQ(ops["QuantizeLinear"], 1) << "only the input's: every convolution writes 8-bit";
  for (int threads : {1, 2}) {
    std::vector<Tensor> feeds = {uniform({1, 8, 8, 8}, rng, -1.f, 4.f)};
    Tensor want = run_reference(model, feeds), got = run_lowered(model, feeds, threads);
    EXPECT_LE(max_abs_diff(got, want), 0.04 * 1.001) << "threads " << threads;
  }
}

// An FP32 ResNet-style net quantized by quac's own placement (hardware config CPU): the skips of the residual Adds
// share the quantizer of the tensor the next convolution reads, the convolution feeding each Add has no output
// quantizer, the MaxPool runs on 8-bit values with its input's scale. Everything lowers to INT8 ops: the only float
// ops left are the model input's QuantizeLinear and the Flatten before the classifier (which runs on 8-bit data).
// Both orders of a downsampling block (its 1x1 skip convolution before or after the main path, first or second input
// of the Add) lower the same: the skip convolution writes 8-bit, the main path's last one fuses the Add.
//   x -> Conv -> Relu -> MaxPool -> p; p -> Conv1x1 -> d; p -> Conv1x1 -> Relu -> Conv3x3 -> Relu -> Conv1x1 ->
//   Add(d) -> Relu -> r1; r1 -> Conv -> Relu -> Conv -> Add(r1) -> Relu -> GlobalAveragePool -> Flatten -> Gemm
TEST(Int8Lowering, QuacPlacedResidualNetLowersFully) {
  for (bool skip_first : {true, false}) {
    std::mt19937 rng(skip_first ? 51 : 52);
    ModelBuilder b(13);
    b.input("x", DataType::kFloat, {1, 4, 16, 16});
    int n = 0;
    auto conv = [&](const std::string& in, const std::string& out, int64_t c, int64_t m, int64_t k) {
      std::string t = std::to_string(n++);
      float bound = 1.5f / std::sqrt(static_cast<float>(c * k * k));
      b.initializer("w" + t, uniform({m, c, k, k}, rng, -bound, bound));
      b.initializer("b" + t, uniform({m}, rng, -0.1f, 0.1f));
      b.node("Conv", {in, "w" + t, "b" + t}, {out}, {ir::make_ints_attr("pads", {k / 2, k / 2, k / 2, k / 2})});
    };
    conv("x", "c0", 4, 8, 3);
    b.node("Relu", {"c0"}, {"r0"});
    b.node("MaxPool", {"r0"}, {"p"},
           {ir::make_ints_attr("kernel_shape", {3, 3}), ir::make_ints_attr("strides", {2, 2}),
            ir::make_ints_attr("pads", {1, 1, 1, 1})});
    if (skip_first) conv("p", "d", 8, 16, 1);
    conv("p", "c1", 8, 8, 1);
    b.node("Relu", {"c1"}, {"a1"});
    conv("a1", "c2", 8, 8, 3);
    b.node("Relu", {"c2"}, {"a2"});
    conv("a2", "c3", 8, 16, 1);
    if (!skip_first) conv("p", "d", 8, 16, 1);
    b.node("Add", skip_first ? std::vector<std::string>{"d", "c3"} : std::vector<std::string>{"c3", "d"}, {"s1"});
    b.node("Relu", {"s1"}, {"r1"});
    conv("r1", "c4", 16, 16, 3);
    b.node("Relu", {"c4"}, {"a4"});
    conv("a4", "c5", 16, 16, 3);
    b.node("Add", {"c5", "r1"}, {"s2"}).node("Relu", {"s2"}, {"r2"});
    b.node("GlobalAveragePool", {"r2"}, {"g"}).node("Flatten", {"g"}, {"f"});
    b.initializer("wf", uniform({10, 16}, rng, -0.3f, 0.3f)).initializer("bf", uniform({10}, rng, -0.1f, 0.1f));
    b.node("Gemm", {"f", "wf", "bf"}, {"y"}, {ir::make_int_attr("transB", 1)});
    b.output("y", DataType::kFloat);
    Model fp32 = b.build();
    auto data = open_dataset("random,n=16", fp32);
    auto engine = std::make_shared<Engine>(data, nullptr, EngineOptions{.progress = false});
    nlohmann::json params = {{"preset", "performance"}, {"stat_subset_size", 16}, {"target_device", "CPU"}};
    params["weights"] = {{"bits", 7}};
    Model int8 = create_pipeline({{"MinMaxQuantization", params}}, engine)->run(fp32);
    auto ops = lowered_ops(int8);
    std::string where = skip_first ? "skip conv first" : "skip conv last";
    EXPECT_EQ(ops["quac.QConv"], 7) << where;
    EXPECT_EQ(ops["quac.QPool"], 2) << where;
    EXPECT_EQ(ops["quac.QMatMul"], 1) << where;
    EXPECT_EQ(ops["Conv"] + ops["Add"] + ops["Relu"] + ops["MaxPool"] + ops["GlobalAveragePool"] + ops["Gemm"], 0)
        << where;
    EXPECT_EQ(ops["DequantizeLinear"], 0) << where;
    EXPECT_EQ(ops["QuantizeLinear"], 1) << where << ": only the model input's";
    for (int threads : {1, 2}) {
      std::vector<Tensor> feeds = {uniform({1, 4, 16, 16}, rng, -2.f, 2.f)};
      Tensor want = run_reference(int8, feeds), got = run_lowered(int8, feeds, threads);
      Tensor want_fp32 = run_reference(fp32, feeds);
      // Float logits after seven quantized layers: a value may round the other way at a tie-break (float vs exact
      // integer accumulation); that moves a logit by far less than quantization itself does.
      double quant_error = max_abs_diff(want, want_fp32);
      EXPECT_GT(quant_error, 0.0) << where;
      EXPECT_LE(max_abs_diff(got, want), 0.1 * quant_error + 1e-5) << where << ", threads " << threads;
    }
  }
}

TEST(Int8Lowering, QuantizedFixtureAgreesWithTheReferenceInTop1) {
  const std::string data_dir = "/usr/share/datasets/fashion-mnist";
  if (!std::filesystem::exists(data_dir)) GTEST_SKIP() << "Fashion-MNIST is not installed";
  struct Case {
    std::string model;
    int bits;
    size_t samples;
  };
  // 7-bit weights take oneDNN's INT8 kernels on every x86 CPU; 8-bit ones the exact path on CPUs without VNNI. The
  // MobileNetV2-style fixture adds depthwise convolutions, HardSwish, s8 activations and residuals.
  for (const Case& c : {Case{"cnn", 7, 160}, Case{"cnn", 8, 60}, Case{"mobilenet", 7, 60}}) {
    Model fp32 = load_model(std::string(QUAC_SOURCE_DIR) + "/tests/data/fixtures/" + c.model + ".onnx");
    auto data = open_dataset("idx:" + data_dir + ",split=test,mean=0.2860,std=0.3530", fp32);
    auto engine = std::make_shared<Engine>(data, nullptr, EngineOptions{.progress = false});
    nlohmann::json params = {{"preset", "performance"}, {"stat_subset_size", 32}};
    params["weights"] = {{"bits", c.bits}};
    auto pipeline = create_pipeline({{"DefaultQuantization", params}}, engine);
    Model int8 = pipeline->run(fp32);
    auto ops = lowered_ops(int8);
    EXPECT_GE(ops["quac.QConv"], 2) << c.model << " " << c.bits << "-bit weights";
    SessionOptions ref_opts;
    ref_opts.reference_kernels_only = true;
    ref_opts.optimization_level = 0;
    Session ref(int8, ref_opts), fast(int8, SessionOptions{.num_threads = 2});
    size_t agree = 0;
    for (size_t i = 0; i < c.samples; ++i) {
      Tensor x = data->get(i * 31 % data->size()).inputs[0];
      Shape s = x.shape();
      s.insert(s.begin(), 1);
      Tensor xb = x.reshaped(s);
      Tensor a = ref.run({xb})[0], b = fast.run({xb})[0];
      auto argmax = [](const Tensor& t) {
        return std::max_element(t.data<float>(), t.data<float>() + t.numel()) - t.data<float>();
      };
      agree += argmax(a) == argmax(b);
    }
    EXPECT_GE(agree, c.samples - 2) << c.model << " " << c.bits << "-bit weights: top-1 agreement " << agree << "/"
                                    << c.samples;
  }
}

}  // namespace
}  // namespace quac
