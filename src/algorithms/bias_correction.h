// Bias correction after quantization (POT's FastBiasCorrection and BiasCorrection): quantization shifts the mean
// of a layer's output per channel; adding the shift back to the layer's bias removes that systematic error.
//
// FastBiasCorrection: each quantized layer with a bias is run alone, quantized, on the FP32 model's own input to it,
// and compared with the FP32 layer output: one streaming pass over the data. A layer is corrected only when the
// relative shift max_c |shift_c / bias_c| is below `threshold` (2 in POT; a zero bias counts as an infinite shift).
// BiasCorrection: layer by layer in graph order, the quantized model (with the corrections made so far) is compared
// with the FP32 model at the layer's output, so the correction also absorbs the error arriving from earlier layers;
// one pass per corrected layer (slower, more precise).
#pragma once

#include <cstdint>
#include <limits>

#include "quac/pipeline.h"

namespace quac::algorithms {

struct BiasCorrectionOptions {
  size_t stat_subset_size = 300;
  size_t stat_batch_size = 32;
  bool shuffle_data = false;
  uint64_t seed = 0;
  double threshold = 2.0;  // FastBiasCorrection only
  int num_threads = 0;
  bool verbose = false;  // one line per layer on stderr
};

// Both return `model` with corrected biases (a new FP32 graph; the scope is kept). A model without a scope is
// returned unchanged. The number of corrected layers is stored in `*corrected` when given.
Model fast_bias_correction(const Model& model, const Dataset& data, const BiasCorrectionOptions& options,
                           size_t* corrected = nullptr);
Model bias_correction(const Model& model, const Dataset& data, const BiasCorrectionOptions& options,
                      size_t* corrected = nullptr);

}  // namespace quac::algorithms
