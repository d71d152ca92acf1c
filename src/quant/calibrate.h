// Statistics and parameters: activation ranges collected through Session taps in one streaming pass over the
// calibration subset (memory does not grow with the number of samples), weight ranges from the initializers, and
// scales / zero points from the ranges.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
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
// How one kind of quantizer (weights or activations) maps its range to integer levels: POT's `mode` and
// `level_low` / `level_high`. The number of bits comes from each quantizer's spec (placement sets it: saturation_fix
// gives 7-bit weights, GNA 16-bit activations).
struct QuantizerMode {
  bool symmetric = true;
  std::optional<int64_t> level_low, level_high;  // explicit levels; both or neither
};

struct ParameterConfig {
  QuantizerMode weights, activations;
};

// POT's presets: "performance" (symmetric weights and activations), "mixed" (symmetric weights, asymmetric
// activations), "accuracy" (asymmetric weights and activations). Throws kInvalidArgument on another name.
ParameterConfig preset_parameters(const std::string& preset);

// Scales and zero points from the ranges, and each quantizer's levels and storage:
// - symmetric weights: narrow signed range [-(2^(b-1) - 1), 2^(b-1) - 1], zero point 0;
// - asymmetric weights and activations: unsigned [0, 2^b - 1] with a zero point (uint8 for b <= 8, else uint16);
// - symmetric activations: unsigned [0, 2^b - 1] with zero point 0 when the range is non-negative, else signed
//   [-2^(b-1), 2^(b-1) - 1] with zero point 0.
// Explicit levels replace those (signed storage when level_low < 0). Ranges are first widened to contain 0.
void compute_parameters(QuantizationScope& scope, const ParameterConfig& config);
void compute_parameters(QuantizationScope& scope, const std::string& preset);
// One quantizer (its spec.bits and range set).
void compute_parameters(Quantizer& quantizer, const QuantizerMode& mode);

// POT's GNA accuracy control: the weight quantizers of `groups` (scope group indices) get `bits` bits (16: INT16),
// their levels, scales and zero points recomputed from their ranges, keeping their mode. Weights already that wide
// stay as they are.
void raise_weight_bits(QuantizationScope& scope, const std::set<size_t>& groups, int bits);

}  // namespace quac::quant
