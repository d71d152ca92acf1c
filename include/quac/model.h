// Model: an ONNX graph loaded into quac. (The quantization scope joins it in the INT8 work.)
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "quac/tensor.h"

namespace quac {
namespace ir {
struct Model;
}
namespace quant {
class QuantizationScope;
}

// Declared type and shape of a model input or output; dynamic dimensions are -1 (with their symbolic name, if any).
struct ValueDesc {
  std::string name;
  DataType dtype = DataType::kUndefined;
  bool has_shape = false;
  Shape shape;
  std::vector<std::string> dim_names;
};

// A model is the FP32 graph plus, once quantized, a QuantizationScope over it. The graph is never edited by
// quantization: reverting a layer removes its group from the scope, and the QDQ graph that runs and is saved is
// materialised from graph + scope on demand (cheap: the accuracy-aware search builds many variants).
class Model {
 public:
  Model() = default;
  explicit Model(std::shared_ptr<const ir::Model> ir) : ir_(std::move(ir)) {}
  // The FP32 graph (without quantizers).
  const ir::Model& ir() const;
  std::shared_ptr<const ir::Model> ir_ptr() const { return ir_; }
  bool loaded() const { return ir_ != nullptr; }

  // A copy of this model with `scope` (nullptr: the FP32 model).
  Model with_scope(std::shared_ptr<const quant::QuantizationScope> scope) const;
  const quant::QuantizationScope* scope() const { return scope_.get(); }
  std::shared_ptr<const quant::QuantizationScope> scope_ptr() const { return scope_; }
  bool quantized() const { return scope_ != nullptr; }
  // POT's compress_model_weights: saved weights are INT8 initializers behind DequantizeLinear (~4x smaller).
  void set_compress_weights(bool compress) { compress_weights_ = compress; }
  bool compress_weights() const { return compress_weights_; }
  // The graph that runs and is saved: the FP32 graph, or the scope materialised as QuantizeLinear/DequantizeLinear.
  std::shared_ptr<const ir::Model> executable() const;

  std::vector<ValueDesc> inputs() const;
  std::vector<ValueDesc> outputs() const;
  int64_t opset() const;                             // ai.onnx opset
  std::map<std::string, int64_t> op_counts() const;  // op type -> number of nodes (top-level graph)
  const std::string& path() const;

 private:
  std::shared_ptr<const ir::Model> ir_;
  std::shared_ptr<const quant::QuantizationScope> scope_;
  bool compress_weights_ = false;
};

// Loads an ONNX file. Throws quac::Error naming the file (and node, op, tensor) on any problem.
Model load_model(const std::string& path);
// Writes an ONNX file atomically (nothing half-written on failure); a quantized model is written as standard QDQ ONNX.
void save_model(const Model& model, const std::string& path);
// POT's compress_model_weights: marks the model so that saving stores its quantized weights as INT8.
void compress_model_weights(Model& model);

}  // namespace quac
