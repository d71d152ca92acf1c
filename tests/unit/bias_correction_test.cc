// FastBiasCorrection / BiasCorrection reduce the output error of a quantized conv model; saturation_fix gives the
// first layer 7-bit weights.
#include "algorithms/bias_correction.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/random.h"
#include "ir/graph.h"
#include "quac/session.h"
#include "quant/calibrate.h"
#include "quant/placement.h"
#include "test_model_builder.h"

namespace quac {
namespace {

// Biases of magnitude 0.5 to 1.3 and both signs, so that the relative shifts stay below FastBiasCorrection's threshold.
Tensor bias(int64_t n, float offset) {
  std::vector<float> v;
  for (int64_t c = 0; c < n; ++c) v.push_back((c % 2 ? -1.0f : 1.0f) * (0.5f + offset + 0.1f * static_cast<float>(c)));
  return Tensor::from_vector<float>({n}, v);
}

// x -> Conv(w1, b1) -> Relu -> Conv(w2, b2) -> Relu -> Conv(w3, b3) -> y
Model conv_model() {
  testing::ModelBuilder b(13);
  b.input("x", DataType::kFloat, {-1, 3, 8, 8});
  b.initializer("w1", random_tensor(DataType::kFloat, {8, 3, 3, 3}, 1, 0.4f));
  b.initializer("b1", bias(8, 0.0f));
  b.initializer("w2", random_tensor(DataType::kFloat, {8, 8, 3, 3}, 3, 0.2f));
  b.initializer("b2", bias(8, 0.1f));
  b.initializer("w3", random_tensor(DataType::kFloat, {4, 8, 1, 1}, 5, 0.4f));
  b.initializer("b3", bias(4, 0.2f));
  auto pads = ir::make_ints_attr("pads", {1, 1, 1, 1});
  b.node("Conv", {"x", "w1", "b1"}, {"c1"}, {pads});
  b.node("Relu", {"c1"}, {"r1"});
  b.node("Conv", {"r1", "w2", "b2"}, {"c2"}, {pads});
  b.node("Relu", {"c2"}, {"r2"});
  b.node("Conv", {"r2", "w3", "b3"}, {"y"});
  return b.output("y", DataType::kFloat, Shape{-1, 4, 8, 8}).build();
}

// Non-negative-mean images (as after a ReLU or pixel data): weight rounding errors then shift the output means.
class Images : public Dataset {
 public:
  explicit Images(size_t n, uint64_t seed) : n_(n), seed_(seed) {}
  size_t size() const override { return n_; }
  DataItem get(size_t i) const override {
    Tensor t = random_tensor(DataType::kFloat, {3, 8, 8}, seed_ + i);
    for (int64_t k = 0; k < t.numel(); ++k) t.data<float>()[k] = std::fabs(t.data<float>()[k]) + 0.5f;
    return {{t}, {}, {}};
  }
  std::string describe() const override { return "images"; }

 private:
  size_t n_;
  uint64_t seed_;
};

Model quantize(const Model& model, int bits, const Dataset& calib) {
  auto scope = std::make_shared<quant::QuantizationScope>(
      quant::place_quantizers(model.ir().graph, {.weight_bits = bits, .activation_bits = 8, .saturation_fix = "no"}));
  quant::collect_activation_ranges(model, calib, *scope,
                                   {.stat_subset_size = calib.size(), .num_threads = 1, .progress = false});
  quant::compute_weight_ranges(model.ir().graph, *scope);
  quant::compute_parameters(*scope, "performance");
  return model.with_scope(scope);
}

// Mean squared error against the FP32 model, and the mean |per-channel mean error|, on held-out data.
std::pair<double, double> output_error(const Model& fp32, const Model& q, const Dataset& data) {
  SessionOptions one;
  one.num_threads = 1;
  Session a(fp32, one), b(q, one);
  double se = 0, n = 0;
  std::vector<double> bias(4, 0.0);
  for (size_t i = 0; i < data.size(); ++i) {
    Tensor x = data.get(i).inputs[0].reshaped({1, 3, 8, 8});
    Tensor ya = a.run(std::vector<Tensor>{x})[0], yb = b.run(std::vector<Tensor>{x})[0];
    for (int64_t k = 0; k < ya.numel(); ++k) {
      double d = double(yb.data<float>()[k]) - ya.data<float>()[k];
      se += d * d;
      bias[static_cast<size_t>(k / 64)] += d;
      n += 1;
    }
  }
  double mb = 0;
  for (double b0 : bias) mb += std::fabs(b0 / (n / 4));
  return {se / n, mb / 4};
}

TEST(BiasCorrection, FastBiasCorrectionReducesOutputError) {
  Model fp32 = conv_model();
  Images calib(64, 100), held_out(64, 5000);
  Model q = quantize(fp32, 4, calib);  // 4-bit weights: a clear systematic shift to correct
  size_t corrected = 0;
  Model fixed = algorithms::fast_bias_correction(q, calib, {.stat_subset_size = 64, .num_threads = 1}, &corrected);
  EXPECT_EQ(corrected, 3u);
  auto [mse_q, bias_q] = output_error(fp32, q, held_out);
  auto [mse_f, bias_f] = output_error(fp32, fixed, held_out);
  EXPECT_LT(bias_f, 0.5 * bias_q) << "mean shift " << bias_q << " -> " << bias_f;
  EXPECT_LT(mse_f, 0.95 * mse_q) << "mse " << mse_q << " -> " << mse_f;
  // The FP32 graph of the input model is untouched; the scope is kept.
  EXPECT_EQ(fixed.scope(), q.scope());
  const float* b_old = q.ir().graph.initializer("b3")->data<float>();
  const float* b_new = fixed.ir().graph.initializer("b3")->data<float>();
  double moved = 0;
  for (int c = 0; c < 4; ++c) moved += std::fabs(b_new[c] - b_old[c]);
  EXPECT_GT(moved, 0.0);
}

TEST(BiasCorrection, ThresholdSkipsLargeRelativeShifts) {
  Model fp32 = conv_model();
  Images calib(32, 100);
  Model q = quantize(fp32, 4, calib);
  size_t corrected = 0;
  algorithms::fast_bias_correction(q, calib, {.stat_subset_size = 32, .threshold = 1e-9, .num_threads = 1}, &corrected);
  EXPECT_EQ(corrected, 0u);
}

TEST(BiasCorrection, SequentialBiasCorrectionReducesOutputError) {
  Model fp32 = conv_model();
  Images calib(64, 100), held_out(64, 5000);
  Model q = quantize(fp32, 4, calib);
  size_t corrected = 0;
  Model fixed = algorithms::bias_correction(q, calib, {.stat_subset_size = 64, .num_threads = 1}, &corrected);
  EXPECT_EQ(corrected, 3u);
  auto [mse_q, bias_q] = output_error(fp32, q, held_out);
  auto [mse_f, bias_f] = output_error(fp32, fixed, held_out);
  EXPECT_LT(bias_f, 0.5 * bias_q);
  EXPECT_LT(mse_f, 0.95 * mse_q);
}

TEST(BiasCorrection, NotQuantizedIsUnchanged) {
  Model fp32 = conv_model();
  Images calib(8, 1);
  Model out = algorithms::fast_bias_correction(fp32, calib, {});
  EXPECT_EQ(out.ir_ptr(), fp32.ir_ptr());
}

TEST(SaturationFix, SevenBitWeightsWhereItApplies) {
  Model model = conv_model();
  auto levels = [&](const std::string& fix, const std::string& device) {
    auto scope = quant::place_quantizers(model.ir().graph, {.target_device = device, .saturation_fix = fix});
    std::vector<int64_t> out;
    for (const auto& q : scope.quantizers)
      if (q.is_weight) out.push_back(q.spec.level_high);
    return out;
  };
  EXPECT_EQ(levels("first_layer", "CPU"), (std::vector<int64_t>{63, 127, 127}));
  EXPECT_EQ(levels("all", "ANY"), (std::vector<int64_t>{63, 63, 63}));
  EXPECT_EQ(levels("no", "CPU"), (std::vector<int64_t>{127, 127, 127}));
  EXPECT_EQ(levels("all", "GPU"), (std::vector<int64_t>{127, 127, 127}));
  EXPECT_THROW(quant::place_quantizers(model.ir().graph, {.saturation_fix = "some"}), Error);
}

}  // namespace
}  // namespace quac
