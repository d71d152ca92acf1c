// SmoothQuant: migrates activation outliers into the weights before quantization. For an activation X read only by
// MatMul/Gemm ops with constant weights (all its readers share one smoothing vector), per input channel j:
//   s_j = max|X_j|^alpha / max|W_j|^(1 - alpha)      (max|W_j| over the j-th input rows of every reader's weight)
// then X' = X / s (a Mul by the constant 1/s inserted after X) and W'_j = s_j * W_j, an exact reparametrisation in
// FP32 whose X' has flatter channels (easier per-tensor activation quantization) and whose weights absorb the range
// (per-channel weight quantization copes with it). Run before MinMaxQuantization; model_type "transformer" does.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "quac/pipeline.h"

namespace quac::algorithms {

struct SmoothQuantOptions {
  double alpha = 0.5;
  size_t stat_subset_size = 300;
  size_t stat_batch_size = 32;
  bool shuffle_data = false;
  uint64_t seed = 0;
  int num_threads = 0;
  std::vector<std::string> ignored_nodes;  // readers never smoothed (and their activation left alone)
};

// Returns a model with a new FP32 graph (the scope is dropped: quantize afterwards). `*smoothed` receives the number
// of activations smoothed.
Model smooth_quant(const Model& model, const Dataset& data, const SmoothQuantOptions& options,
                   size_t* smoothed = nullptr);

}  // namespace quac::algorithms
