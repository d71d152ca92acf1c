// The accuracy-aware search loop against a scripted mock evaluator (no model): budget, ranking subset, revert,
// tolerate once, step back, re-rank, max_iter_num, relative drop, higher-worse metrics, two metrics, an unreachable
// budget; then the AccuracyAwareQuantization algorithm on a small in-memory model.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>

#include "algorithms/default_quantization.h"
#include "search/accuracy_search.h"

namespace quac::search {
namespace {

using Removed = std::set<size_t>;

// Scripted accuracies per scope: `full(removed)` is the metric on the whole set, `subset(removed)` on the ranking
// subset (default: the same). Per-sample values: the reference gets every item right; the fully quantized model gets
// the first `wrong_items` items wrong, so those must form the ranking subset.
class MockEvaluator : public SearchEvaluator {
 public:
  size_t n = 100;
  size_t wrong_items = 10;
  std::vector<size_t> groups = {0, 1, 2, 3};
  std::map<std::string, double> reference = {{"acc", 0.9}};
  std::map<std::string, std::string> direction;  // default higher-better
  std::function<std::map<std::string, double>(const Removed&)> full;
  std::function<std::map<std::string, double>(const Removed&)> subset;
  std::set<std::string> no_per_sample;  // metrics with no per-sample values
  std::set<std::string> proxy_only;     // per-item values given, but the metric says they mean nothing (mAP, IoU)
  std::vector<EvalRequest> requests;

  size_t size() const override { return n; }
  std::vector<size_t> revertible_groups() const override { return groups; }
  std::map<std::string, MetricAttributes> metric_attributes() const override {
    std::map<std::string, MetricAttributes> a;
    for (const auto& [name, v] : reference) {
      a[name] = {direction.count(name) ? direction.at(name) : "higher-better", "accuracy"};
      a[name].per_sample = !proxy_only.count(name);
    }
    return a;
  }
  EvalResult evaluate(const EvalRequest& r) override {
    requests.push_back(r);
    EvalResult e;
    std::vector<size_t> idx = r.indices;
    if (idx.empty())
      for (size_t i = 0; i < n; ++i) idx.push_back(i);
    e.items = idx.size();
    bool is_subset = !r.indices.empty() && !r.reference;
    e.metrics = r.reference ? reference : (is_subset && subset ? subset(r.removed) : full(r.removed));
    for (const auto& [name, v] : e.metrics) {
      if (no_per_sample.count(name)) continue;
      bool worse_is_higher = direction.count(name) && direction.at(name) == "higher-worse";
      for (size_t i : idx) {
        bool wrong = !r.reference && r.removed.empty() && i < wrong_items;
        e.per_sample[name].push_back(wrong == worse_is_higher ? 1.0 : 0.0);
      }
    }
    if (r.keep_outputs)
      for (size_t i : idx) {
        // Reference logits favour class 0; the quantized model drifts on the first `wrong_items` items.
        float drift = (!r.reference && i < wrong_items) ? 2.0f - 0.5f * static_cast<float>(r.removed.size()) : 0.0f;
        e.outputs.push_back({Tensor::from_vector<float>({3}, {3.0f - drift, 1.0f + drift, 0.5f})});
      }
    return e;
  }
  size_t count_ranking_requests() const {
    size_t k = 0;
    for (const auto& r : requests) k += !r.reference && !r.indices.empty();
    return k;
  }
};

std::vector<std::string> decisions(const SearchResult& r) {
  std::vector<std::string> d;
  for (const auto& e : r.evaluations)
    if (e.phase == "revert") d.push_back(e.decision);
  return d;
}

TEST(AccuracySearch, WithinBudgetAtOnceNeedsNoRanking) {
  MockEvaluator ev;
  ev.full = [](const Removed&) { return std::map<std::string, double>{{"acc", 0.895}}; };
  SearchResult r = run_search(ev, {});
  EXPECT_TRUE(r.budget_met);
  EXPECT_TRUE(r.removed.empty());
  EXPECT_EQ(r.iterations, 0);
  EXPECT_EQ(ev.count_ranking_requests(), 0u);
  EXPECT_EQ(r.inferences, 200u);  // reference + INT8 on 100 items
  EXPECT_NEAR(r.result_drops.at("acc"), 0.005, 1e-12);
}

TEST(AccuracySearch, RevertsTheTopRankedGroup) {
  MockEvaluator ev;
  ev.full = [](const Removed& s) { return std::map<std::string, double>{{"acc", s.count(2) ? 0.895 : 0.85}}; };
  SearchOptions o;
  o.ranking_subset_size = 10;
  SearchResult r = run_search(ev, o);
  EXPECT_TRUE(r.budget_met);
  EXPECT_EQ(r.removed, Removed({2}));
  EXPECT_EQ(r.iterations, 1);
  // The ranking subset is the 10 items the INT8 model got wrong, and the ranking touched only those.
  EXPECT_EQ(r.ranking_subset, std::vector<size_t>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  for (const auto& req : ev.requests)
    if (!req.reference && !req.indices.empty()) EXPECT_EQ(req.indices, r.ranking_subset);
  ASSERT_EQ(r.rankings.size(), 1u);
  EXPECT_EQ(r.rankings[0].scores.front().first, 2u);
  EXPECT_EQ(r.rankings[0].scores.size(), 4u);
  // FP32 is evaluated once, on the whole set; inferences: 2 x 100 full + 4 x 10 ranking + 100 after the revert.
  size_t reference_runs = 0;
  for (const auto& req : ev.requests) reference_runs += req.reference;
  EXPECT_EQ(reference_runs, 1u);
  EXPECT_EQ(r.inferences, 340u);
  EXPECT_EQ(decisions(r), std::vector<std::string>({"within budget"}));
}

// The whole search's progress on stderr: phase, iteration, items done and time left, from the items still ahead (a
// typical iteration: the ranking subset for every group, then a check on the whole set) at the measured speed.
TEST(AccuracySearch, ProgressLinesGiveTheWholeSearchsTimeLeft) {
  MockEvaluator ev;
  ev.full = [](const Removed& s) { return std::map<std::string, double>{{"acc", s.count(2) ? 0.895 : 0.85}}; };
  SearchOptions o;
  o.ranking_subset_size = 10;
  o.progress = true;
  ::testing::internal::CaptureStderr();
  run_search(ev, o);
  std::string err = ::testing::internal::GetCapturedStderr();
  // Ahead of the reference: 100 + 100 (INT8) + 4 groups x 10 items + at most 4 iterations x 100 items.
  for (const char* line :
       {"search, iteration 0 of at most 4: evaluate reference on 100 items; 0 items done in 0:00; "
        "640 items left",
        "search, iteration 0 of at most 4: evaluate INT8 on 100 items; 100 items done in ",
        "left at most (540 items at ",
        "search, iteration 0 of at most 4: rank 4 groups on 10 items; 200 items done in ",
        "left at most (440 items at ",
        "search, iteration 1 of at most 4: revert group 2, check on 100 items; 240 items done in ",
        "left at most (400 items at ", "search, iteration 1: done (within budget); 340 items done in "})
    EXPECT_NE(err.find(line), std::string::npos) << "missing: " << line << "\nin:\n" << err;
  o.progress = false;
  ::testing::internal::CaptureStderr();
  run_search(ev, o);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  // verbose (--log-level debug): every group's ranking score in the log.
  std::vector<std::string> log;
  o.log = [&](const std::string& line) { log.push_back(line); };
  o.verbose = true;
  run_search(ev, o);
  EXPECT_NE(std::find(log.begin(), log.end(), "  rank 1: group 2, score 0.895"), log.end());
  EXPECT_EQ(std::count_if(log.begin(), log.end(), [](const std::string& l) { return l.rfind("  rank ", 0) == 0; }), 4);
}

TEST(AccuracySearch, ContinuesDownTheRankingWhileItImproves) {
  MockEvaluator ev;
  // Group 0 ranks first (subset score), 1 second; both are needed.
  ev.full = [](const Removed& s) {
    return std::map<std::string, double>{{"acc", 0.85 + 0.02 * s.count(0) + 0.03 * s.count(1)}};
  };
  ev.subset = [](const Removed& s) {
    return std::map<std::string, double>{{"acc", 0.3 + 0.2 * s.count(0) + 0.1 * s.count(1)}};
  };
  SearchResult r = run_search(ev, {});
  EXPECT_TRUE(r.budget_met);
  EXPECT_EQ(r.removed, Removed({0, 1}));
  EXPECT_EQ(r.rankings.size(), 1u);  // no re-ranking while each revert helps
  EXPECT_EQ(decisions(r), std::vector<std::string>({"better", "within budget"}));
}

TEST(AccuracySearch, ToleratesOnceThenStepsBackAndReRanks) {
  MockEvaluator ev;
  // The subset ranks 0, 1, 3, 2 but on the whole set group 0 helps, 1 and 3 hurt, and 2 is what is needed.
  ev.subset = [](const Removed& s) {
    return std::map<std::string, double>{
        {"acc", 0.3 + 0.4 * s.count(0) + 0.3 * s.count(1) + 0.2 * s.count(3) + 0.1 * s.count(2)}};
  };
  ev.full = [](const Removed& s) {
    return std::map<std::string, double>{
        {"acc", 0.85 + 0.01 * s.count(0) - 0.01 * s.count(1) - 0.005 * s.count(3) + 0.035 * s.count(2)}};
  };
  SearchResult r = run_search(ev, {});
  EXPECT_TRUE(r.budget_met);
  EXPECT_EQ(r.removed, Removed({0, 2}));
  EXPECT_EQ(decisions(r),
            std::vector<std::string>({"better", "worse, tolerated once", "worse again, step back", "within budget"}));
  ASSERT_EQ(r.rankings.size(), 2u);
  // The re-ranking ran on the model the search stepped back to ({0} reverted), without the groups that hurt.
  ASSERT_EQ(r.rankings[1].scores.size(), 1u);
  EXPECT_EQ(r.rankings[1].scores[0].first, 2u);
  bool reranked_on_anchor = false;
  for (const auto& req : ev.requests)
    reranked_on_anchor = reranked_on_anchor || (!req.indices.empty() && !req.reference && req.removed == Removed{0, 2});
  EXPECT_TRUE(reranked_on_anchor);
}

TEST(AccuracySearch, WithoutStepBackKeepsEveryRevert) {
  MockEvaluator ev;
  ev.subset = [](const Removed& s) {
    return std::map<std::string, double>{{"acc", 0.3 + 0.4 * s.count(0) + 0.3 * s.count(1) + 0.1 * s.count(2)}};
  };
  ev.full = [](const Removed& s) {
    return std::map<std::string, double>{{"acc", 0.85 - 0.01 * s.count(0) - 0.01 * s.count(1) + 0.07 * s.count(2)}};
  };
  SearchOptions o;
  o.use_prev_if_drop_increase = false;
  SearchResult r = run_search(ev, o);
  EXPECT_TRUE(r.budget_met);
  EXPECT_EQ(r.removed, Removed({0, 1, 2}));
  EXPECT_EQ(r.rankings.size(), 1u);
}

TEST(AccuracySearch, StopsAtMaxIterNumWithTheBestModel) {
  MockEvaluator ev;
  ev.full = [](const Removed& s) { return std::map<std::string, double>{{"acc", 0.8 + 0.01 * s.size()}}; };
  SearchOptions o;
  o.max_iter_num = 2;
  SearchResult r = run_search(ev, o);
  EXPECT_FALSE(r.budget_met);
  EXPECT_EQ(r.iterations, 2);
  EXPECT_EQ(r.removed.size(), 2u);
  EXPECT_NE(r.stop_reason.find("max_iter_num"), std::string::npos);
  EXPECT_NEAR(r.result_metrics.at("acc"), 0.82, 1e-12);
}

TEST(AccuracySearch, RelativeDropScalesTheBudgetByTheBaseline) {
  MockEvaluator ev;
  ev.reference = {{"acc", 0.5}};
  ev.full = [](const Removed& s) { return std::map<std::string, double>{{"acc", s.count(1) ? 0.496 : 0.494}}; };
  SearchOptions o;
  o.drop_type = "relative";  // allowed: 0.005
  SearchResult r = run_search(ev, o);
  EXPECT_TRUE(r.budget_met);
  EXPECT_NEAR(r.allowed_drops.at("acc"), 0.005, 1e-12);
  EXPECT_EQ(r.removed, Removed({1}));
  o.drop_type = "absolute";  // allowed 0.01: the INT8 model (drop 0.006) is already fine
  MockEvaluator ev2 = ev;
  EXPECT_TRUE(run_search(ev2, o).removed.empty());
}

TEST(AccuracySearch, HigherWorseMetric) {
  MockEvaluator ev;
  ev.reference = {{"mse", 0.10}};
  ev.direction = {{"mse", "higher-worse"}};
  ev.full = [](const Removed& s) { return std::map<std::string, double>{{"mse", s.count(3) ? 0.105 : 0.2}}; };
  ev.subset = [](const Removed& s) { return std::map<std::string, double>{{"mse", s.count(3) ? 0.1 : 0.3}}; };
  SearchResult r = run_search(ev, {});
  EXPECT_TRUE(r.budget_met);
  EXPECT_EQ(r.removed, Removed({3}));
  EXPECT_EQ(r.rankings[0].scores.front().first, 3u);  // lowest error ranks first
  EXPECT_NEAR(r.result_drops.at("mse"), 0.005, 1e-12);
  EXPECT_NEAR(r.evaluations[1].drops.at("mse"), 0.1, 1e-12);
}

TEST(AccuracySearch, EveryMetricMustBeWithinBudget) {
  MockEvaluator ev;
  ev.reference = {{"acc", 0.9}, {"mse", 0.1}};
  ev.direction = {{"mse", "higher-worse"}};
  // acc is fine from the start; mse needs groups 1 and 2. The ranking follows mse (the metric over budget).
  ev.full = [](const Removed& s) {
    return std::map<std::string, double>{{"acc", 0.899}, {"mse", 0.13 - 0.01 * s.count(1) - 0.015 * s.count(2)}};
  };
  ev.subset = [](const Removed& s) {
    return std::map<std::string, double>{{"acc", s.count(0) ? 1.0 : 0.0},
                                         {"mse", 0.5 - 0.1 * s.count(1) - 0.2 * s.count(2)}};
  };
  SearchResult r = run_search(ev, {});
  EXPECT_TRUE(r.budget_met);
  EXPECT_EQ(r.removed, Removed({1, 2}));
  EXPECT_EQ(r.rankings[0].metric, "mse");
  EXPECT_EQ(r.rankings[0].scores.front().first, 2u);
}

TEST(AccuracySearch, UnreachableBudgetReturnsTheBestModelFound) {
  MockEvaluator ev;
  // Nothing ever gets within budget; the best model is {3} (0.87), whatever comes after.
  ev.full = [](const Removed& s) {
    if (s == Removed{3}) return std::map<std::string, double>{{"acc", 0.87}};
    return std::map<std::string, double>{{"acc", 0.8 + 0.001 * s.size()}};
  };
  ev.subset = [](const Removed& s) { return std::map<std::string, double>{{"acc", s.count(3) ? 1.0 : 0.5}}; };
  SearchResult r = run_search(ev, {});
  EXPECT_FALSE(r.budget_met);
  EXPECT_EQ(r.removed, Removed({3}));
  EXPECT_NEAR(r.result_metrics.at("acc"), 0.87, 1e-12);
  EXPECT_NE(r.stop_reason.find("no group left"), std::string::npos);
}

TEST(AccuracySearch, AfterStepBacksExcludeEverythingGoesOnGreedily) {
  MockEvaluator ev;
  ev.groups = {0, 1, 2};
  // Only all three together help; each alone or in pairs looks worse, so step backs exclude them all.
  ev.full = [](const Removed& s) {
    return std::map<std::string, double>{{"acc", s.size() == 3 ? 0.9 : 0.85 - 0.01 * s.size()}};
  };
  SearchResult r = run_search(ev, {});
  EXPECT_TRUE(r.budget_met) << r.stop_reason;
  EXPECT_EQ(r.removed, Removed({0, 1, 2}));
}

TEST(AccuracySearch, GivenBaselinesSkipTheFullReferenceRun) {
  MockEvaluator ev;
  ev.full = [](const Removed& s) { return std::map<std::string, double>{{"acc", s.count(0) ? 0.915 : 0.85}}; };
  SearchOptions o;
  o.baseline_values = {{"acc", 0.92}};
  o.metric_subset_ratio = 0.3;
  o.ranking_subset_size = 3;  // compared items 0, 3, 6, 10, ...: three of them INT8 got wrong
  SearchResult r = run_search(ev, o);
  EXPECT_TRUE(r.budget_met);
  EXPECT_EQ(r.baselines.at("acc"), 0.92);
  EXPECT_EQ(ev.requests[0].indices.size(), 30u);  // the reference ran on 30% of the items only
  EXPECT_TRUE(ev.requests[0].reference);
  EXPECT_EQ(r.ranking_subset, std::vector<size_t>({0, 3, 6}));
  o.baseline_values = {{"typo", 0.9}};
  EXPECT_THROW(run_search(ev, o), Error);
}

// A search that needs two reverts, with a ranking subset of 5, on `ev` as given (its metric "acc" set up by the test).
SearchResult search_needing_two_reverts(MockEvaluator& ev, SearchOptions* o) {
  ev.full = [](const Removed& s) { return std::map<std::string, double>{{"acc", s.size() >= 2 ? 0.9 : 0.85}}; };
  o->ranking_subset_size = 5;
  return run_search(ev, *o);
}

TEST(AccuracySearch, MetricWithoutPerSampleValuesRanksByOutputDistance) {
  MockEvaluator ev;
  ev.no_per_sample = {"acc"};
  SearchOptions o;
  SearchResult r = search_needing_two_reverts(ev, &o);
  EXPECT_EQ(r.ranking_method, "cosine");
  EXPECT_TRUE(r.budget_met);
  EXPECT_EQ(r.ranking_subset.size(), 5u);
  for (size_t i : r.ranking_subset) EXPECT_LT(i, 10u);  // the drifting items
  o.ranking = "metric";
  MockEvaluator ev2 = ev;
  EXPECT_THROW(run_search(ev2, o), Error);  // no per-sample values to rank by
}

// A metric whose attributes say its per-item values have no per-sample meaning (the evaluator may still hand over
// proxies, as for mAP or mean IoU) is ranked by output distance unless the user asks for the metric.
TEST(AccuracySearch, DeclaredNonPerSampleMetricRanksByOutputDistance) {
  MockEvaluator ev;
  ev.proxy_only = {"acc"};
  SearchOptions o;
  SearchResult r = search_needing_two_reverts(ev, &o);
  EXPECT_EQ(r.ranking_method, "cosine");
  EXPECT_TRUE(r.budget_met);
}

TEST(AccuracySearch, BadOptionsAreRefusedByName) {
  MockEvaluator ev;
  ev.full = [](const Removed&) { return std::map<std::string, double>{{"acc", 0.9}}; };
  auto message = [&](SearchOptions o) {
    try {
      run_search(ev, o);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  SearchOptions o;
  o.drop_type = "percent";
  EXPECT_NE(message(o).find("drop_type"), std::string::npos);
  o = {};
  o.maximal_drop = -1;
  EXPECT_NE(message(o).find("maximal_drop"), std::string::npos);
  o = {};
  o.ranking = "l1";
  EXPECT_NE(message(o).find("ranking"), std::string::npos);
  ev.n = 0;
  EXPECT_NE(message({}).find("empty"), std::string::npos);
}

TEST(OutputDistance, CosineKlMse) {
  auto t = [](std::vector<float> v) {
    return std::vector<Tensor>{Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v)};
  };
  EXPECT_NEAR(output_distance(t({1, 2, 3}), t({2, 4, 6}), "cosine"), 0.0, 1e-12);
  EXPECT_NEAR(output_distance(t({1, 0}), t({0, 1}), "cosine"), 1.0, 1e-12);
  EXPECT_NEAR(output_distance(t({1, 2}), t({2, 4}), "mse"), 2.5, 1e-12);
  EXPECT_NEAR(output_distance(t({1, 2, 3}), t({1, 2, 3}), "kl"), 0.0, 1e-12);
  // KL(softmax([0, 0]) || softmax([0, log 3])) = 0.5 log(0.5/0.25) + 0.5 log(0.5/0.75)
  double expected = 0.5 * std::log(2.0) + 0.5 * std::log(2.0 / 3.0);
  EXPECT_NEAR(output_distance(t({0, 0}), t({0, static_cast<float>(std::log(3.0))}), "kl"), expected, 1e-6);
  EXPECT_THROW(output_distance(t({1}), t({1}), "l1"), Error);
}

}  // namespace
}  // namespace quac::search

// ---- AccuracyAwareQuantization on a small in-memory model ----
#include <filesystem>

#include "accuracy_aware_fixture.h"
#include "core/file_util.h"
#include "core/random.h"
#include "quac/accuracy_aware.h"
#include "quac/session.h"
#include "quant/scope.h"
#include "search/model_evaluator.h"

namespace quac {
namespace {

using testing::kBase;
using testing::labelled_engine;
using testing::small_model;

TEST(AccuracyAwareQuantization, MeetsAZeroBudgetByRevertingAndWritesTheReport) {
  Model model = small_model();
  auto engine = labelled_engine(model);
  nlohmann::json params = kBase;
  params["maximal_drop"] = 0.0;
  params["ranking_subset_size"] = 16;
  params["dump_intermediate_model"] = true;
  auto dir = std::filesystem::temp_directory_path() / "quac_aaq_test";
  std::filesystem::remove_all(dir);
  AccuracyAwareResult r = accuracy_aware_quantization(
      model, *engine, params, {.intermediate_dir = (dir / "steps").string(), .measure_latency = false});
  EXPECT_TRUE(r.budget_met) << r.summary;
  const auto& res = r.report["result"];
  EXPECT_EQ(res["fp32"]["metrics"]["top1"], 1.0);
  EXPECT_LT(res["int8"]["metrics"]["top1"].get<double>(), 1.0);  // 3-bit quantization breaks the labels
  EXPECT_EQ(res["result"]["metrics"]["top1"], 1.0);
  EXPECT_GE(res["groups_reverted"].get<size_t>(), 1u);
  EXPECT_EQ(res["groups_total"], 3);
  // Each group quantizes one Conv/MatMul (with its Relu): "K of M layers reverted" counts those ops.
  EXPECT_GE(res["layers_total"].get<size_t>(), 3u);
  EXPECT_GE(res["layers_reverted"].get<size_t>(), res["groups_reverted"].get<size_t>());
  EXPECT_NE(r.summary.find(res["layers_reverted"].dump() + " of " + res["layers_total"].dump() + " layers)"),
            std::string::npos)
      << r.summary;
  // The returned model is what the search measured: evaluate it independently.
  EvaluationResult check = engine->evaluate(r.model);
  EXPECT_EQ(check.metrics.at("top1"), 1.0);
  EXPECT_EQ(r.model.scope()->active_groups(), 3 - res["groups_reverted"].get<size_t>());
  // dump_intermediate_model: the full INT8 model and one file per iteration.
  EXPECT_TRUE(std::filesystem::exists(dir / "steps" / "iteration_0.onnx"));
  EXPECT_TRUE(std::filesystem::exists(dir / "steps" / ("iteration_" + res["iterations"].dump() + ".onnx")));
  write_accuracy_report(r.report, (dir / "r.json").string());
  EXPECT_NE(read_file((dir / "r.html").string()).find("<svg"), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(read_file((dir / "r.json").string()))["result"]["groups_total"], 3);
  EXPECT_THROW(write_accuracy_report(r.report, (dir / "r.html").string()), Error);
}

TEST(AccuracyAwareQuantization, RevertingEveryGroupGivesFp32EvenAfterBiasCorrection) {
  Model model = small_model();
  auto engine = labelled_engine(model);
  nlohmann::json params = kBase;
  params["use_fast_bias"] = false;  // BiasCorrection rewrites the graph's biases in place
  Model q = create_pipeline({{"DefaultQuantization", params}}, engine)->run(model);
  ASSERT_NE(q.ir_ptr(), model.ir_ptr());
  const Tensor& b_fp = model.ir().graph.initializers.at("b1");
  const Tensor& b_q = q.ir().graph.initializers.at("b1");
  bool changed = false;
  for (int64_t i = 0; i < b_fp.numel(); ++i) changed = changed || b_fp.data<float>()[i] != b_q.data<float>()[i];
  ASSERT_TRUE(changed) << "bias correction left b1 alone: this test would prove nothing";
  search::ModelSearchEvaluator ev(model, q, engine->dataset_ptr(), *engine->metric(), {.num_threads = 1});
  std::vector<size_t> groups = ev.revertible_groups();
  std::set<size_t> all(groups.begin(), groups.end());
  Tensor x = random_tensor(DataType::kFloat, {2, 2, 6, 6}, 77);
  Tensor a = Session(model, {.num_threads = 1}).run(std::vector<Tensor>{x})[0];
  Tensor b = Session(ev.variant(all), {.num_threads = 1}).run(std::vector<Tensor>{x})[0];
  for (int64_t i = 0; i < a.numel(); ++i) EXPECT_FLOAT_EQ(a.data<float>()[i], b.data<float>()[i]);
}

// Full BiasCorrection corrects each layer for the error of the quantized layers above it, so a variant with reverted
// groups gets corrections of its own: for whole-set evaluations and the returned model, once per variant, not for
// the ranking's subsets. FastBiasCorrection needs none.
TEST(AccuracyAwareQuantization, VariantsGetTheirOwnBiasCorrection) {
  Model model = small_model();
  auto engine = labelled_engine(model);
  nlohmann::json params = kBase;
  params["use_fast_bias"] = false;
  Model q = create_pipeline({{"DefaultQuantization", params}}, engine)->run(model);
  auto correct = algorithms::bias_correction_for_variants("DefaultQuantization", params, *engine);
  ASSERT_TRUE(correct);
  nlohmann::json fast = params;
  fast["use_fast_bias"] = true;
  EXPECT_FALSE(algorithms::bias_correction_for_variants("DefaultQuantization", fast, *engine));
  EXPECT_FALSE(algorithms::bias_correction_for_variants("MinMaxQuantization", kBase, *engine));
  int calls = 0;
  search::ModelEvaluatorOptions options{.num_threads = 1};
  options.requantize = [&](const Model& m) {
    ++calls;
    return correct(m);
  };
  search::ModelSearchEvaluator ev(model, q, engine->dataset_ptr(), *engine->metric(), options);
  const size_t first = ev.revertible_groups().front();
  ev.evaluate({.removed = {first}, .indices = {0, 1, 2}});
  EXPECT_EQ(calls, 0) << "a ranking subset keeps the base corrections";
  ev.evaluate({.removed = {first}});
  EXPECT_EQ(calls, 1);
  Model refreshed = ev.variant({first});
  EXPECT_EQ(calls, 1) << "one correction pass per variant";
  Model stale = ev.variant({first}, false);
  bool differs = false;
  for (const auto& [name, t] : stale.ir().graph.initializers) {
    const Tensor& r = refreshed.ir().graph.initializers.at(name);
    if (t.dtype() != DataType::kFloat) continue;
    for (int64_t i = 0; i < t.numel(); ++i) differs = differs || t.data<float>()[i] != r.data<float>()[i];
  }
  EXPECT_TRUE(differs) << "the layers below the reverted group should be corrected differently";
  EXPECT_EQ(refreshed.scope()->active_groups(), q.scope()->active_groups() - 1);
}

TEST(AccuracyAwareQuantization, OnlyActivationsKeepsTheRevertedGroupsWeightsInInt8) {
  Model model = small_model();
  auto engine = labelled_engine(model);
  nlohmann::json params = kBase;
  params["maximal_drop"] = 0.0;
  params["restore_mode"] = "only_activations";
  params["max_iter_num"] = 2;
  AccuracyAwareResult r = accuracy_aware_quantization(model, *engine, params, {.measure_latency = false});
  size_t weights = 0;
  for (const auto& q : r.model.scope()->quantizers) weights += q.is_weight;
  EXPECT_EQ(weights, 3u);  // every weight stays quantized whatever was reverted
  EXPECT_GE(r.report["result"]["groups_reverted"].get<size_t>(), 1u);
}

TEST(AccuracyAwareQuantization, RunsInAPipelineWithEveryOption) {
  Model model = small_model();
  auto engine = labelled_engine(model, 24);
  nlohmann::json plain = kBase;
  plain["maximal_drop"] = 0.05;
  Model q = create_pipeline({{"AccuracyAwareQuantization", plain}}, engine)->run(model);
  ASSERT_TRUE(q.quantized());
  nlohmann::json params = kBase;
  params.update({{"stat_subset_size", 8},
                 {"maximal_drop", 0.05},
                 {"drop_type", "relative"},
                 {"convert_to_mixed_preset", true},
                 {"tune_hyperparams", true},
                 {"annotation_free", true},
                 {"annotation_conf_threshold", 0.3},
                 {"metrics", {{{"name", "top1"}, {"baseline_value", 1.0}}}},
                 {"metric_subset_ratio", 0.5},
                 {"use_prev_if_drop_increase", false},
                 {"ranking_method", "kl"},
                 {"num_ranking_workers", 2}});
  // Every option through the API, with its report: each left its trace.
  AccuracyAwareResult r = accuracy_aware_quantization(model, *engine, params, {.measure_latency = false});
  std::string notes = r.report["notes"].dump();
  EXPECT_NE(notes.find("annotation_free: "), std::string::npos) << notes;
  EXPECT_NE(notes.find("convert_to_mixed_preset: "), std::string::npos) << notes;
  EXPECT_NE(notes.find("tune_hyperparams: "), std::string::npos) << notes;
  EXPECT_NE(notes.find("num_ranking_workers 2: "), std::string::npos) << notes;
  EXPECT_EQ(r.report["tuning"].size(), 19u);  // as configured + the 3 x 3 x 2 grid
  EXPECT_EQ(r.report["ranking"]["method"], "kl");
  EXPECT_EQ(r.report["metrics"]["top1"]["baseline"], 1.0);
  EXPECT_NEAR(r.report["metrics"]["top1"]["allowed_drop"].get<double>(), 0.05, 1e-12);
}

TEST(AccuracyAwareQuantization, ParameterErrorsNameThePath) {
  Model model = small_model();
  auto engine = labelled_engine(model, 8);
  auto message = [&](nlohmann::json params) {
    try {
      create_pipeline({{"AccuracyAwareQuantization", params}}, engine);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(message({{"maximal_drp", 0.01}}).find("algorithms[0].params: unknown key 'maximal_drp'"),
            std::string::npos);
  EXPECT_NE(message({{"stat_subset_sise", 3}}).find("unknown key 'stat_subset_sise'"), std::string::npos);
  EXPECT_NE(message({{"drop_type", "percent"}}).find("drop_type"), std::string::npos);
  EXPECT_NE(message({{"maximal_drop", "1%"}}).find("maximal_drop: expected a number"), std::string::npos);
  EXPECT_NE(message({{"restore_mode", "weights"}}).find("restore_mode"), std::string::npos);
  EXPECT_NE(message({{"metrics", {{{"name", "top1"}}}}}).find("baseline_value"), std::string::npos);
  // GNA runs (tests/unit/accuracy_aware_gna_test.cc); options its variant turns off are refused.
  EXPECT_NE(message({{"target_device", "GNA"}, {"annotation_free", true}}).find("INT16"), std::string::npos);
  EXPECT_NE(message({{"base_algorithm", "Nope"}}).find("base_algorithm"), std::string::npos);
}

}  // namespace
}  // namespace quac
