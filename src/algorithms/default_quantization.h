// The FP32 model MinMaxQuantization / DefaultQuantization actually quantize: the input after SmoothQuant (model_type
// transformer, or smooth_quant_alpha) and, for DefaultQuantization, ActivationChannelAlignment. Both rewrite
// initializers in place under their names (same FP32 function). Accuracy control gives a reverted layer its FP32
// initializers back by name, so it must take them from this model, not from the user's: otherwise one side of an
// aligned or smoothed pair is restored while the other still compensates.
#pragma once

#include <string>

#include "quac/pipeline.h"

namespace quac::algorithms {

// `algorithm` is "MinMaxQuantization" or "DefaultQuantization" with its `params` (validated as the algorithm does,
// errors naming `path`); `engine` supplies the calibration data. Returns `model`'s FP32 graph when nothing applies.
Model prepare_fp32_model(const std::string& algorithm, const nlohmann::json& params, const Model& model, Engine& engine,
                         const std::string& path = "params");

}  // namespace quac::algorithms
