// ActivationChannelAlignment (POT's algorithm and name): before quantization, makes the channels of an activation
// between two convolutions alike, so one per-tensor activation quantizer serves them all. For a pair
//   producer Conv [-> Add(constant bias)] -> X -> consumer Conv (group 1, no padding, stride 1, dilation 1)
// where X feeds only the consumer, with per-channel ranges [lo_c, hi_c] of X (quantiles 1e-4 and 1 - 1e-4 per
// sample, median over the calibration samples):
//   means:  the producer's bias loses m_c = (lo_c + hi_c) / 2, the consumer's bias gains sum_k W_out[o, c, k] * m_c
//           (exact because the consumer does not pad); done only when both biases exist, as in POT;
//   scales: f_c = (hi_c - lo_c) / median of the positive ranges, clipped to [0.01, 100]; the producer's weights and
//           bias rows of channel c are divided by f_c, the consumer's input channel c multiplied by f_c.
// The result is the same function in FP32 (up to rounding) with every channel of X centred and of similar width.
// DefaultQuantization runs it first, as POT does.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "quac/pipeline.h"

namespace quac::algorithms {

struct ChannelAlignmentOptions {
  size_t stat_subset_size = 300;
  size_t stat_batch_size = 1;
  bool shuffle_data = false;
  uint64_t seed = 0;
  int num_threads = 0;
  std::vector<std::string> ignored_nodes;  // pairs with either conv named here are left alone
};

// Returns a model with a new FP32 graph (the scope is dropped: quantize afterwards). `*aligned` receives the number
// of aligned pairs.
Model align_activation_channels(const Model& model, const Dataset& data, const ChannelAlignmentOptions& options,
                                size_t* aligned = nullptr);

}  // namespace quac::algorithms
