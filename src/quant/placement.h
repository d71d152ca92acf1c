// Where quantizers go: on the inputs of the ops that run in INT8 (Conv, ConvTranspose, MatMul, Gemm), weights
// per output channel, each tensor quantized once for all its quantized readers, and nothing between an op and its
// activation (quantizers sit on op inputs, so Conv -> Relu -> Conv quantizes the Relu output once).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "quant/scope.h"

namespace quac::quant {

// An expected attribute value for POT's ignored.operations [{type, attributes: {name: value}}]: numbers (one for a
// scalar, several for a list) or a string.
struct AttributeValue {
  std::vector<double> numbers;
  std::string text;
  bool is_text = false;
};

struct OperationPattern {
  std::string type;
  std::map<std::string, AttributeValue> attributes;  // all must match (ints exactly, floats to 1e-6 relative)
};

struct IgnoredScope {
  std::vector<std::string> names;         // node names (exact)
  std::vector<std::string> name_regexes;  // node names matching any of these (std::regex, full match)
  std::vector<std::string> types;         // op types
  std::vector<OperationPattern> operations;
};

// Whether `node` matches the pattern (type and every listed attribute).
bool matches(const ir::Node& node, const OperationPattern& pattern);

struct PlacementOptions {
  std::string target_device = "CPU";  // ANY, CPU, GPU, VPU, GNA
  IgnoredScope ignored;
  bool per_channel_weights = true;
  int weight_bits = 8;
  int activation_bits = 8;
  // POT's saturation_fix: "first_layer" (default), "all" or "no". Where it applies (target_device ANY and CPU, whose
  // non-VNNI INT8 path accumulates pairs of u8*s8 products in int16 and can saturate), weights are quantized to 7
  // bits (levels [-63, 63]) on the ops that read a model input ("first_layer") or on every op ("all").
  std::string saturation_fix = "first_layer";
};

// Places quantizers over `graph` and computes their groups. Throws kInvalidArgument for an unknown device.
QuantizationScope place_quantizers(const ir::Graph& graph, const PlacementOptions& options);

}  // namespace quac::quant
