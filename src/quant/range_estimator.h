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
  StatConfig min{"min", "mean", 1e-4, {}};
  StatConfig max{"max", "mean", 1e-4, {}};
  // quac's extension (what ONNX Runtime and TensorRT offer): "mse" or "kl" picks a clipping threshold from a
  // streaming histogram of |x| over the calibration subset instead of the min/max statistics above. Empty: off.
  std::string histogram;
};

// Streaming histogram of |x| with a fixed number of bins over [0, max_abs] (max_abs known from a first pass).
struct AbsHistogram {
  double max_abs = 0;
  std::vector<double> counts;
  void init(double max_abs_value, size_t bins = 2048);
  void add(const float* values, size_t n);
};

// The clipping threshold t (quantized range [-t, t], or [0, t] for a non-negative tensor) with `levels` positive
// quantization levels (127 signed, 255 unsigned) that minimises the expected squared error (clipping + rounding).
double mse_threshold(const AbsHistogram& h, int levels);
// TensorRT's entropy calibration: the threshold whose quantized distribution (into `levels` + 1 bins) is closest to
// the original in KL divergence.
double kl_threshold(const AbsHistogram& h, int levels);

// POT's presets: "default" (min/max, mean) and "quantile" (quantile 1e-4, mean); quac's "mse" and "kl" (histogram).
// Throws kInvalidArgument naming the preset when unknown.
RangeEstimatorConfig range_estimator_preset(const std::string& name);
// Throws kInvalidArgument naming the field ("range_estimator.max.aggregator") on an unknown type or aggregator.
void validate(const RangeEstimatorConfig& config);

// The per-sample statistic over n values. `scratch` avoids reallocating for quantiles.
double sample_statistic(const float* values, size_t n, const StatConfig& config, bool is_min,
                        std::vector<float>& scratch);
// Aggregates the per-sample statistics (reorders `samples`), then applies clipping_value.
double aggregate(std::vector<double>& samples, const StatConfig& config);

}  // namespace quac::quant
