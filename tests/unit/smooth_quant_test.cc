// SmoothQuant migrates activation outlier channels into the weights exactly as its formula says, keeps the FP32
// function, and makes per-tensor INT8 activations more accurate.
#include "algorithms/smooth_quant.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/random.h"
#include "ir/graph.h"
#include "quac/pipeline.h"
#include "quac/session.h"
#include "quant/calibrate.h"
#include "quant/placement.h"
#include "test_model_builder.h"

namespace quac {
namespace {

// x [N, 4, 8] read by two MatMuls (weights [8, 6] and [8, 3]).
Model two_readers() {
  testing::ModelBuilder b(17);
  b.input("x", DataType::kFloat, {-1, 4, 8});
  b.initializer("w1", random_tensor(DataType::kFloat, {8, 6}, 11, 0.5f));
  b.initializer("w2", random_tensor(DataType::kFloat, {8, 3}, 12, 0.5f));
  b.node("MatMul", {"x", "w1"}, {"y1"});
  b.node("MatMul", {"x", "w2"}, {"y2"});
  b.output("y1", DataType::kFloat, Shape{-1, 4, 6});
  return b.output("y2", DataType::kFloat, Shape{-1, 4, 3}).build();
}

// Channel 0 of x is a 40x outlier channel (as in transformer LayerNorm outputs).
class Tokens : public Dataset {
 public:
  explicit Tokens(size_t n, uint64_t seed) : n_(n), seed_(seed) {}
  size_t size() const override { return n_; }
  DataItem get(size_t i) const override {
    Tensor t = random_tensor(DataType::kFloat, {4, 8}, seed_ + i);
    for (int64_t r = 0; r < 4; ++r) t.data<float>()[r * 8] *= 40.0f;
    return {{t}, {}, {}};
  }
  std::string describe() const override { return "tokens"; }

 private:
  size_t n_;
  uint64_t seed_;
};

double quantized_error(const Model& model, const Dataset& calib, const Dataset& test) {
  auto scope = std::make_shared<quant::QuantizationScope>(quant::place_quantizers(model.ir().graph, {}));
  // Global min/max ranges: no clipping, so the error measured is the rounding error the outlier channel causes.
  quant::CalibrationOptions co{.stat_subset_size = calib.size(), .progress = false};
  co.activation_range.min.aggregator = "min";
  co.activation_range.max.aggregator = "max";
  quant::collect_activation_ranges(model, calib, *scope, co);
  quant::compute_weight_ranges(model.ir().graph, *scope);
  quant::compute_parameters(*scope, "performance");
  Session fp(model), q(model.with_scope(scope));
  double num = 0, den = 0;
  for (size_t i = 0; i < test.size(); ++i) {
    Tensor x = test.get(i).inputs[0].reshaped({1, 4, 8});
    auto a = fp.run(std::vector<Tensor>{x}), b = q.run(std::vector<Tensor>{x});
    for (size_t o = 0; o < a.size(); ++o)
      for (int64_t k = 0; k < a[o].numel(); ++k) {
        double d = double(a[o].data<float>()[k]) - b[o].data<float>()[k];
        num += d * d;
        den += double(a[o].data<float>()[k]) * a[o].data<float>()[k];
      }
  }
  return std::sqrt(num / den);
}

TEST(SmoothQuant, MigratesScalesAsTheFormulaSays) {
  Model model = two_readers();
  Tokens calib(32, 1);
  size_t smoothed = 0;
  const double alpha = 0.5;
  Model sq = algorithms::smooth_quant(model, calib, {.alpha = alpha, .stat_subset_size = 32}, &smoothed);
  ASSERT_EQ(smoothed, 1u);
  // Expected s_j from the data and the weights.
  std::vector<double> xmax(8, 0.0), wmax(8, 0.0);
  for (size_t i = 0; i < calib.size(); ++i) {
    Tensor t = calib.get(i).inputs[0];
    for (int64_t k = 0; k < t.numel(); ++k) xmax[k % 8] = std::max(xmax[k % 8], double(std::fabs(t.data<float>()[k])));
  }
  for (const char* w : {"w1", "w2"}) {
    const Tensor* t = model.ir().graph.initializer(w);
    for (int64_t k = 0; k < t->numel(); ++k)
      wmax[k / t->dim(1)] = std::max(wmax[k / t->dim(1)], double(std::fabs(t->data<float>()[k])));
  }
  const Tensor* inv = sq.ir().graph.initializer("x_smooth_scale");
  ASSERT_NE(inv, nullptr);
  for (int j = 0; j < 8; ++j) {
    double s = std::pow(xmax[j], alpha) / std::pow(wmax[j], 1 - alpha);
    EXPECT_NEAR(1.0 / inv->data<float>()[j], s, 1e-4 * s) << "channel " << j;
    // Weights' rows scaled by s_j; with alpha 0.5 the activation and weight ranges of channel j meet at
    // sqrt(max|X_j| * max|W_j|).
    const Tensor* w1 = model.ir().graph.initializer("w1");
    const Tensor* w1s = sq.ir().graph.initializer("w1");
    EXPECT_NEAR(w1s->data<float>()[j * 6], w1->data<float>()[j * 6] * s,
                1e-4 * std::fabs(w1->data<float>()[j * 6] * s) + 1e-6);
  }
  // The outlier channel 0 is the most reduced: its smoothed range max|X_0| / s_0 is far below max|X_0|.
  EXPECT_LT(xmax[0] * inv->data<float>()[0], 0.5 * xmax[0]);

  // Same FP32 function.
  Session a(model), b(sq);
  Tensor x = calib.get(3).inputs[0].reshaped({1, 4, 8});
  auto ya = a.run(std::vector<Tensor>{x}), yb = b.run(std::vector<Tensor>{x});
  for (size_t o = 0; o < 2; ++o)
    for (int64_t k = 0; k < ya[o].numel(); ++k)
      EXPECT_NEAR(ya[o].data<float>()[k], yb[o].data<float>()[k], 1e-4 * (1 + std::fabs(ya[o].data<float>()[k])));

  // And INT8 is more accurate after smoothing.
  Tokens test(32, 1000);
  double before = quantized_error(model, calib, test), after = quantized_error(sq, calib, test);
  EXPECT_LT(after, 0.7 * before) << before << " -> " << after;
}

TEST(SmoothQuant, LeavesNonMatMulReadersAlone) {
  testing::ModelBuilder b(17);
  b.input("x", DataType::kFloat, {-1, 4, 8});
  b.initializer("w1", random_tensor(DataType::kFloat, {8, 6}, 11, 0.5f));
  b.node("MatMul", {"x", "w1"}, {"y1"});
  b.node("Relu", {"x"}, {"y2"});  // a second, non-MatMul reader: x cannot be rescaled
  b.output("y1", DataType::kFloat, Shape{-1, 4, 6});
  Model model = b.output("y2", DataType::kFloat, Shape{-1, 4, 8}).build();
  Tokens calib(4, 1);
  size_t smoothed = 0;
  algorithms::smooth_quant(model, calib, {.stat_subset_size = 4}, &smoothed);
  EXPECT_EQ(smoothed, 0u);
  EXPECT_THROW(algorithms::smooth_quant(model, calib, {.alpha = 1.5}), Error);
}

bool has_smoothing_mul(const Model& m) {
  for (const auto& n : m.ir().graph.nodes)
    if (n.op_type == "Mul" && n.name.find("SmoothQuant") != std::string::npos) return true;
  return false;
}

TEST(SmoothQuant, AlgorithmsChainInAPipelineByName) {
  auto names = algorithm_names();
  for (const char* a : {"SmoothQuant", "FastBiasCorrection", "BiasCorrection", "MinMaxQuantization"})
    EXPECT_NE(std::find(names.begin(), names.end(), a), names.end()) << a;
  auto data = std::make_shared<Tokens>(16, 1);
  auto engine = std::make_shared<Engine>(data, nullptr, EngineOptions{.progress = false});
  Model model = two_readers();
  auto pipeline = create_pipeline({{"SmoothQuant", {{"alpha", 0.6}}},
                                   {"MinMaxQuantization", {{"stat_subset_size", 16}}},
                                   {"FastBiasCorrection", {{"threshold", 2.0}}}},
                                  engine);
  Model out = pipeline->run(model);
  EXPECT_TRUE(out.quantized());
  EXPECT_TRUE(has_smoothing_mul(out));
  // model_type transformer: DefaultQuantization smooths first.
  Model t =
      create_pipeline({{"DefaultQuantization", {{"model_type", "transformer"}, {"stat_subset_size", 16}}}}, engine)
          ->run(model);
  EXPECT_TRUE(t.quantized());
  EXPECT_TRUE(has_smoothing_mul(t));
  Model plain = create_pipeline({{"DefaultQuantization", {{"stat_subset_size", 16}}}}, engine)->run(model);
  EXPECT_FALSE(has_smoothing_mul(plain));
  // BiasCorrection has no threshold: the key is refused, not ignored.
  EXPECT_THROW(create_pipeline({{"BiasCorrection", {{"threshold", 2.0}}}}, engine), Error);
  EXPECT_THROW(create_pipeline({{"DefaultQuantization", {{"model_type", "cnn"}}}}, engine), Error);
}

}  // namespace
}  // namespace quac
