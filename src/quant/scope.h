// QuantizationScope: the set of quantizers placed over an FP32 graph, kept apart from the graph itself. Algorithms
// read and write the scope, never the graph; reverting a layer to floating point is removing its group. A Session
// is compiled from graph + scope by materialising QuantizeLinear/DequantizeLinear pairs (see qdq.h).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "quac/tensor.h"

namespace quac::quant {

struct QuantizerSpec {
  int bits = 8;
  bool symmetric = true;
  bool per_channel = false;
  int64_t axis = 0;       // channel axis of the quantized tensor when per_channel
  bool is_signed = true;  // int8 storage (else uint8)
  int64_t level_low = -128;
  int64_t level_high = 127;
};

// One place where a tensor is quantized: the value `value`, as read by the inputs listed in `uses` (node name,
// input index). A value read by several quantized ops is quantized once, for all of them.
struct Quantizer {
  std::string value;
  bool is_weight = false;
  QuantizerSpec spec;
  std::vector<std::pair<std::string, size_t>> uses;
  // Parameters, set by statistics collection / range estimation: one entry per channel (or one).
  std::vector<float> range_min, range_max;
  std::vector<float> scale;
  std::vector<int64_t> zero_point;
  int group = -1;
  // Quantizers with the same unified_scale (>= 0) must share scale and zero point: the inputs of a Concat, the input
  // and output of a MaxPool / Reshape. Calibration gives them the union of their ranges (unify_ranges).
  int unified_scale = -1;
};

// Quantizers that must be removed together: an op's activation and weight quantizers, every op that shares a
// quantized tensor with it, and quantizers that share a scale (unified_scale). `nodes` are the ops that run in INT8
// because of this group.
struct QuantizerGroup {
  std::vector<size_t> quantizers;
  std::vector<std::string> nodes;
  std::string label;  // "Conv 'conv1' (+2 ops)" for reports
};

class QuantizationScope {
 public:
  std::vector<Quantizer> quantizers;
  std::vector<QuantizerGroup> groups;
  // The fused patterns (node names) placement found: one INT8 op each (a QConv with its residual Add), so the
  // quantizers of all their inputs (the conv's and the skip's) belong to one group.
  std::vector<std::vector<std::string>> fused;

  // A copy without the given groups (indices stay meaningful: removed groups keep their slot but lose quantizers).
  QuantizationScope without_groups(const std::set<size_t>& removed) const;
  size_t active_groups() const;
  // Rebuilds `groups` from the quantizers' `uses` by union-find (ops sharing a quantizer are one group, and so are
  // quantizers sharing a scale and the inputs of one fused pattern).
  void rebuild_groups(const ir::Graph& graph);
  // Gives every set of unified_scale quantizers the union of their ranges (before compute_parameters).
  void unify_ranges();
};

}  // namespace quac::quant
