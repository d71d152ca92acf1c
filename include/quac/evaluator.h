// Evaluator: runs a Session over a Dataset (or some of its items) in batches and returns the metric's aggregate and
// per-sample values. Evaluation is shardable by design: any index list can be evaluated on its own and per-sample
// values recombined.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "quac/dataset.h"
#include "quac/metric.h"
#include "quac/session.h"

namespace quac {

struct EvaluationOptions {
  size_t batch_size = 32;       // clamped to a fixed batch dimension the model declares
  std::vector<size_t> indices;  // items to evaluate; empty = all
  bool keep_outputs = false;    // keep every item's raw outputs (for output-distance ranking)
  std::string progress_label;   // empty = no progress line
};

struct EvaluationResult {
  std::map<std::string, double> metrics;                  // avg_value over the evaluated items
  std::map<std::string, std::vector<double>> per_sample;  // aligned with `indices`; only metrics that report every item
  std::map<std::string, MetricAttributes> attributes;     // every metric's direction, type and per_sample flag
  std::vector<size_t> indices;
  std::vector<std::vector<Tensor>> outputs;  // per item, when keep_outputs
  size_t items = 0;
  double seconds = 0;
};

// Throws kMetricError when the metric fails or the model outputs NaN/Inf (naming the output and item), and
// kDatasetError on a bad item.
EvaluationResult evaluate(Session& session, const Dataset& dataset, Metric& metric,
                          const EvaluationOptions& options = {});

}  // namespace quac
