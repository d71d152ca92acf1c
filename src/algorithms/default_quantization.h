// The FP32 model MinMaxQuantization / DefaultQuantization actually quantize: the input after SmoothQuant (model_type
// transformer, or smooth_quant_alpha) and, for DefaultQuantization, ActivationChannelAlignment. Both rewrite
// initializers in place under their names (same FP32 function). Accuracy control gives a reverted layer its FP32
// initializers back by name, so it must take them from this model, not from the user's: otherwise one side of an
// aligned or smoothed pair is restored while the other still compensates.
#pragma once

#include <functional>
#include <string>

#include "quac/pipeline.h"

namespace quac::algorithms {

// `algorithm` is "MinMaxQuantization" or "DefaultQuantization" with its `params` (validated as the algorithm does,
// errors naming `path`); `engine` supplies the calibration data. Returns `model`'s FP32 graph when nothing applies.
Model prepare_fp32_model(const std::string& algorithm, const nlohmann::json& params, const Model& model, Engine& engine,
                         const std::string& path = "params");

// For DefaultQuantization with full BiasCorrection (use_fast_bias false): a function that runs that BiasCorrection
// again, with the same options and `engine`'s calibration data, on an FP32 model with another scope (accuracy
// control's variants: BiasCorrection corrects each layer for the error of every quantized layer above it, so its
// corrections change with what is reverted). Empty otherwise: FastBiasCorrection corrects each layer on the FP32
// model's own input to it, which reverting other layers does not change. `engine` must outlive the function.
std::function<Model(const Model&)> bias_correction_for_variants(const std::string& algorithm,
                                                                const nlohmann::json& params, Engine& engine,
                                                                const std::string& path = "params");

}  // namespace quac::algorithms
