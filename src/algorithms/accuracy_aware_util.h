// AccuracyAwareQuantization's parts, shared by src/algorithms/accuracy_aware*.cc and src/report/: typed parameters,
// the base algorithm, pseudo-labels (annotation_free), hyperparameter tuning, and the report.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "algorithms/algorithm.h"
#include "quac/accuracy_aware.h"
#include "search/accuracy_search.h"
#include "search/model_evaluator.h"

namespace quac::algorithms {

struct AccuracyAwareParams {
  search::SearchOptions search;  // maximal_drop, drop_type, ranking_subset_size, max_iter_num, ... (no callbacks)
  std::string base_algorithm = "DefaultQuantization";
  nlohmann::json base_params = nlohmann::json::object();  // every DefaultQuantization parameter, passed through
  bool convert_to_mixed_preset = false;
  bool tune_hyperparams = false;
  bool annotation_free = false;
  double annotation_conf_threshold = 0.6;
  std::string restore_mode = "activations_and_weights";
  size_t num_ranking_workers = 1;
  bool dump_intermediate_model = false;
};

// Reads and validates every parameter (the base algorithm's too); marks all keys as read.
AccuracyAwareParams read_accuracy_aware_params(config::ParamReader& r);
std::unique_ptr<Algorithm> make_base_algorithm(const std::string& name, const nlohmann::json& params,
                                               const std::string& path);
AccuracyAwareResult run_accuracy_aware(const Model& model, Engine& engine, const AccuracyAwareParams& p,
                                       const AccuracyAwareOptions& options);

// annotation_free: the FP32 model's confident predictions (max softmax of output 0 >= threshold) become the labels;
// items below the threshold are left out.
struct PseudoLabels {
  std::shared_ptr<const Dataset> dataset;
  std::string note;
};
PseudoLabels pseudo_label(const Model& fp32, std::shared_ptr<const Dataset> data, double threshold,
                          const EngineOptions& options);

// tune_hyperparams: POT's grid over the activation range estimator (min: min / quantile 1e-3 / quantile 1e-4, max
// likewise) and fast bias correction on/off (off = BiasCorrection), each candidate scored on the hardest items
// (largest FP32-vs-INT8 per-sample difference). candidates[0] is the configuration as given.
struct TuneResult {
  nlohmann::json params;  // the base parameters with the chosen estimator and use_fast_bias
  size_t inferences = 0;
  std::string note;
  nlohmann::json candidates = nlohmann::json::array();
};
TuneResult tune_hyperparams(const Model& fp32, search::ModelSearchEvaluator& default_evaluator, Engine& calib_engine,
                            Engine& engine, std::shared_ptr<const Dataset> data, const AccuracyAwareParams& p);

struct LatencyTriple {
  double fp32 = 0, int8 = 0, result = 0;  // median batch-1 milliseconds; 0 = not measured
  std::string method;                     // how they were measured, for the report
  double spread = 1;                      // largest median / fastest run among the three: > 2 = a busy machine
};
// Median batch-1 latencies (ms) of `models` on the first item of `data`: every model is warmed up, then the models run
// in turn, one run each per round, for at least `min_rounds` rounds (then until `budget_seconds` or 200 rounds).
// `spread` (optional) receives the largest ratio of a model's median to its fastest run.
std::vector<double> measure_latencies_ms(const std::vector<Model>& models, const Dataset& data, int threads,
                                         size_t min_rounds = 21, double budget_seconds = 3, size_t* rounds = nullptr,
                                         double* spread = nullptr);
// The warnings a latency triple calls for: the result not faster than FP32, full INT8 not faster than FP32, and
// measurements too noisy to compare (a busy machine).
std::vector<std::string> latency_warnings(const LatencyTriple& latency);
std::string summary_line(const search::SearchResult& r, const search::SearchEvaluator& evaluator);
nlohmann::json build_report(const search::SearchResult& r, const search::SearchEvaluator& evaluator,
                            const AccuracyAwareParams& p, const Dataset& data, const LatencyTriple& latency,
                            double wall_seconds, const nlohmann::json& notes);

}  // namespace quac::algorithms
