// Quantizer specs (presets, bits, mode, levels, granularity), 16-bit quantizers for target_device GNA as
// com.microsoft QuantizeLinear/DequantizeLinear, ActivationChannelAlignment and the transformer ignored scope.
#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>

#include "algorithms/activation_channel_alignment.h"
#include "algorithms/default_quantization.h"
#include "core/random.h"
#include "ir/onnx/onnx_io.h"
#include "quac/metric.h"
#include "quac/pipeline.h"
#include "quac/session.h"
#include "quant/calibrate.h"
#include "quant/placement.h"
#include "quant/qdq.h"
#include "quant/transformer_scope.h"
#include "search/model_evaluator.h"
#include "test_model_builder.h"

namespace quac {
namespace {

// input -> Conv(w1) -> Relu -> Conv(w2) -> Reshape -> MatMul(w3): weights with an offset (asymmetric) distribution.
Model small_cnn() {
  testing::ModelBuilder b(13);
  b.input("x", DataType::kFloat, {-1, 2, 6, 6});
  Tensor w1 = random_tensor(DataType::kFloat, {4, 2, 3, 3}, 1, 0.5f);
  for (int64_t i = 0; i < w1.numel(); ++i) w1.data<float>()[i] += 0.4f;  // mostly positive: asymmetric pays
  b.initializer("w1", w1);
  b.initializer("w2", random_tensor(DataType::kFloat, {4, 4, 3, 3}, 2, 0.3f));
  b.initializer("w3", random_tensor(DataType::kFloat, {144, 5}, 3, 0.2f));
  b.initializer("shape", Tensor::from_vector<int64_t>({2}, {-1, 144}));
  b.node("Conv", {"x", "w1"}, {"c1"}, {ir::make_ints_attr("pads", {1, 1, 1, 1})});
  b.node("Relu", {"c1"}, {"r1"});
  b.node("Conv", {"r1", "w2"}, {"c2"}, {ir::make_ints_attr("pads", {1, 1, 1, 1})});
  b.node("Reshape", {"c2", "shape"}, {"f"});
  b.node("MatMul", {"f", "w3"}, {"y"});
  return b.output("y", DataType::kFloat, Shape{-1, 5}).build();
}

double rel_l2(const Tensor& a, const Tensor& b) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    double d = double(a.data<float>()[i]) - b.data<float>()[i];
    num += d * d;
    den += double(a.data<float>()[i]) * a.data<float>()[i];
  }
  return std::sqrt(num / den);
}

std::shared_ptr<Engine> random_engine(const Model& model, size_t n = 32) {
  return std::make_shared<Engine>(open_dataset("random,n=" + std::to_string(n), model), nullptr,
                                  EngineOptions{.progress = false});
}

// Global min/max activation ranges (no clipping), so the errors measured are the rounding of the grid.
Model quantize(const Model& model, const std::string& algorithm, nlohmann::json params) {
  params["activations"]["range_estimator"] = {{"min", {{"aggregator", "min"}}}, {"max", {{"aggregator", "max"}}}};
  return create_pipeline({{algorithm, params}}, random_engine(model))->run(model);
}

// Relative L2 error of the quantized model against FP32 on fresh random inputs.
double quantized_error(const Model& fp, const Model& q, uint64_t seed = 77) {
  Tensor x = random_tensor(DataType::kFloat, {4, 2, 6, 6}, seed);
  Session a(fp), b(q);
  return rel_l2(a.run(std::vector<Tensor>{x})[0], b.run(std::vector<Tensor>{x})[0]);
}

void expect_valid_onnx(const ir::Model& model) {
  onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(onnx_io::serialize_model(model)));
  try {
    onnx::checker::check_model(proto);
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
  }
}

const Tensor* zero_point_of(const ir::Model& m, const std::string& weight) {
  for (const auto& n : m.graph.nodes)
    if (n.op_type == "DequantizeLinear" && n.inputs[0].rfind(weight + "_w_q", 0) == 0)
      return m.graph.initializer(n.inputs[2]);
  return nullptr;
}

TEST(QuantSpecs, PresetsSetModesOfWeightsAndActivations) {
  Model model = small_cnn();
  nlohmann::json base = {{"saturation_fix", "no"}, {"stat_subset_size", 32}};
  std::map<std::string, double> errors;
  for (std::string preset : {"performance", "mixed", "accuracy"}) {
    nlohmann::json p = base;
    p["preset"] = preset;
    Model q = quantize(model, "MinMaxQuantization", p);
    const auto& scope = *q.scope();
    bool weights_asym = preset == "accuracy", acts_asym = preset != "performance";
    for (const auto& qz : scope.quantizers) {
      EXPECT_EQ(qz.spec.symmetric, !(qz.is_weight ? weights_asym : acts_asym)) << preset << " " << qz.value;
      if (qz.is_weight && !weights_asym) {
        EXPECT_EQ(qz.spec.level_low, -127);
        EXPECT_EQ(qz.spec.level_high, 127);
      }
      if (qz.is_weight && weights_asym) {
        EXPECT_EQ(qz.spec.level_low, 0);
        EXPECT_EQ(qz.spec.level_high, 255);
      }
    }
    auto qdq = q.executable();
    expect_valid_onnx(*qdq);
    // Asymmetric weights: uint8 storage with per-channel zero points, not all zero (w1 is offset).
    const Tensor* zp = zero_point_of(*qdq, "w1");
    ASSERT_NE(zp, nullptr) << preset;
    EXPECT_EQ(zp->dtype(), weights_asym ? DataType::kUInt8 : DataType::kInt8) << preset;
    bool nonzero = false;
    for (int64_t i = 0; i < zp->numel(); ++i) nonzero = nonzero || zp->scalar_as_int(i) != 0;
    EXPECT_EQ(nonzero, weights_asym) << preset;
    // The INT8 lowering declines non-zero weight zero points: the fast run is the exact QDQ reference.
    Tensor x = random_tensor(DataType::kFloat, {3, 2, 6, 6}, 31);
    EXPECT_LT(rel_l2(Session(q, {.reference_kernels_only = true}).run(std::vector<Tensor>{x})[0],
                     Session(q).run(std::vector<Tensor>{x})[0]),
              1e-3)
        << preset;
    errors[preset] = quantized_error(model, q);
    EXPECT_LT(errors[preset], 0.05) << preset;
    EXPECT_GT(errors[preset], 0.0) << preset;
  }
  // Asymmetric weights spend no levels on the empty negative side of w1: the accuracy preset is no worse.
  EXPECT_LT(errors["accuracy"], errors["performance"] * 1.05);
}

TEST(QuantSpecs, BitsLevelsAndGranularity) {
  Model model = small_cnn();
  nlohmann::json p = {{"saturation_fix", "no"},
                      {"stat_subset_size", 16},
                      {"weights", {{"bits", 4}, {"granularity", "pertensor"}}},
                      {"activations", {{"bits", 6}, {"mode", "asymmetric"}}}};
  Model q = quantize(model, "MinMaxQuantization", p);
  for (const auto& qz : q.scope()->quantizers) {
    if (qz.is_weight) {
      EXPECT_EQ(qz.spec.level_high, 7);
      EXPECT_EQ(qz.spec.level_low, -7);
      EXPECT_EQ(qz.scale.size(), 1u);
    } else {
      EXPECT_EQ(qz.spec.level_low, 0);
      EXPECT_EQ(qz.spec.level_high, 63);
    }
  }
  double e4 = quantized_error(model, q);
  double e8 = quantized_error(model, quantize(model, "MinMaxQuantization", {{"saturation_fix", "no"}}));
  EXPECT_GT(e4, 2 * e8) << "4-bit weights must be coarser than 8-bit ones";
  // Explicit levels replace the preset's.
  nlohmann::json lv = {{"saturation_fix", "no"}, {"weights", {{"level_low", -100}, {"level_high", 100}}}};
  for (const auto& qz : quantize(model, "MinMaxQuantization", lv).scope()->quantizers)
    if (qz.is_weight) EXPECT_EQ(qz.spec.level_high, 100);
  // Bad values are errors naming the field.
  auto engine = random_engine(model);
  for (const nlohmann::json& bad :
       {nlohmann::json{{"weights", {{"bits", 17}}}}, nlohmann::json{{"weights", {{"level_low", -3}}}},
        nlohmann::json{{"activations", {{"mode", "affine"}}}},
        nlohmann::json{{"weights", {{"bits", 8}, {"level_low", 0}, {"level_high", 300}}}}}) {
    try {
      create_pipeline({{"MinMaxQuantization", bad}}, engine);
      ADD_FAILURE() << "accepted " << bad.dump();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("params."), std::string::npos) << e.what();
    }
  }
}

// com.microsoft QuantizeLinear/DequantizeLinear with int16 and uint16, per tensor and per axis, against values
// computed by hand (round half to even, saturation).
TEST(QuantSpecs, MicrosoftQuantizeLinear16Bit) {
  testing::ModelBuilder b(13);
  b.opset(quant::kMicrosoftDomain, 1);
  b.input("x", DataType::kFloat, {2, 3});
  b.initializer("s", Tensor::from_vector<float>({3}, {0.5f, 1.0f, 2.0f}));
  Tensor zp(DataType::kInt16, {3});
  zp.data<int16_t>()[0] = 0;
  zp.data<int16_t>()[1] = -10;
  zp.data<int16_t>()[2] = 1000;
  b.initializer("z", zp);
  b.initializer("s1", Tensor::scalar<float>(0.25f));
  Tensor uz(DataType::kUInt16, {});
  uz.data<uint16_t>()[0] = 30000;
  b.initializer("z1", uz);
  b.node("QuantizeLinear", {"x", "s", "z"}, {"q"}, {ir::make_int_attr("axis", 1)}, quant::kMicrosoftDomain);
  b.node("DequantizeLinear", {"q", "s", "z"}, {"y"}, {ir::make_int_attr("axis", 1)}, quant::kMicrosoftDomain);
  b.node("QuantizeLinear", {"x", "s1", "z1"}, {"uq"}, {}, quant::kMicrosoftDomain);
  b.node("DequantizeLinear", {"uq", "s1", "z1"}, {"uy"}, {}, quant::kMicrosoftDomain);
  b.output("q", DataType::kInt16, Shape{2, 3});
  b.output("y", DataType::kFloat, Shape{2, 3});
  b.output("uq", DataType::kUInt16, Shape{2, 3});
  Model m = b.output("uy", DataType::kFloat, Shape{2, 3}).build();
  Tensor x = Tensor::from_vector<float>({2, 3}, {1.25f, -3.5f, 100000.0f, -20000.0f, 2.5f, -7.0f});
  auto out = Session(m).run(std::vector<Tensor>{x});
  ASSERT_EQ(out[0].dtype(), DataType::kInt16);
  // 1.25/0.5 = 2.5 -> 2 (half to even); -3.5/1 -> -4, -10 -> -14; 100000/2 + 1000 -> saturates at 32767;
  // -20000/0.5 -> -40000 saturates at -32768; 2.5 -> 2 (even), -8; -7/2 = -3.5 -> -4, +1000 = 996.
  std::vector<int16_t> want = {2, -14, 32767, -32768, -8, 996};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(out[0].data<int16_t>()[i], want[i]) << i;
  EXPECT_FLOAT_EQ(out[1].data<float>()[1], -4.0f);
  EXPECT_FLOAT_EQ(out[1].data<float>()[2], (32767 - 1000) * 2.0f);
  // uint16: 1.25/0.25 = 5 + 30000; -20000/0.25 = -80000 + 30000 saturates at 0.
  EXPECT_EQ(out[2].data<uint16_t>()[0], 30005);
  EXPECT_EQ(out[2].data<uint16_t>()[3], 0);
  EXPECT_FLOAT_EQ(out[3].data<float>()[3], -30000 * 0.25f);
}

TEST(QuantSpecs, GnaQuantizesActivationsIn16Bits) {
  Model model = small_cnn();
  nlohmann::json p = {{"target_device", "GNA"}, {"stat_subset_size", 32}};
  Model perf = quantize(model, "MinMaxQuantization", p);
  p["preset"] = "accuracy";
  Model acc = quantize(model, "MinMaxQuantization", p);
  Model cpu = quantize(model, "MinMaxQuantization", {{"stat_subset_size", 32}, {"saturation_fix", "no"}});
  for (const auto& qz : perf.scope()->quantizers) EXPECT_EQ(qz.spec.bits, qz.is_weight ? 8 : 16) << qz.value;
  for (const auto& qz : acc.scope()->quantizers) {
    EXPECT_EQ(qz.spec.bits, 16) << qz.value;
    EXPECT_TRUE(qz.spec.symmetric) << qz.value;
    if (!qz.is_weight && qz.value == "r1") EXPECT_EQ(qz.spec.level_high, 65535);  // ReLU output: uint16
  }
  auto qdq = perf.executable();
  EXPECT_EQ(qdq->opset(quant::kMicrosoftDomain), 1);
  size_t ms_nodes = 0;
  for (const auto& n : qdq->graph.nodes) {
    if (n.domain != quant::kMicrosoftDomain) continue;
    ++ms_nodes;
    const Tensor* z = qdq->graph.initializer(n.inputs[2]);
    ASSERT_NE(z, nullptr);
    EXPECT_TRUE(z->dtype() == DataType::kInt16 || z->dtype() == DataType::kUInt16);
  }
  EXPECT_EQ(ms_nodes, 8u);  // Q and DQ for x, r1, f, and c2 (the Reshape's input, tied to f's scale)
  expect_valid_onnx(*qdq);
  expect_valid_onnx(*acc.executable());
  for (const Model* m : {&perf, &acc}) {
    Tensor x = random_tensor(DataType::kFloat, {3, 2, 6, 6}, 32);
    EXPECT_LT(rel_l2(Session(*m, {.reference_kernels_only = true}).run(std::vector<Tensor>{x})[0],
                     Session(*m).run(std::vector<Tensor>{x})[0]),
              1e-3);
  }
  double e_cpu = quantized_error(model, cpu), e_perf = quantized_error(model, perf),
         e_acc = quantized_error(model, acc);
  EXPECT_LT(e_perf, e_cpu) << "16-bit activations must beat 8-bit ones";
  EXPECT_LT(e_acc, 1e-3) << "16-bit weights and activations: nearly FP32";
  EXPECT_LT(e_acc, e_perf / 10);

  // The exported file loads back and runs to the same outputs (16-bit weights stored as int16 initializers).
  Model saved = acc;
  compress_model_weights(saved);
  std::string path = ::testing::TempDir() + "/quant_specs_gna.onnx";
  save_model(saved, path);
  Model loaded = load_model(path);
  ASSERT_TRUE(loaded.quantized()) << "the 16-bit quantizers come back as the scope";
  for (const auto& qz : loaded.scope()->quantizers) EXPECT_EQ(qz.spec.bits, 16) << qz.value;
  size_t int16_weights = 0;
  auto exe = loaded.executable();
  for (const auto& [name, t] : exe->graph.initializers) int16_weights += t.dtype() == DataType::kInt16 && t.rank() >= 2;
  EXPECT_EQ(int16_weights, 3u);
  Tensor x = random_tensor(DataType::kFloat, {3, 2, 6, 6}, 5);
  EXPECT_LT(rel_l2(Session(saved).run(std::vector<Tensor>{x})[0], Session(loaded).run(std::vector<Tensor>{x})[0]),
            1e-6);
}

// A 16-bit histogram threshold keeps the whole range (the KL search needs more bins than levels), and MSE's
// threshold at 16 bits clips no more than at 8.
TEST(QuantSpecs, HistogramThresholdsAt16Bits) {
  quant::AbsHistogram h;
  h.init(10.0);
  std::vector<float> v(5000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(std::sin(double(i)) * (i % 97 == 0 ? 10 : 1));
  h.add(v.data(), v.size());
  EXPECT_DOUBLE_EQ(quant::kl_threshold(h, 32767), 10.0);
  EXPECT_GE(quant::mse_threshold(h, 32767), quant::mse_threshold(h, 127));
}

// producer Conv (channel 0 scaled x30 and shifted) -> X -> 1x1 Conv (no padding): aligned.
Model conv_pair(bool consumer_pads) {
  testing::ModelBuilder b(13);
  b.input("x", DataType::kFloat, {-1, 3, 6, 6});
  Tensor w1 = random_tensor(DataType::kFloat, {4, 3, 3, 3}, 21, 0.4f);
  for (int64_t i = 0; i < 27; ++i) w1.data<float>()[i] *= 30.0f;
  b.initializer("w1", w1);
  b.initializer("b1", Tensor::from_vector<float>({4}, {50.0f, -1.0f, 0.5f, 3.0f}));
  b.initializer("w2", random_tensor(DataType::kFloat, {5, 4, 1, 1}, 22, 0.5f));
  b.initializer("b2", Tensor::from_vector<float>({5}, {0.1f, 0.2f, -0.3f, 0.0f, 1.0f}));
  b.node("Conv", {"x", "w1", "b1"}, {"c1"}, {ir::make_ints_attr("pads", {1, 1, 1, 1})});
  std::vector<ir::Attribute> attrs;
  if (consumer_pads) attrs.push_back(ir::make_ints_attr("pads", {1, 1, 1, 1}));
  b.node("Conv", {"c1", "w2", "b2"}, {"y"}, attrs);
  return b.output("y", DataType::kFloat, Shape{-1, 5, 6, 6}).build();
}

class Images : public Dataset {
 public:
  explicit Images(size_t n, uint64_t seed) : n_(n), seed_(seed) {}
  size_t size() const override { return n_; }
  DataItem get(size_t i) const override { return {{random_tensor(DataType::kFloat, {3, 6, 6}, seed_ + i)}, {}, {}}; }
  std::string describe() const override { return "images"; }

 private:
  size_t n_;
  uint64_t seed_;
};

// Per-channel [min, max] width of c1 over the data.
std::vector<double> channel_widths(const Model& m, const Dataset& data) {
  std::vector<float> lo(4, 1e30f), hi(4, -1e30f);
  Session s(m, {.taps = {"c1"}});
  for (size_t i = 0; i < data.size(); ++i) {
    Batch b = make_batch(data, {i}, 0, 1);
    s.run(b.inputs, [&](const std::string&, const Tensor& t) {
      for (int64_t k = 0; k < t.numel(); ++k) {
        size_t c = static_cast<size_t>((k / 36) % 4);
        lo[c] = std::min(lo[c], t.data<float>()[k]);
        hi[c] = std::max(hi[c], t.data<float>()[k]);
      }
    });
  }
  std::vector<double> w(4);
  for (size_t c = 0; c < 4; ++c) w[c] = double(hi[c]) - lo[c];
  return w;
}

double per_tensor_int8_error(const Model& m, const Dataset& calib, const Dataset& test) {
  auto scope = std::make_shared<quant::QuantizationScope>(quant::place_quantizers(m.ir().graph, {}));
  quant::collect_activation_ranges(m, calib, *scope, {.stat_subset_size = calib.size(), .progress = false});
  quant::compute_weight_ranges(m.ir().graph, *scope);
  quant::compute_parameters(*scope, "performance");
  Session fp(m), q(m.with_scope(scope));
  double worst = 0;
  for (size_t i = 0; i < test.size(); ++i) {
    Batch b = make_batch(test, {i}, 0, 1);
    worst = std::max(worst, rel_l2(fp.run(b.inputs)[0], q.run(b.inputs)[0]));
  }
  return worst;
}

TEST(QuantSpecs, ActivationChannelAlignmentKeepsTheFunctionAndEvensChannels) {
  Model model = conv_pair(false);
  Images calib(24, 100), test(8, 500);
  size_t aligned = 0;
  Model out = algorithms::align_activation_channels(model, calib, {.stat_subset_size = 24}, &aligned);
  EXPECT_EQ(aligned, 1u);
  // Same function in FP32.
  for (size_t i = 0; i < test.size(); ++i) {
    Batch b = make_batch(test, {i}, 0, 1);
    EXPECT_LT(rel_l2(Session(model).run(b.inputs)[0], Session(out).run(b.inputs)[0]), 1e-5);
  }
  // Channel widths of X much closer to each other, and the per-tensor INT8 activation more accurate.
  auto before = channel_widths(model, test), after = channel_widths(out, test);
  auto spread = [](const std::vector<double>& w) {
    return *std::max_element(w.begin(), w.end()) / *std::min_element(w.begin(), w.end());
  };
  EXPECT_GT(spread(before), 10.0);
  EXPECT_LT(spread(after), spread(before) / 5);
  EXPECT_LT(per_tensor_int8_error(out, calib, test), per_tensor_int8_error(model, calib, test));
  // A padded consumer is not alignable (the mean shift would not commute with the zero padding).
  Model padded = conv_pair(true);
  algorithms::align_activation_channels(padded, calib, {.stat_subset_size = 8}, &aligned);
  EXPECT_EQ(aligned, 0u);
}

TEST(QuantSpecs, ActivationChannelAlignmentIsRegisteredAndRunByDefaultQuantization) {
  Model model = conv_pair(false);
  auto engine = random_engine(model, 16);
  Model out = create_pipeline({{"ActivationChannelAlignment", {{"stat_subset_size", 16}}}}, engine)->run(model);
  EXPECT_FALSE(out.quantized());
  EXPECT_NE(out.ir_ptr(), model.ir_ptr());
  const float* w = out.ir().graph.initializer("w1")->data<float>();
  EXPECT_NE(w[0], model.ir().graph.initializer("w1")->data<float>()[0]);
  // DefaultQuantization aligns first (POT's order); activation_channel_alignment false (quac's switch) does not.
  Model dq = create_pipeline({{"DefaultQuantization", {{"stat_subset_size", 16}}}}, engine)->run(model);
  EXPECT_NE(dq.ir().graph.initializer("w1")->data<float>()[0], model.ir().graph.initializer("w1")->data<float>()[0]);
  // Accuracy control restores a reverted layer's initializers from the model DefaultQuantization quantized: reverting
  // the producer alone keeps the aligned pair's FP32 function (from the user's model, one side would be undone).
  Model prepared = algorithms::prepare_fp32_model("DefaultQuantization", {{"stat_subset_size", 16}}, model, *engine);
  auto metric = create_metric("top1");
  int producer_group = -1;
  for (const auto& qz : dq.scope()->quantizers)
    if (qz.value == "x") producer_group = qz.group;
  ASSERT_GE(producer_group, 0);
  Tensor x = random_tensor(DataType::kFloat, {2, 3, 6, 6}, 41);
  Tensor fp = Session(model).run(std::vector<Tensor>{x})[0];
  search::ModelSearchEvaluator ev(prepared, dq, engine->dataset_ptr(), *metric, {.num_threads = 1});
  std::set<size_t> producer{static_cast<size_t>(producer_group)};
  EXPECT_LT(rel_l2(fp, Session(prepared).run(std::vector<Tensor>{x})[0]), 1e-5);
  EXPECT_LT(rel_l2(fp, Session(ev.variant(producer)).run(std::vector<Tensor>{x})[0]), 0.05);
  search::ModelSearchEvaluator from_user(model, dq, engine->dataset_ptr(), *metric, {.num_threads = 1});
  EXPECT_GT(rel_l2(fp, Session(from_user.variant(producer)).run(std::vector<Tensor>{x})[0]), 0.5)
      << "restoring from the user's model must break the pair (else this test proves nothing)";
  Model off =
      create_pipeline({{"DefaultQuantization", {{"stat_subset_size", 16}, {"activation_channel_alignment", false}}}},
                      engine)
          ->run(model);
  EXPECT_EQ(off.ir().graph.initializer("w1")->data<float>()[0], model.ir().graph.initializer("w1")->data<float>()[0]);
}

TEST(QuantSpecs, TransformerIgnoresAttentionOutputMatMuls) {
  Model vit = load_model(std::string(QUAC_SOURCE_DIR) + "/tests/data/fixtures/vit.onnx");
  auto names = quant::attention_output_matmuls(vit.ir().graph);
  std::sort(names.begin(), names.end());
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[0], "/blocks/blocks.0/attn/MatMul_1");
  EXPECT_EQ(names[1], "/blocks/blocks.1/attn/MatMul_1");
  auto uses_of = [](const Model& q) {
    std::set<std::string> nodes;
    for (const auto& qz : q.scope()->quantizers)
      for (const auto& [node, input] : qz.uses) nodes.insert(node);
    return nodes;
  };
  nlohmann::json p = {{"stat_subset_size", 4}, {"smooth_quant_alpha", -1}};
  std::set<std::string> plain = uses_of(quantize(vit, "MinMaxQuantization", p));
  p["model_type"] = "transformer";
  std::set<std::string> transformer = uses_of(quantize(vit, "MinMaxQuantization", p));
  for (const auto& n : names) {
    EXPECT_TRUE(plain.count(n)) << n;
    EXPECT_FALSE(transformer.count(n)) << n;
  }
  EXPECT_TRUE(transformer.count("/blocks/blocks.0/attn/MatMul")) << "Q x K^T stays quantized";
  // Everything else the transformer scope leaves out is an op of NNCF's ignored types (the residual Adds, say) or
  // a data-movement op whose quantizer was propagated up from an op now ignored.
  std::map<std::string, std::string> type_of;
  for (const auto& n : vit.ir().graph.nodes) type_of[n.name] = n.op_type;
  const auto& types = quant::transformer_ignored_types();
  size_t ignored_by_type = 0;
  for (const auto& n : plain) {
    if (transformer.count(n) || std::find(names.begin(), names.end(), n) != names.end()) continue;
    bool movement = type_of[n] == "Reshape" || type_of[n] == "Transpose";
    EXPECT_TRUE(movement || std::find(types.begin(), types.end(), type_of[n]) != types.end()) << n << " " << type_of[n];
    ++ignored_by_type;
  }
  EXPECT_EQ(plain.size(), transformer.size() + 2 + ignored_by_type);
}

}  // namespace
}  // namespace quac
