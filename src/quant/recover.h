// Recovering the FP32 graph and the QuantizationScope from a QDQ model (one quac wrote, or another tool such as
// ONNX Runtime's quantizer or NNCF): each QuantizeLinear -> DequantizeLinear pair on a value, and each
// DequantizeLinear of a constant integer weight, becomes a quantizer; the pairs leave the graph and the readers of
// their output read the float value again. Materialising the recovered scope (quant/qdq.h) gives back a graph that
// computes what the file computed, and the scope can be edited like one quac placed: reverting a group, raising
// bits, re-exporting.
//
// What is recovered: ai.onnx QuantizeLinear/DequantizeLinear (opset 10+) and com.microsoft's 16-bit ones, with
// constant scale and zero point initializers, per-tensor or per-axis. Anything else (a DequantizeLinear of a
// model input, a QuantizeLinear whose output other ops read as integers, QLinear* ops) stays in the graph as it is.
// Levels are the full range of the zero point's type (that is what QuantizeLinear saturates to).
#pragma once

#include <memory>

#include "ir/graph.h"
#include "quant/scope.h"

namespace quac::quant {

struct RecoveredModel {
  std::shared_ptr<ir::Model> fp32;           // the graph without the recovered pairs
  std::shared_ptr<QuantizationScope> scope;  // nullptr when the model has no recoverable quantizer
  bool compressed_weights = false;           // some weights were stored as integers behind DequantizeLinear
};

RecoveredModel recover_scope(const ir::Model& model);

}  // namespace quac::quant
