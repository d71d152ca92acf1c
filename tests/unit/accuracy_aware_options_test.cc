// AccuracyAwareQuantization's options beyond the search loop, on the small in-memory model: tune_hyperparams (POT's
// whole grid), convert_to_mixed_preset (when it is tried, what the search continues from), and latency in the result
// (the slow-down warnings, the final table).
#include <gtest/gtest.h>

#include <memory>
#include <set>

#include "accuracy_aware_fixture.h"
#include "algorithms/accuracy_aware_util.h"
#include "quac/accuracy_aware.h"
#include "search/model_evaluator.h"

namespace quac {
namespace {

using testing::kBase;
using testing::labelled_engine;
using testing::small_model;

TEST(TuneHyperparams, ScoresPotsWholeGridAndKeepsTheBest) {
  Model model = small_model();
  auto engine = labelled_engine(model, 32);
  algorithms::AccuracyAwareParams p;
  p.base_params = kBase;
  p.base_params["stat_subset_size"] = 8;
  p.search.ranking_subset_size = 12;
  Model q = algorithms::make_base_algorithm("DefaultQuantization", p.base_params, "test")->run(model, *engine);
  search::ModelSearchEvaluator ev(model, q, engine->dataset_ptr(), *engine->metric(), {.num_threads = 1});
  algorithms::TuneResult t = algorithms::tune_hyperparams(model, ev, *engine, *engine, engine->dataset_ptr(), p);
  // The configuration as given, then min {min, quantile 1e-3, 1e-4} x max {max, quantile 1e-3, 1e-4} x fast bias
  // {on, off}: 18 distinct candidates.
  ASSERT_EQ(t.candidates.size(), 19u) << t.candidates.dump();
  EXPECT_EQ(t.candidates[0]["range_estimator"], "as configured");
  std::set<std::string> grid;
  std::set<bool> fast_bias;
  double best = t.candidates[0]["score"].get<double>();
  nlohmann::json best_candidate;
  for (size_t k = 1; k < t.candidates.size(); ++k) {
    const auto& c = t.candidates[k];
    grid.insert(c["range_estimator"].dump() + c["use_fast_bias"].dump());
    fast_bias.insert(c["use_fast_bias"].get<bool>());
    if (c["score"].get<double>() > best + 1e-12) best = c["score"].get<double>(), best_candidate = c;
  }
  EXPECT_EQ(grid.size(), 18u);
  EXPECT_EQ(fast_bias, std::set<bool>({true, false}));
  // The chosen parameters are those of the best-scoring candidate (or the configuration as given).
  if (best_candidate.is_null()) {
    EXPECT_EQ(t.params, p.base_params);
  } else {
    EXPECT_EQ(t.params["activations"]["range_estimator"], best_candidate["range_estimator"]);
    EXPECT_EQ(t.params["use_fast_bias"], best_candidate["use_fast_bias"]);
  }
  EXPECT_NE(t.note.find("19 candidates"), std::string::npos) << t.note;
  EXPECT_GT(t.inferences, 18u * 12u - 1);

  // MinMaxQuantization applies no bias correction: only the range half of the grid.
  p.base_algorithm = "MinMaxQuantization";
  algorithms::TuneResult m = algorithms::tune_hyperparams(model, ev, *engine, *engine, engine->dataset_ptr(), p);
  EXPECT_EQ(m.candidates.size(), 10u);
}

// A metric that is never over budget; its name sorts before "top1".
class AlwaysRight : public PerSampleMetric {
 public:
  AlwaysRight() : PerSampleMetric("always", {}) {}

 protected:
  std::vector<double> compute(const std::vector<Tensor>&, const std::vector<Tensor>& annotations) override {
    return std::vector<double>(annotations.size(), 1.0);
  }
};

TEST(TuneHyperparams, ScoresOnTheMetricFurthestOverBudget) {
  Model model = small_model();
  auto base = labelled_engine(model, 32);
  std::vector<std::unique_ptr<Metric>> parts;
  parts.push_back(std::make_unique<AlwaysRight>());
  parts.push_back(create_metric("top1"));
  auto engine = std::make_shared<Engine>(base->dataset_ptr(), std::make_shared<CompositeMetric>(std::move(parts)),
                                         base->options());
  algorithms::AccuracyAwareParams p;
  p.base_params = kBase;
  p.base_params["stat_subset_size"] = 8;
  p.base_algorithm = "MinMaxQuantization";
  p.search.maximal_drop = 0.0;
  Model q = algorithms::make_base_algorithm(p.base_algorithm, p.base_params, "test")->run(model, *engine);
  search::ModelSearchEvaluator ev(model, q, engine->dataset_ptr(), *engine->metric(), {.num_threads = 1});
  algorithms::TuneResult t = algorithms::tune_hyperparams(model, ev, *engine, *engine, engine->dataset_ptr(), p);
  EXPECT_NE(t.note.find("scored by top1"), std::string::npos) << t.note;
}

std::string notes_of(const AccuracyAwareResult& r) { return r.report["notes"].dump(); }

TEST(ConvertToMixedPreset, OverBudgetTheSearchContinuesFromTheMixedModel) {
  Model model = small_model();
  auto engine = labelled_engine(model);
  nlohmann::json params = kBase;
  params["maximal_drop"] = 0.0;
  params["convert_to_mixed_preset"] = true;
  AccuracyAwareResult r = accuracy_aware_quantization(model, *engine, params, {.measure_latency = false});
  EXPECT_NE(notes_of(r).find("continuing with mixed"), std::string::npos) << notes_of(r);
  EXPECT_EQ(r.report["base_params"]["preset"], "mixed");
  // "Full INT8" in the report, where the search started, is the mixed-preset model: quantize it independently.
  nlohmann::json mixed = kBase;
  mixed["preset"] = "mixed";
  Model q_mixed = create_pipeline({{"DefaultQuantization", mixed}}, engine)->run(model);
  double top1 = engine->evaluate(q_mixed).metrics.at("top1");
  EXPECT_DOUBLE_EQ(r.report["result"]["int8"]["metrics"]["top1"].get<double>(), top1);
  EXPECT_DOUBLE_EQ(r.report["preset_retry"]["mixed"]["top1"].get<double>(), top1);
  // The returned model carries asymmetric activations, unless everything was reverted.
  bool asymmetric = false;
  for (const auto& q : r.model.scope()->quantizers) asymmetric = asymmetric || (!q.is_weight && !q.spec.symmetric);
  if (r.model.scope()->active_groups() > 0) EXPECT_TRUE(asymmetric);
}

TEST(ConvertToMixedPreset, NotTriedWithinBudgetNorWhenAlreadyMixed) {
  Model model = small_model();
  auto engine = labelled_engine(model, 32);
  nlohmann::json params = kBase;
  params["convert_to_mixed_preset"] = true;
  params["maximal_drop"] = 1.0;  // full INT8 is within budget: POT returns it at once
  AccuracyAwareResult r = accuracy_aware_quantization(model, *engine, params, {.measure_latency = false});
  EXPECT_EQ(notes_of(r).find("convert_to_mixed_preset"), std::string::npos) << notes_of(r);
  EXPECT_EQ(r.report["base_params"].value("preset", "performance"), "performance");
  EXPECT_FALSE(r.report.contains("preset_retry"));
  params["maximal_drop"] = 0.0;
  params["preset"] = "mixed";
  r = accuracy_aware_quantization(model, *engine, params, {.measure_latency = false});
  EXPECT_NE(notes_of(r).find("nothing to convert"), std::string::npos) << notes_of(r);
}

AccuracyAwareResult with_latencies(double fp32, double int8, double result, std::vector<std::string>* warnings,
                                   std::vector<std::string>* log) {
  Model model = small_model();
  auto engine = labelled_engine(model, 16);
  nlohmann::json params = kBase;
  params["maximal_drop"] = 1.0;
  AccuracyAwareOptions o;
  o.latency = [=](const Model&, const std::string& which) {
    return which == "fp32" ? fp32 : which == "int8" ? int8 : result;
  };
  o.warn = [warnings](const std::string& w) { warnings->push_back(w); };
  o.log = [log](const std::string& w) { log->push_back(w); };
  return accuracy_aware_quantization(model, *engine, params, o);
}

TEST(AccuracyAwareLatency, ASlowerResultIsWarnedAboutInTheReportTheLogAndTheTable) {
  std::vector<std::string> warnings, log;
  AccuracyAwareResult r = with_latencies(1.0, 1.5, 1.2, &warnings, &log);
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_NE(warnings[0].find("not faster than FP32"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[1].find("full INT8 (1.500 ms) is not faster than FP32"), std::string::npos) << warnings[1];
  EXPECT_NE(notes_of(r).find("the result (1.200 ms) is not faster than FP32 (1.000 ms)"), std::string::npos);
  const auto& lat = r.report["result"]["latency"];
  EXPECT_EQ(lat["faster_than_fp32"], false);
  EXPECT_NEAR(lat["speedup_vs_fp32"].get<double>(), 1.0 / 1.2, 1e-12);
  EXPECT_EQ(r.report["result"]["result"]["latency_ms"], 1.2);
  std::string table = accuracy_report_table(r.report);
  EXPECT_NE(table.find("The result is NOT faster than FP32: 0.83x"), std::string::npos) << table;
  EXPECT_NE(accuracy_report_html(r.report).find("NOT faster than FP32"), std::string::npos);
  // Without a warn callback, warnings go to the log.
  Model model = small_model();
  auto engine = labelled_engine(model, 16);
  AccuracyAwareOptions o;
  o.latency = [](const Model&, const std::string& which) { return which == "fp32" ? 1.0 : 2.0; };
  std::vector<std::string> lines;
  o.log = [&](const std::string& w) { lines.push_back(w); };
  accuracy_aware_quantization(model, *engine, {{"maximal_drop", 1.0}, {"stat_subset_size", 8}}, o);
  bool logged = false;
  for (const auto& l : lines) logged = logged || l.find("warning: the result") != std::string::npos;
  EXPECT_TRUE(logged);
}

TEST(AccuracyAwareLatency, AFasterResultIsNotWarnedAbout) {
  std::vector<std::string> warnings, log;
  AccuracyAwareResult r = with_latencies(2.0, 1.0, 1.6, &warnings, &log);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(notes_of(r).find("warning"), std::string::npos);
  EXPECT_EQ(r.report["result"]["latency"]["faster_than_fp32"], true);
  EXPECT_NE(accuracy_report_table(r.report).find("The result is faster than FP32: 1.25x"), std::string::npos);
}

TEST(AccuracyAwareLatency, NoisyMeasurementsAreWarnedAbout) {
  algorithms::LatencyTriple l{.fp32 = 1.0, .int8 = 0.5, .result = 0.8, .method = "test", .spread = 1.5};
  EXPECT_TRUE(algorithms::latency_warnings(l).empty());
  l.spread = 3;
  auto w = algorithms::latency_warnings(l);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("latency measurements are noisy (a median 3.0x the fastest run)"), std::string::npos) << w[0];
}

TEST(AccuracyAwareLatency, MeasuredLatencyIsAMedianOfInterleavedRunsAfterWarmUp) {
  Model model = small_model();
  auto engine = labelled_engine(model, 4);
  size_t rounds = 0;
  double spread = 0;
  std::vector<double> ms =
      algorithms::measure_latencies_ms({model, model}, engine->dataset(), 1, 7, 0.0, &rounds, &spread);
  EXPECT_GE(spread, 1.0);
  ASSERT_EQ(ms.size(), 2u);
  EXPECT_GT(ms[0], 0);
  EXPECT_GT(ms[1], 0);
  EXPECT_EQ(rounds, 7u);  // a zero time budget still runs the minimum number of rounds
  AccuracyAwareResult r = accuracy_aware_quantization(model, *engine, {{"maximal_drop", 1.0}, {"stat_subset_size", 4}});
  const auto& res = r.report["result"];
  for (const char* key : {"fp32", "int8", "result"}) EXPECT_GT(res[key]["latency_ms"].get<double>(), 0) << key;
  EXPECT_NE(res["latency"]["method"].get<std::string>().find("interleaved"), std::string::npos);
  EXPECT_TRUE(res["latency"]["faster_than_fp32"].is_boolean());
}

}  // namespace
}  // namespace quac
