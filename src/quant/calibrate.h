// Statistics and parameters: activation ranges collected through Session taps in one streaming pass over the
// calibration subset (memory does not grow with the number of samples), weight ranges from the initializers, and
// scales / zero points from the ranges.
#pragma once

#include <cstdint>
#include <string>

#include "quac/dataset.h"
#include "quac/model.h"
#include "quant/range_estimator.h"
#include "quant/scope.h"

namespace quac::quant {

struct CalibrationOptions {
  size_t stat_subset_size = 300;
  size_t stat_batch_size = 32;
  bool shuffle_data = false;
  uint64_t seed = 0;
  int num_threads = 0;
  bool progress = true;
  RangeEstimatorConfig activation_range;  // POT's "default" preset unless set
};

// Activation ranges: a per-sample statistic for each side of each quantized activation's range, aggregated over
// the samples by the configured range estimator (default: per-sample min/max, mean over samples, as POT does).
// Memory holds one number per sample and side, never the activations.
void collect_activation_ranges(const Model& model, const Dataset& data, QuantizationScope& scope,
                               const CalibrationOptions& options);
// Weight ranges: per-channel (or whole-tensor) min and max of each quantized initializer.
void compute_weight_ranges(const ir::Graph& graph, QuantizationScope& scope);
// Scales and zero points from the ranges. preset "performance": symmetric activations (uint8 when the range is
// non-negative, else int8); "mixed": asymmetric uint8 activations. Weights are symmetric int8 in both.
void compute_parameters(QuantizationScope& scope, const std::string& preset);

}  // namespace quac::quant
