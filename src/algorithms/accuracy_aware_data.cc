// AccuracyAwareQuantization's data-side options: annotation_free (pseudo-labels from the FP32 model) and
// tune_hyperparams (POT's grid over activation range estimators and fast bias on/off, scored on the hardest items).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "algorithms/accuracy_aware_util.h"
#include "core/progress.h"
#include "quac/evaluator.h"
#include "quac/session.h"

namespace quac::algorithms {
namespace {

class PseudoLabelled : public Dataset {
 public:
  PseudoLabelled(std::shared_ptr<const Dataset> base, std::vector<size_t> indices, std::vector<int64_t> labels)
      : base_(std::move(base)), indices_(std::move(indices)), labels_(std::move(labels)) {}
  size_t size() const override { return indices_.size(); }
  DataItem get(size_t i) const override {
    QUAC_CHECK(i < indices_.size(), kDatasetError, describe(), ": item ", i, " out of range");
    DataItem item = base_->get(indices_[i]);
    item.annotation = Tensor::from_vector<int64_t>({}, {labels_[i]});
    return item;
  }
  std::string describe() const override {
    return base_->describe() + " (annotation-free: " + std::to_string(indices_.size()) +
           " confident FP32 predictions as labels)";
  }

 private:
  std::shared_ptr<const Dataset> base_;
  std::vector<size_t> indices_;
  std::vector<int64_t> labels_;
};

}  // namespace

PseudoLabels pseudo_label(const Model& fp32, std::shared_ptr<const Dataset> data, double threshold,
                          const EngineOptions& options) {
  Session session(fp32, {.num_threads = options.num_threads});
  std::vector<size_t> all(data->size());
  std::iota(all.begin(), all.end(), size_t{0});
  std::vector<size_t> kept;
  std::vector<int64_t> labels;
  Progress progress("annotation-free labels", all.size(), options.progress);
  for (size_t begin = 0; begin < all.size(); begin += options.batch_size) {
    size_t end = std::min(all.size(), begin + options.batch_size);
    Batch b = make_batch(*data, all, begin, end);
    std::vector<Tensor> out = session.run(b.inputs);
    QUAC_CHECK(!out.empty() && out[0].dtype() == DataType::kFloat && out[0].shape().size() == 2, kInvalidArgument,
               "annotation_free needs class scores [N, C] as the model's first output");
    int64_t n = out[0].shape()[0], c = out[0].shape()[1];
    const float* s = out[0].data<float>();
    for (int64_t i = 0; i < n; ++i) {
      const float* row = s + i * c;
      int64_t arg = std::max_element(row, row + c) - row;
      double sum = 0;
      for (int64_t k = 0; k < c; ++k) sum += std::exp(static_cast<double>(row[k] - row[arg]));
      double confidence = 1.0 / sum;  // softmax of the top class
      QUAC_CHECK(std::isfinite(confidence), kMetricError, "annotation_free: the FP32 model's output for item ",
                 b.indices[static_cast<size_t>(i)], " is not finite");
      if (confidence >= threshold) {
        kept.push_back(b.indices[static_cast<size_t>(i)]);
        labels.push_back(arg);
      }
    }
    progress.advance(end - begin);
  }
  progress.finish();
  QUAC_CHECK(!kept.empty(), kDatasetError, "annotation_free: no item reaches annotation_conf_threshold ", threshold);
  PseudoLabels r;
  r.dataset = std::make_shared<PseudoLabelled>(data, kept, labels);
  char buf[200];
  std::snprintf(buf, sizeof buf, "annotation_free: %zu of %zu items labelled by the FP32 model (confidence >= %.2f)",
                kept.size(), all.size(), threshold);
  r.note = buf;
  return r;
}

TuneResult tune_hyperparams(const Model& fp32, search::ModelSearchEvaluator& default_evaluator, Engine& calib_engine,
                            Engine& engine, std::shared_ptr<const Dataset> data, const AccuracyAwareParams& p) {
  TuneResult t;
  t.params = p.base_params;
  // The hardest items: largest per-sample loss of the default INT8 model against FP32 (both cached already).
  search::EvalResult ref = default_evaluator.evaluate({.reference = true});
  search::EvalResult q = default_evaluator.evaluate({});
  auto attrs = default_evaluator.metric_attributes();
  // Score on the metric furthest over budget (the one the search ranks by), among those with per-sample values.
  std::string metric;
  double worst = -1e300;
  for (const auto& [name, a] : attrs) {
    if (!ref.per_sample.count(name) || !q.per_sample.count(name)) continue;
    double base = p.search.baseline_values.count(name) ? p.search.baseline_values.at(name) : ref.metrics.at(name);
    double drop = a.direction == "higher-worse" ? q.metrics.at(name) - base : base - q.metrics.at(name);
    double allowed = p.search.drop_type == "relative" ? std::fabs(base) * p.search.maximal_drop : p.search.maximal_drop;
    double excess = (drop - allowed) / (allowed > 0 ? allowed : 1.0);
    if (metric.empty() || excess > worst) worst = excess, metric = name;
  }
  if (metric.empty()) {
    t.note = "tune_hyperparams: the metric has no per-sample values to find the hardest items; tuning skipped";
    return t;
  }
  double sign = attrs.at(metric).direction == "higher-worse" ? -1 : 1;
  const auto& rv = ref.per_sample.at(metric);
  const auto& qv = q.per_sample.at(metric);
  std::vector<size_t> order(rv.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return sign * (rv[a] - qv[a]) > sign * (rv[b] - qv[b]); });
  order.resize(std::min(order.size(), p.search.ranking_subset_size));
  std::sort(order.begin(), order.end());

  auto score_of = [&](search::SearchEvaluator& ev) {
    search::EvalResult e = ev.evaluate({.indices = order});
    t.inferences += e.items;
    return sign * e.metrics.at(metric);
  };
  double best = score_of(default_evaluator);
  t.candidates.push_back({{"range_estimator", "as configured"},
                          {"use_fast_bias", p.base_params.value("use_fast_bias", true)},
                          {"score", best}});
  search::ModelEvaluatorOptions eo{.batch_size = engine.options().batch_size,
                                   .num_threads = engine.options().num_threads,
                                   .restore_mode = p.restore_mode};
  // POT's grid: activation range min {min, quantile 1e-3, quantile 1e-4} x max {max, quantile 1e-3, quantile 1e-4}
  // x fast bias correction {on, off} (off = BiasCorrection). MinMaxQuantization applies no bias correction, so the
  // second half of the grid would repeat the first there.
  const std::vector<nlohmann::json> mins = {{{"type", "min"}},
                                            {{"type", "quantile"}, {"outlier_prob", 1e-3}},
                                            {{"type", "quantile"}, {"outlier_prob", 1e-4}}};
  const std::vector<nlohmann::json> maxs = {{{"type", "max"}},
                                            {{"type", "quantile"}, {"outlier_prob", 1e-3}},
                                            {{"type", "quantile"}, {"outlier_prob", 1e-4}}};
  std::vector<bool> fast_bias = {true, false};
  if (p.base_algorithm != "DefaultQuantization") fast_bias = {p.base_params.value("use_fast_bias", true)};
  std::string chosen = "as configured";
  Progress progress("tune_hyperparams", fast_bias.size() * mins.size() * maxs.size(), engine.options().progress,
                    "candidates");
  for (bool fb : fast_bias)
    for (const auto& mn : mins)
      for (const auto& mx : maxs) {
        nlohmann::json params = p.base_params;
        params["activations"]["range_estimator"] = {{"min", mn}, {"max", mx}};
        params["use_fast_bias"] = fb;
        nlohmann::json candidate = {{"range_estimator", params["activations"]["range_estimator"]},
                                    {"use_fast_bias", fb}};
        if (params == p.base_params) {  // the configuration already scored
          t.candidates.push_back({{"range_estimator", candidate["range_estimator"]},
                                  {"use_fast_bias", fb},
                                  {"score", t.candidates[0]["score"]},
                                  {"as_configured", true}});
          progress.advance(1);
          continue;
        }
        Model cand = make_base_algorithm(p.base_algorithm, params, "tune_hyperparams")->run(fp32, calib_engine);
        search::ModelSearchEvaluator ev(fp32, cand, data, *engine.metric(), eo);
        double s = score_of(ev);
        t.candidates.push_back(
            {{"range_estimator", candidate["range_estimator"]}, {"use_fast_bias", fb}, {"score", s}});
        if (s > best + 1e-12) {
          best = s;
          t.params = params;
          chosen = candidate.dump();
        }
        progress.advance(1);
      }
  progress.finish();
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "tune_hyperparams: %zu candidates (range estimator x fast bias) scored by %s on the %zu hardest items; "
                "chosen: %s",
                t.candidates.size(), metric.c_str(), order.size(), chosen.c_str());
  t.note = buf;
  return t;
}

}  // namespace quac::algorithms
