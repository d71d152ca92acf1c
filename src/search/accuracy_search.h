// The accuracy-aware search loop (POT's AccuracyAwareQuantization / NNCF's quantize_with_accuracy_control), written
// against a small SearchEvaluator interface so that it runs without any model in unit tests (a scripted mock), and so
// that cheaper evaluators (cached activations of the unchanged prefix, evaluation sharded over processes) and other
// strategies can be plugged in later without touching the loop.
//
// The loop: evaluate the reference (FP32) model and the fully quantized one; if some metric is over budget, pick the
// ranking subset (the items with the largest reference-vs-quantized per-sample difference, or output distance), rank
// every quantizer group by evaluating the model without it on that subset, revert the top group and evaluate on the
// whole set; better: continue down the ranking; worse: tolerate once, else step back to the last improving model and
// re-rank there. Stop when within budget, when nothing is left to revert, or at max_iter_num.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "quac/metric.h"
#include "quac/tensor.h"

namespace quac::search {

// One evaluation request: the quantized model without the groups in `removed` (or the reference model), on
// `indices` (empty = every item).
struct EvalRequest {
  bool reference = false;
  std::set<size_t> removed;
  std::vector<size_t> indices;
  bool keep_outputs = false;
  std::string label;  // progress label ("" = silent)
};

struct EvalResult {
  std::map<std::string, double> metrics;                  // aggregate over the evaluated items
  std::map<std::string, std::vector<double>> per_sample;  // aligned with the request's indices; absent if none
  std::vector<std::vector<Tensor>> outputs;               // per item (when keep_outputs)
  size_t items = 0;                                       // inferences this evaluation ran
  double seconds = 0;
};

class SearchEvaluator {
 public:
  virtual ~SearchEvaluator() = default;
  virtual size_t size() const = 0;                            // items in the validation set
  virtual std::vector<size_t> revertible_groups() const = 0;  // groups of the full quantized model that hold quantizers
  virtual std::string group_label(size_t group) const { return "group " + std::to_string(group); }
  // The layers (ops) that run quantized because of a group: "K of M layers reverted" counts these.
  virtual size_t group_layers(size_t /*group*/) const { return 1; }
  virtual std::map<std::string, MetricAttributes> metric_attributes() const = 0;
  virtual EvalResult evaluate(const EvalRequest& request) = 0;
};

struct SearchOptions {
  double maximal_drop = 0.01;
  std::string drop_type = "absolute";  // or "relative": allowed drop = |baseline| x maximal_drop
  size_t ranking_subset_size = 300;    // min(N, this)
  size_t max_iter_num = 0;             // 0 = unlimited
  double metric_subset_ratio = 0.5;    // share of items compared (reference vs quantized) when baselines are given
  bool use_prev_if_drop_increase = true;
  std::map<std::string, double> baseline_values;  // POT's metrics [{name, baseline_value}]: skips the full FP run
  std::string ranking = "auto";                   // auto | metric | cosine | kl | mse
  // Stop after evaluating the reference and the fully quantized model (a probe: compare quantized candidates).
  bool stop_after_quantized = false;
  // Called after each evaluation on the whole set (iteration >= 1: a revert), e.g. to dump intermediate models.
  std::function<void(int iteration, const std::set<size_t>& removed)> on_iteration;
  std::function<void(const std::string&)> log;  // one line per event (nullptr = silent)
  bool progress = false;                        // progress lines on stderr for every evaluation
  bool verbose = false;                         // also log every group's ranking score (--log-level debug)
};

struct EvaluationRecord {
  std::string phase;  // reference | quantized | revert
  int iteration = 0;
  std::vector<size_t> removed;
  size_t quantized_groups = 0;  // groups still quantized
  std::map<std::string, double> metrics, drops;
  bool within_budget = false;
  std::string decision;  // within budget | better | worse, tolerated once | worse again, step back | kept
  size_t items = 0;
  double seconds = 0;
};

struct RankingRecord {
  int iteration = 0;  // the ranking made before this iteration
  std::string method;
  std::string metric;
  std::vector<std::pair<size_t, double>> scores;  // best first; higher = better model without that group
  size_t items = 0;
  double seconds = 0;
};

struct SearchResult {
  std::set<size_t> removed;  // the best model found: the quantized model without these groups
  bool budget_met = false;
  std::string stop_reason;
  size_t total_groups = 0;
  std::map<std::string, double> reference_metrics, quantized_metrics, result_metrics;
  std::map<std::string, double> baselines, allowed_drops, result_drops;
  std::map<std::string, MetricAttributes> attributes;
  std::vector<EvaluationRecord> evaluations;
  std::vector<RankingRecord> rankings;
  std::vector<size_t> ranking_subset;
  std::string ranking_method;
  int iterations = 0;
  size_t inferences = 0;
  double seconds = 0;
};

// Throws kInvalidArgument on bad options (naming the option) and whatever the evaluator throws.
SearchResult run_search(SearchEvaluator& evaluator, const SearchOptions& options);

// Distance between two items' raw outputs (all outputs flattened and concatenated): "cosine" (1 - cosine similarity),
// "kl" (KL divergence of softmax(reference) to softmax(other) over each output's last axis), "mse".
double output_distance(const std::vector<Tensor>& reference, const std::vector<Tensor>& other, const std::string& kind);

}  // namespace quac::search
