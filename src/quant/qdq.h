// Materialises a QuantizationScope as standard ONNX QuantizeLinear/DequantizeLinear pairs, producing the QDQ model
// that quac runs (and lowers to INT8 kernels) and exports.
#pragma once

#include <memory>

#include "ir/graph.h"
#include "quant/scope.h"

namespace quac::quant {

struct QdqOptions {
  // Weights stored as INT8 initializers behind DequantizeLinear (POT's compress_model_weights: ~4x smaller file).
  // Otherwise float weights go through QuantizeLinear -> DequantizeLinear like activations.
  bool compress_weights = true;
};

// A copy of `model` with the scope materialised. Needs opset >= 10 (>= 13 for per-channel quantizers).
std::shared_ptr<ir::Model> materialize_qdq(const ir::Model& model, const QuantizationScope& scope,
                                           const QdqOptions& options = {});

}  // namespace quac::quant
