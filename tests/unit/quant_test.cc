// Quantizer placement, groups, calibration and QDQ materialisation on a small in-memory CNN.
#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "core/random.h"
#include "ir/onnx/onnx_io.h"
#include "quac/session.h"
#include "quant/calibrate.h"
#include "quant/placement.h"
#include "quant/qdq.h"
#include "test_model_builder.h"

namespace quac {
namespace {

// input -> Conv(w1) -> Relu -> Conv(w2) -> Add(residual from the Relu) -> MatMul(w3)
Model small_cnn() {
  testing::ModelBuilder b(13);
  b.input("x", DataType::kFloat, {-1, 2, 6, 6});
  b.initializer("w1", random_tensor(DataType::kFloat, {4, 2, 3, 3}, 1, 0.5f));
  b.initializer("w2", random_tensor(DataType::kFloat, {4, 4, 3, 3}, 2, 0.3f));
  b.initializer("w3", random_tensor(DataType::kFloat, {144, 5}, 3, 0.2f));
  b.initializer("shape", Tensor::from_vector<int64_t>({2}, {-1, 144}));
  b.node("Conv", {"x", "w1"}, {"c1"}, {ir::make_ints_attr("pads", {1, 1, 1, 1})});
  b.node("Relu", {"c1"}, {"r1"});
  b.node("Conv", {"r1", "w2"}, {"c2"}, {ir::make_ints_attr("pads", {1, 1, 1, 1})});
  b.node("Add", {"c2", "r1"}, {"a"});
  b.node("Reshape", {"a", "shape"}, {"f"});
  b.node("MatMul", {"f", "w3"}, {"y"});
  return b.output("y", DataType::kFloat, Shape{-1, 5}).build();
}

TEST(Quant, PlacementSharesQuantizersAndGroupsTheirOps) {
  Model model = small_cnn();
  auto scope = quant::place_quantizers(model.ir().graph, {});
  // Activations x, r1 (read by conv2 and as the skip of the Add fused to conv2), f and a (the Reshape runs on 8-bit
  // values: a and f share a scale); weights w1, w2, w3. The conv2 output feeding the fused Add is not quantized.
  ASSERT_EQ(scope.quantizers.size(), 7u);
  std::map<std::string, const quant::Quantizer*> by_value;
  for (const auto& q : scope.quantizers) by_value[q.value] = &q;
  EXPECT_FALSE(by_value.count("c2"));
  ASSERT_TRUE(by_value.count("r1") && by_value.count("a") && by_value.count("f"));
  EXPECT_EQ(by_value["r1"]->uses.size(), 2u);  // Conv_2 input 0 and Add_3 input 1, one quantizer
  EXPECT_GE(by_value["a"]->unified_scale, 0);
  EXPECT_EQ(by_value["a"]->unified_scale, by_value["f"]->unified_scale);
  EXPECT_LT(by_value["r1"]->unified_scale, 0);
  size_t weights = 0;
  for (const auto& q : scope.quantizers) {
    weights += q.is_weight;
    if (q.is_weight) EXPECT_TRUE(q.spec.per_channel);
  }
  EXPECT_EQ(weights, 3u);
  // Three groups: conv1; conv2 with the Add whose skip shares conv2's input quantizer; Reshape and MatMul (tied).
  ASSERT_EQ(scope.groups.size(), 3u);
  EXPECT_EQ(scope.groups[1].nodes, (std::vector<std::string>{"Conv_2", "Add_3"}));
  EXPECT_EQ(scope.groups[2].nodes, (std::vector<std::string>{"Reshape_4", "MatMul_5"}));
  auto ignored = quant::place_quantizers(model.ir().graph, {.ignored = {.types = {"MatMul"}}});
  EXPECT_EQ(ignored.groups.size(), 2u);
  EXPECT_THROW(quant::place_quantizers(model.ir().graph, {.target_device = "TPU"}), Error);
}

TEST(Quant, QdqModelIsValidOnnxAndCloseToFloat) {
  Model model = small_cnn();
  // 8-bit everywhere (the default saturation_fix would give the first Conv 7-bit weights).
  auto scope = quant::place_quantizers(model.ir().graph, {.saturation_fix = "no"});
  // Calibrate on random data (the npy/idx readers are tested elsewhere).
  class Random : public Dataset {
   public:
    size_t size() const override { return 64; }
    DataItem get(size_t i) const override { return {{random_tensor(DataType::kFloat, {2, 6, 6}, 100 + i)}, {}, {}}; }
    std::string describe() const override { return "random"; }
  } data;
  quant::collect_activation_ranges(model, data, scope, {.stat_subset_size = 64, .progress = false});
  quant::compute_weight_ranges(model.ir().graph, scope);
  quant::compute_parameters(scope, "performance");
  for (const auto& q : scope.quantizers) {
    ASSERT_FALSE(q.scale.empty());
    for (float s : q.scale) EXPECT_GT(s, 0.0f);
  }
  // r1 is a ReLU output: non-negative, so unsigned.
  for (const auto& q : scope.quantizers)
    if (q.value == "r1") EXPECT_FALSE(q.spec.is_signed);

  for (bool compress : {true, false}) {
    auto qdq = quant::materialize_qdq(model.ir(), scope, {.compress_weights = compress});
    onnx::ModelProto proto;
    ASSERT_TRUE(proto.ParseFromString(onnx_io::serialize_model(*qdq)));
    try {
      onnx::checker::check_model(proto);
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
    }
    Session fp(model);
    Session q8{Model(qdq)};
    Tensor x = random_tensor(DataType::kFloat, {4, 2, 6, 6}, 7);
    Tensor a = fp.run(std::vector<Tensor>{x})[0], b = q8.run(std::vector<Tensor>{x})[0];
    double num = 0, den = 0;
    for (int64_t i = 0; i < a.numel(); ++i) {
      double d = a.data<float>()[i] - b.data<float>()[i];
      num += d * d;
      den += double(a.data<float>()[i]) * a.data<float>()[i];
    }
    // 8-bit quantization of three layers: a few percent relative error, not more.
    EXPECT_LT(std::sqrt(num / den), 0.05) << "compress=" << compress;
    EXPECT_GT(std::sqrt(num / den), 0.0) << "the QDQ model must actually quantize";
  }
  // Removing a group leaves that op in float.
  auto reverted = scope.without_groups({0});
  EXPECT_EQ(reverted.active_groups(), 2u);
  auto qdq = quant::materialize_qdq(model.ir(), reverted);
  int float_convs = 0;
  for (const auto& n : qdq->graph.nodes)
    float_convs += n.op_type == "Conv" && n.inputs[0] == "x" && n.inputs[1] == "w1";
  EXPECT_EQ(float_convs, 1);
}

TEST(Quant, IgnoredOperationsByAttributes) {
  Model model = small_cnn();
  quant::OperationPattern padded{"Conv", {{"pads", {{1, 1, 1, 1}, "", false}}}};
  quant::OperationPattern unpadded{"Conv", {{"pads", {{0, 0, 0, 0}, "", false}}}};
  quant::OperationPattern absent{"Conv", {{"group", {{2}, "", false}}}};
  // With both convs ignored, the Add (whose output the MatMul reads quantized) is an INT8 op of its own.
  EXPECT_EQ(quant::place_quantizers(model.ir().graph, {.ignored = {.operations = {padded}}}).groups.size(), 2u);
  EXPECT_EQ(quant::place_quantizers(model.ir().graph, {.ignored = {.operations = {unpadded}}}).groups.size(), 3u);
  EXPECT_EQ(quant::place_quantizers(model.ir().graph, {.ignored = {.operations = {absent}}}).groups.size(), 3u);
  EXPECT_EQ(quant::place_quantizers(model.ir().graph, {.ignored = {.name_regexes = {"Conv_.*"}}}).groups.size(), 2u);
  // Ignoring the Add as well leaves the MatMul (and the Reshape before it) alone.
  EXPECT_EQ(quant::place_quantizers(model.ir().graph, {.ignored = {.types = {"Conv", "Add"}}}).groups.size(), 1u);
}

TEST(Quant, OpsSharingAQuantizedInputFormOneGroup) {
  // x feeds two Convs: x is quantized once, so both Convs (and their weights) must be reverted together, with the Add
  // fused to Conv_0 whose skip (Conv_1's output) is quantized for it; the MatMul after them reads its own tensor and
  // stays a group of its own.
  testing::ModelBuilder b(13);
  b.input("x", DataType::kFloat, {-1, 2, 4, 4});
  b.initializer("wa", random_tensor(DataType::kFloat, {3, 2, 1, 1}, 1));
  b.initializer("wb", random_tensor(DataType::kFloat, {3, 2, 1, 1}, 2));
  b.initializer("wm", random_tensor(DataType::kFloat, {4, 5}, 3));
  b.node("Conv", {"x", "wa"}, {"a"});
  b.node("Conv", {"x", "wb"}, {"b"});
  b.node("Add", {"a", "b"}, {"s"});
  b.node("MatMul", {"s", "wm"}, {"y"});
  Model model = b.output("y").build();
  auto scope = quant::place_quantizers(model.ir().graph, {});
  // Conv_0 and the Add are one INT8 op (a QConv with a residual sum): the skip's quantizer goes with Conv_0's.
  ASSERT_EQ(scope.groups.size(), 2u);
  EXPECT_EQ(scope.groups[0].nodes, (std::vector<std::string>{"Conv_0", "Conv_1", "Add_2"}));
  EXPECT_EQ(scope.groups[0].quantizers.size(), 4u);  // x, wa, wb, b
  EXPECT_EQ(scope.groups[1].nodes, (std::vector<std::string>{"MatMul_3"}));
  EXPECT_EQ(scope.groups[1].label, "MatMul 'MatMul_3'");
  auto reverted = scope.without_groups({0});
  EXPECT_EQ(reverted.active_groups(), 1u);
  EXPECT_EQ(reverted.quantizers.size(), 2u);
  for (const auto& q : reverted.quantizers) EXPECT_NE(q.value, "x");
}

TEST(Quant, ConcatInputsShareOneScaleAndMaxPoolRunsOnItsInputsScale) {
  // x -> Conv(a) -> Relu -> MaxPool -> p ; x -> Conv(b) -> Relu -> rb ; Concat(p, rb) -> Conv(c)
  testing::ModelBuilder b(13);
  b.input("x", DataType::kFloat, {-1, 2, 8, 8});
  b.initializer("wa", random_tensor(DataType::kFloat, {3, 2, 3, 3}, 1, 0.5f));
  b.initializer("wb", random_tensor(DataType::kFloat, {3, 2, 2, 2}, 2, 0.5f));
  b.initializer("wc", random_tensor(DataType::kFloat, {4, 6, 1, 1}, 3, 0.5f));
  b.node("Conv", {"x", "wa"}, {"ca"}, {ir::make_ints_attr("pads", {1, 1, 1, 1})});
  b.node("Relu", {"ca"}, {"ra"});
  b.node("MaxPool", {"ra"}, {"p"}, {ir::make_ints_attr("kernel_shape", {2, 2}), ir::make_ints_attr("strides", {2, 2})});
  b.node("Conv", {"x", "wb"}, {"cb"}, {ir::make_ints_attr("strides", {2, 2})});
  b.node("Relu", {"cb"}, {"rb"});
  b.node("Concat", {"p", "rb"}, {"cat"}, {ir::make_int_attr("axis", 1)});
  b.node("Conv", {"cat", "wc"}, {"y"});
  Model model = b.output("y").build();
  auto scope = quant::place_quantizers(model.ir().graph, {.saturation_fix = "no"});
  std::map<std::string, quant::Quantizer*> by_value;
  for (auto& q : scope.quantizers) by_value[q.value] = &q;
  for (const char* v : {"ra", "p", "rb", "cat"}) ASSERT_TRUE(by_value.count(v)) << v;
  int unified = by_value["cat"]->unified_scale;
  EXPECT_GE(unified, 0);
  for (const char* v : {"ra", "p", "rb"}) EXPECT_EQ(by_value[v]->unified_scale, unified) << v;
  EXPECT_LT(by_value["x"]->unified_scale, 0);
  // Tied scales are reverted together: two groups, x with both first convs, and the tied set with the last conv.
  ASSERT_EQ(scope.groups.size(), 2u);
  // Calibration gives the tied quantizers the union of their ranges, hence one scale.
  class Random : public Dataset {
   public:
    size_t size() const override { return 16; }
    DataItem get(size_t i) const override { return {{random_tensor(DataType::kFloat, {2, 8, 8}, 300 + i)}, {}, {}}; }
    std::string describe() const override { return "random"; }
  } data;
  quant::collect_activation_ranges(model, data, scope, {.stat_subset_size = 16, .progress = false});
  quant::compute_weight_ranges(model.ir().graph, scope);
  EXPECT_NE(by_value["ra"]->range_max[0], by_value["rb"]->range_max[0]) << "different tensors, different ranges";
  quant::compute_parameters(scope, "performance");
  for (const char* v : {"ra", "p", "rb"}) {
    EXPECT_EQ(by_value[v]->scale, by_value["cat"]->scale) << v;
    EXPECT_EQ(by_value[v]->zero_point, by_value["cat"]->zero_point) << v;
  }
}

TEST(Quant, HardwareConfigs) {
  Model model = small_cnn();
  const auto& g = model.ir().graph;
  // Every built-in device parses; GNA carries 16-bit activations into the specs (0: the config preset's bits).
  for (const char* d : {"ANY", "CPU", "GPU", "VPU", "GNA"}) EXPECT_NO_THROW(quant::builtin_hardware_config(d)) << d;
  auto gna = quant::place_quantizers(g, {.target_device = "GNA", .activation_bits = 0});
  for (const auto& q : gna.quantizers) {
    EXPECT_EQ(q.spec.bits, q.is_weight ? 8 : 16) << q.value;
    if (q.is_weight) EXPECT_FALSE(q.spec.per_channel) << "GNA weights are per tensor";
  }
  EXPECT_THROW(quant::place_quantizers(g, {.target_device = "GNA", .preset = "mixed"}), Error);
  // VPU does not quantize Adds: the skip r1 is read by conv2 only.
  auto vpu = quant::place_quantizers(g, {.target_device = "VPU"});
  for (const auto& q : vpu.quantizers)
    if (q.value == "r1") EXPECT_EQ(q.uses.size(), 1u);
  // A user's file: only MatMul quantized, no patterns.
  std::string path = ::testing::TempDir() + "/quac_hw_matmul_only.json";
  auto write = [&](const std::string& text) {
    FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(text.c_str(), f);
    std::fclose(f);
  };
  write(R"({"target_device": "MINE", "presets": {"performance": {"activations": {"bits": 8},
            "weights": {"bits": 8, "granularity": "perchannel"}}},
            "quantized": [{"type": "MatMul", "activations": [0, 1], "weights": [1]}], "agnostic": ["Reshape"]})");
  auto mine = quant::place_quantizers(g, {.hardware_config = path});
  std::set<std::string> values;
  for (const auto& q : mine.quantizers) values.insert(q.value);
  EXPECT_EQ(values, (std::set<std::string>{"a", "f", "w3"})) << "the MatMul's input, propagated through the Reshape";
  // Errors name the file and the key.
  auto error_of = [&](const std::string& text) -> std::string {
    write(text);
    try {
      quant::place_quantizers(g, {.hardware_config = path});
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  std::string e = error_of(R"({"target_device": "X", "presets": {"performance": {"activations": {"bits": 8},
      "weights": {"bits": 8}}}, "quantized": [{"type": "Conv", "activations": "some"}]})");
  EXPECT_NE(e.find("quantized[0].activations"), std::string::npos) << e;
  EXPECT_NE(e.find(path), std::string::npos) << e;
  e = error_of(R"({"target_device": "X", "presets": {"performance": {"activations": {"bits": 8, "mode": "odd"},
      "weights": {"bits": 8}}}, "quantized": []})");
  EXPECT_NE(e.find("presets.performance.activations.mode"), std::string::npos) << e;
  e = error_of(R"({"target_device": "X", "presets": {"performance": {"activations": {"bits": 8},
      "weights": {"bits": 8}}}, "quantized": [], "fused_pattern": []})");
  EXPECT_NE(e.find("fused_pattern: unknown key"), std::string::npos) << e;
  e = error_of(R"({"target_device": "X", "presets": {}, "quantized": []})");
  EXPECT_NE(e.find("presets"), std::string::npos) << e;
  e = error_of(R"({"target_device": "X", "inherits": "TPU"})");
  EXPECT_NE(e.find("inherits: 'TPU' is not a built-in device"), std::string::npos) << e;
  // "inherits": CPU's placement, with this file's keys replacing CPU's (here: nothing but Conv quantized).
  write(R"({"target_device": "X", "inherits": "CPU", "quantized": [{"type": "Conv", "activations": [0],
            "weights": [1]}]})");
  auto inherited = quant::place_quantizers(g, {.hardware_config = path});
  values.clear();
  for (const auto& q : inherited.quantizers) values.insert(q.value);
  EXPECT_EQ(values, (std::set<std::string>{"x", "r1", "w1", "w2"})) << "no MatMul, no Add skip";
  // The built-in ANY and GPU inherit CPU's: the same placement.
  auto cpu = quant::place_quantizers(g, {.target_device = "CPU"});
  for (const char* d : {"ANY", "GPU"}) {
    auto other = quant::place_quantizers(g, {.target_device = d});
    ASSERT_EQ(other.quantizers.size(), cpu.quantizers.size()) << d;
    for (size_t i = 0; i < cpu.quantizers.size(); ++i) EXPECT_EQ(other.quantizers[i].uses, cpu.quantizers[i].uses);
  }
  std::remove(path.c_str());
}

}  // namespace
}  // namespace quac
