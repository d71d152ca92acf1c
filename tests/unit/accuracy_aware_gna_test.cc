// The GNA variant of AccuracyAwareQuantization (POT's AccuracyAwareGNA): the baseline is the INT16 model, and
// reverting a quantizer group raises its weights from INT8 to INT16 instead of removing its quantizers.
#include <gtest/gtest.h>

#include <algorithm>

#include "accuracy_aware_fixture.h"
#include "core/random.h"
#include "quac/accuracy_aware.h"
#include "quac/metric.h"
#include "quac/pipeline.h"
#include "quac/session.h"
#include "quant/scope.h"
#include "search/model_evaluator.h"
#include "test_model_builder.h"

namespace quac {
namespace {

// The shared test model without conv biases, and its own labelled items.
Model small_model() { return testing::small_model(false); }

std::shared_ptr<Engine> labelled_engine(const Model& model, size_t n = 64) {
  return testing::labelled_engine(model, n, 300);
}

// GNA with 3-bit weights (the INT8 stand-in that visibly breaks the labels); activations are GNA's 16 bits.
const nlohmann::json kGna = {
    {"target_device", "GNA"}, {"stat_subset_size", 32}, {"use_fast_bias", false}, {"weights", {{"bits", 3}}}};

TEST(AccuracyAwareGna, RevertRaisesTheGroupsWeightsTo16Bits) {
  Model model = small_model();
  auto engine = labelled_engine(model, 16);
  Model q = create_pipeline({{"DefaultQuantization", kGna}}, engine)->run(model);
  nlohmann::json int16 = kGna;
  int16["preset"] = "accuracy";
  int16["weights"]["bits"] = 16;
  Model reference = create_pipeline({{"DefaultQuantization", int16}}, engine)->run(model);
  search::ModelSearchEvaluator ev(reference, q, engine->dataset_ptr(), *engine->metric(),
                                  {.num_threads = 1, .restore_mode = "int16_weights"});
  EXPECT_EQ(ev.revertible_groups().size(), 3u);
  quant::QuantizationScope s = search::scope_without(*q.scope(), {1}, "int16_weights");
  ASSERT_EQ(s.quantizers.size(), q.scope()->quantizers.size()) << "nothing is removed";
  for (size_t i = 0; i < s.quantizers.size(); ++i) {
    const auto &a = q.scope()->quantizers[i], &b = s.quantizers[i];
    bool raised = a.is_weight && a.group == 1;
    EXPECT_EQ(b.spec.bits, raised ? 16 : a.spec.bits) << a.value;
    if (raised) {
      EXPECT_EQ(b.spec.level_high, 32767);
      EXPECT_LT(b.scale[0], a.scale[0] / 1000);  // the same range over 2^13 times more levels
    } else {
      EXPECT_EQ(b.scale, a.scale) << a.value;
    }
    if (!a.is_weight) EXPECT_EQ(a.spec.bits, 16) << "GNA activations";
  }
  // Once raised, a group is no longer revertible.
  Model raised = q.with_scope(std::make_shared<quant::QuantizationScope>(s));
  search::ModelSearchEvaluator ev2(reference, raised, engine->dataset_ptr(), *engine->metric(),
                                   {.num_threads = 1, .restore_mode = "int16_weights"});
  EXPECT_EQ(ev2.revertible_groups().size(), 2u);
  // Raising every group gives the INT16 model (its biases included: they were corrected for INT16 weights), much
  // closer to FP32 than the 3-bit one.
  Tensor x = random_tensor(DataType::kFloat, {4, 2, 6, 6}, 9);
  auto err = [&](const Model& m) {
    Tensor a = Session(model).run(std::vector<Tensor>{x})[0], b = Session(m).run(std::vector<Tensor>{x})[0];
    double e = 0;
    for (int64_t i = 0; i < a.numel(); ++i) e += std::pow(a.data<float>()[i] - b.data<float>()[i], 2);
    return e;
  };
  std::vector<size_t> all = ev.revertible_groups();
  Model all_raised = ev.variant({all.begin(), all.end()});
  EXPECT_LT(err(all_raised), err(q) / 10);
  Tensor a = Session(reference).run(std::vector<Tensor>{x})[0], b = Session(all_raised).run(std::vector<Tensor>{x})[0];
  for (int64_t i = 0; i < a.numel(); ++i) EXPECT_FLOAT_EQ(a.data<float>()[i], b.data<float>()[i]) << i;
}

TEST(AccuracyAwareGna, MeetsTheBudgetAgainstTheInt16BaselineWithoutRemovingQuantizers) {
  Model model = small_model();
  auto engine = labelled_engine(model);
  nlohmann::json params = kGna;
  params["maximal_drop"] = 0.0;
  params["ranking_subset_size"] = 16;
  AccuracyAwareResult r = accuracy_aware_quantization(model, *engine, params, {.measure_latency = false});
  EXPECT_TRUE(r.budget_met) << r.summary;
  const auto& res = r.report["result"];
  // The baseline is the INT16 model's (nearly FP32's 1.0), not FP32's.
  double baseline = res["fp32"]["metrics"]["top1"].get<double>();
  EXPECT_GE(baseline, 0.95);
  EXPECT_LT(res["int8"]["metrics"]["top1"].get<double>(), baseline);
  EXPECT_GE(res["result"]["metrics"]["top1"].get<double>(), baseline);
  size_t reverted = res["groups_reverted"].get<size_t>();
  EXPECT_GE(reverted, 1u);
  EXPECT_NE(r.report["notes"].dump().find("target_device GNA"), std::string::npos);
  // Every quantizer is still there; exactly the reverted groups' weights are 16-bit, activations all 16-bit.
  const auto& scope = *r.model.scope();
  EXPECT_EQ(scope.active_groups(), 3u);
  size_t wide_weights = 0, weights = 0;
  for (const auto& q : scope.quantizers) {
    if (!q.is_weight) {
      EXPECT_EQ(q.spec.bits, 16);
      continue;
    }
    ++weights;
    wide_weights += q.spec.bits == 16;
  }
  EXPECT_EQ(weights, 3u);
  EXPECT_EQ(wide_weights, reverted);
  EXPECT_GE(engine->evaluate(r.model).metrics.at("top1"), baseline);
}

TEST(AccuracyAwareGna, OptionsThatDoNotApplyAreRefused) {
  Model model = small_model();
  auto engine = labelled_engine(model, 8);
  for (const char* key : {"annotation_free", "convert_to_mixed_preset"}) {
    nlohmann::json params = kGna;
    params[key] = true;
    EXPECT_THROW(accuracy_aware_quantization(model, *engine, params, {.measure_latency = false}), Error) << key;
  }
  nlohmann::json params = kGna;
  params["restore_mode"] = "only_activations";
  EXPECT_THROW(accuracy_aware_quantization(model, *engine, params, {.measure_latency = false}), Error);
}

}  // namespace
}  // namespace quac
