// Materialises a QuantizationScope as standard ONNX QuantizeLinear/DequantizeLinear pairs, producing the QDQ model
// that quac runs (and lowers to INT8 kernels) and exports. 16-bit quantizers (GNA) use ONNX Runtime's
// com.microsoft QuantizeLinear/DequantizeLinear (int16/uint16 zero points), which quac also runs.
#pragma once

#include <memory>

#include "ir/graph.h"
#include "quant/scope.h"

namespace quac::quant {

// The domain of ONNX Runtime's contrib ops, declared (version 1) in opset_import when a 16-bit quantizer is written.
inline constexpr const char* kMicrosoftDomain = "com.microsoft";

struct QdqOptions {
  // Weights stored as INT8 initializers behind DequantizeLinear (POT's compress_model_weights: ~4x smaller file).
  // Otherwise float weights go through QuantizeLinear -> DequantizeLinear like activations.
  bool compress_weights = true;
};

// A copy of `model` with the scope materialised. Needs opset >= 10 (>= 13 for per-channel quantizers).
std::shared_ptr<ir::Model> materialize_qdq(const ir::Model& model, const QuantizationScope& scope,
                                           const QdqOptions& options = {});

}  // namespace quac::quant
