// Range estimators, with POT's vocabulary: for each side of the range (min, max) a per-sample statistic `type`
// (min, max, abs_max, quantile, abs_quantile with outlier_prob) and an `aggregator` over samples (mean, max, min,
// median, mean_no_outliers, median_no_outliers, hl_estimator), optionally clipped (clipping_value).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace quac::quant {

struct StatConfig {
  std::string type;
  std::string aggregator = "mean";
  double outlier_prob = 1e-4;
  std::optional<double> clipping_value;
};

struct RangeEstimatorConfig {
  StatConfig min{"min", "mean"};
  StatConfig max{"max", "mean"};
};

// POT's presets: "default" (min/max, mean) and "quantile" (quantile 1e-4, mean). Throws kInvalidArgument naming
// the preset when unknown.
RangeEstimatorConfig range_estimator_preset(const std::string& name);
// Throws kInvalidArgument naming the field ("range_estimator.max.aggregator") on an unknown type or aggregator.
void validate(const RangeEstimatorConfig& config);

// The per-sample statistic over n values. `scratch` avoids reallocating for quantiles.
double sample_statistic(const float* values, size_t n, const StatConfig& config, bool is_min,
                        std::vector<float>& scratch);
// Aggregates the per-sample statistics (reorders `samples`), then applies clipping_value.
double aggregate(std::vector<double>& samples, const StatConfig& config);

}  // namespace quac::quant
