// Where quantizers go: on the inputs of the ops that run in INT8 (Conv, ConvTranspose, MatMul, Gemm), weights
// per output channel, each tensor quantized once for all its quantized readers, and nothing between an op and its
// activation (quantizers sit on op inputs, so Conv -> Relu -> Conv quantizes the Relu output once).
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"
#include "quant/scope.h"

namespace quac::quant {

struct IgnoredScope {
  std::vector<std::string> names;         // node names (exact)
  std::vector<std::string> name_regexes;  // node names matching any of these (std::regex, full match)
  std::vector<std::string> types;         // op types
};

struct PlacementOptions {
  std::string target_device = "CPU";  // ANY, CPU, GPU, VPU, GNA
  IgnoredScope ignored;
  bool per_channel_weights = true;
  int weight_bits = 8;
  int activation_bits = 8;
};

// Places quantizers over `graph` and computes their groups. Throws kInvalidArgument for an unknown device.
QuantizationScope place_quantizers(const ir::Graph& graph, const PlacementOptions& options);

}  // namespace quac::quant
