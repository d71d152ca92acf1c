// Loading a QDQ model recovers its FP32 graph and quantization scope (quant/recover.h): the recovered model computes
// what the file computes, its groups can be reverted, and saving it again gives the same kinds of nodes.
#include "quant/recover.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/random.h"
#include "ir/onnx/onnx_io.h"
#include "quac/pipeline.h"
#include "quac/session.h"
#include "test_model_builder.h"

namespace quac {
namespace {

// x -> Conv -> Relu -> Conv (+ skip) -> Add -> Relu -> GlobalAveragePool -> Flatten -> Gemm
Model residual_net() {
  testing::ModelBuilder b(13);
  b.input("x", DataType::kFloat, {-1, 4, 8, 8});
  b.initializer("w1", random_tensor(DataType::kFloat, {4, 4, 3, 3}, 1, 0.3f));
  b.initializer("b1", random_tensor(DataType::kFloat, {4}, 2, 0.1f));
  b.initializer("w2", random_tensor(DataType::kFloat, {4, 4, 3, 3}, 3, 0.3f));
  b.initializer("w3", random_tensor(DataType::kFloat, {3, 4}, 4, 0.5f));
  b.node("Conv", {"x", "w1", "b1"}, {"c1"}, {ir::make_ints_attr("pads", {1, 1, 1, 1})});
  b.node("Relu", {"c1"}, {"r1"});
  b.node("Conv", {"r1", "w2"}, {"c2"}, {ir::make_ints_attr("pads", {1, 1, 1, 1})});
  b.node("Add", {"c2", "r1"}, {"s"});
  b.node("Relu", {"s"}, {"r2"});
  b.node("GlobalAveragePool", {"r2"}, {"p"});
  b.node("Flatten", {"p"}, {"f"});
  b.node("Gemm", {"f", "w3"}, {"y"}, {ir::make_int_attr("transB", 1)});
  return b.output("y", DataType::kFloat, Shape{-1, 3}).build();
}

Model quantized(const Model& model, bool compress) {
  auto engine = std::make_shared<Engine>(open_dataset("random,n=16", model), nullptr, EngineOptions{.progress = false});
  Model q = create_pipeline({{"MinMaxQuantization", {{"stat_subset_size", 16}}}}, engine)->run(model);
  q.set_compress_weights(compress);
  return q;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("quac_recover_" + name + ".onnx")).string();
}

std::vector<Tensor> run(const Model& m, const Tensor& x, bool reference) {
  return Session(m, SessionOptions{.reference_kernels_only = reference}).run(std::vector<Tensor>{x});
}

TEST(Recover, QdqFileComesBackAsGraphAndScope) {
  Model fp = residual_net();
  for (bool compress : {true, false}) {
    Model q = quantized(fp, compress);
    ASSERT_TRUE(q.quantized());
    std::string path = temp_path(compress ? "compressed" : "plain");
    save_model(q, path);
    Model loaded = load_model(path);
    std::filesystem::remove(path);
    ASSERT_TRUE(loaded.quantized()) << "compress " << compress;
    EXPECT_EQ(loaded.compress_weights(), compress);
    // The FP32 graph has no QuantizeLinear / DequantizeLinear left, and the same ops as the original.
    std::map<std::string, int> fp_ops, rec_ops;
    for (const auto& n : fp.ir().graph.nodes) fp_ops[n.op_type]++;
    for (const auto& n : loaded.ir().graph.nodes) rec_ops[n.op_type]++;
    EXPECT_EQ(rec_ops, fp_ops) << "compress " << compress;
    // One quantizer per quantizer placed, with the same uses, parameters and groups.
    const auto& a = q.scope()->quantizers;
    const auto& b = loaded.scope()->quantizers;
    ASSERT_EQ(a.size(), b.size());
    size_t matched = 0;
    for (const auto& qa : a)
      for (const auto& qb : b)
        if (qa.uses == qb.uses) {
          ++matched;
          EXPECT_EQ(qa.is_weight, qb.is_weight) << qa.value;
          EXPECT_EQ(qa.scale, qb.scale) << qa.value;
          EXPECT_EQ(qa.zero_point, qb.zero_point) << qa.value;
          EXPECT_EQ(qa.spec.per_channel, qb.spec.per_channel) << qa.value;
          EXPECT_EQ(qa.spec.is_signed, qb.spec.is_signed) << qa.value;
        }
    EXPECT_EQ(matched, a.size());
    EXPECT_EQ(loaded.scope()->groups.size(), q.scope()->groups.size());
    // Same outputs, bit for bit, with the reference kernels and with the fast (lowered INT8) ones.
    Tensor x = random_tensor(DataType::kFloat, {2, 4, 8, 8}, 9);
    for (bool reference : {true, false}) {
      auto want = run(q, x, reference), got = run(loaded, x, reference);
      ASSERT_EQ(want[0].nbytes(), got[0].nbytes());
      EXPECT_EQ(std::memcmp(want[0].raw_data(), got[0].raw_data(), want[0].nbytes()), 0)
          << "compress " << compress << " reference " << reference;
    }
    // Saved again: the same kinds and numbers of nodes as the first file.
    EXPECT_EQ(loaded.op_counts(), q.op_counts());
    // A group reverted on the loaded model runs, and reverting them all gives the dequantized-weight FP32 model.
    std::set<size_t> all;
    for (size_t g = 0; g < loaded.scope()->groups.size(); ++g) all.insert(g);
    Model none = loaded.with_scope(std::make_shared<quant::QuantizationScope>(loaded.scope()->without_groups(all)));
    auto fp_out = run(Model(loaded.ir_ptr()), x, true), none_out = run(none, x, true);
    EXPECT_EQ(std::memcmp(fp_out[0].raw_data(), none_out[0].raw_data(), fp_out[0].nbytes()), 0);
  }
}

// What cannot be recovered stays in the graph: a DequantizeLinear of a model input, and a QuantizeLinear whose
// integers an op other than DequantizeLinear reads.
TEST(Recover, LeavesWhatItCannotRecover) {
  testing::ModelBuilder b(13);
  b.input("xi", DataType::kUInt8, {2, 3});
  b.input("xf", DataType::kFloat, {2, 3});
  b.initializer("s", Tensor::scalar<float>(0.1f)).initializer("z", Tensor::scalar<uint8_t>(3));
  b.node("DequantizeLinear", {"xi", "s", "z"}, {"d0"});
  b.node("QuantizeLinear", {"xf", "s", "z"}, {"q1"});
  b.node("DequantizeLinear", {"q1", "s", "z"}, {"d1"});
  b.node("Cast", {"q1"}, {"c1"}, {ir::make_int_attr("to", 1)});
  b.node("Add", {"d0", "d1"}, {"a"});
  b.node("Add", {"a", "c1"}, {"y"});
  Model m = b.output("y", DataType::kFloat, Shape{2, 3}).build();
  auto r = quant::recover_scope(m.ir());
  EXPECT_EQ(r.scope, nullptr);
  EXPECT_EQ(r.fp32->graph.nodes.size(), m.ir().graph.nodes.size());
}

// A Q/DQ pair another tool wrote (per-axis int8 weights through QuantizeLinear, uint8 activations without a zero
// point input) is recovered too.
TEST(Recover, ForeignQdqPairs) {
  testing::ModelBuilder b(13);
  b.input("x", DataType::kFloat, {1, 6});
  b.initializer("w", random_tensor(DataType::kFloat, {6, 4}, 5, 0.4f));
  b.initializer("sx", Tensor::scalar<float>(0.02f));
  b.initializer("sw", Tensor::from_vector<float>({4}, {0.01f, 0.02f, 0.015f, 0.03f}));
  b.initializer("zw", Tensor::from_vector<int8_t>({4}, {0, 0, 0, 0}));
  b.node("QuantizeLinear", {"x", "sx"}, {"xq"}).node("DequantizeLinear", {"xq", "sx"}, {"xd"});
  b.node("QuantizeLinear", {"w", "sw", "zw"}, {"wq"}, {ir::make_int_attr("axis", 1)});
  b.node("DequantizeLinear", {"wq", "sw", "zw"}, {"wd"}, {ir::make_int_attr("axis", 1)});
  b.node("MatMul", {"xd", "wd"}, {"y"});
  Model m = b.output("y", DataType::kFloat, Shape{1, 4}).build();
  auto r = quant::recover_scope(m.ir());
  ASSERT_NE(r.scope, nullptr);
  ASSERT_EQ(r.scope->quantizers.size(), 2u);
  EXPECT_EQ(r.fp32->graph.nodes.size(), 1u);
  for (const auto& q : r.scope->quantizers) {
    if (q.is_weight) {
      EXPECT_EQ(q.value, "w");
      EXPECT_TRUE(q.spec.per_channel);
      EXPECT_EQ(q.spec.axis, 1);
    } else {
      EXPECT_EQ(q.value, "x");
      EXPECT_FALSE(q.spec.is_signed);
      EXPECT_EQ(q.spec.level_high, 255);
    }
  }
  Model rec = Model(r.fp32).with_scope(r.scope);
  rec.set_compress_weights(false);
  Tensor x = random_tensor(DataType::kFloat, {1, 6}, 6);
  // The recovered graph carries explicit zero points, so it lowers to quac.QMatMul where the file's graph (no zero
  // point input) ran as float ops: the same values up to float rounding.
  auto want = run(m, x, true), got = run(rec, x, true);
  double num = 0, den = 0;
  for (int64_t i = 0; i < want[0].numel(); ++i) {
    double d = double(want[0].data<float>()[i]) - got[0].data<float>()[i];
    num += d * d;
    den += double(want[0].data<float>()[i]) * want[0].data<float>()[i];
  }
  EXPECT_LE(std::sqrt(num / den), 1e-6);
}

}  // namespace
}  // namespace quac
