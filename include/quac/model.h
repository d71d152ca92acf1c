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

// Declared type and shape of a model input or output; dynamic dimensions are -1 (with their symbolic name, if any).
struct ValueDesc {
  std::string name;
  DataType dtype = DataType::kUndefined;
  bool has_shape = false;
  Shape shape;
  std::vector<std::string> dim_names;
};

class Model {
 public:
  Model() = default;
  explicit Model(std::shared_ptr<const ir::Model> ir) : ir_(std::move(ir)) {}
  const ir::Model& ir() const;
  std::shared_ptr<const ir::Model> ir_ptr() const { return ir_; }
  bool loaded() const { return ir_ != nullptr; }

  std::vector<ValueDesc> inputs() const;
  std::vector<ValueDesc> outputs() const;
  int64_t opset() const;                             // ai.onnx opset
  std::map<std::string, int64_t> op_counts() const;  // op type -> number of nodes (top-level graph)
  const std::string& path() const;

 private:
  std::shared_ptr<const ir::Model> ir_;
};

// Loads an ONNX file. Throws quac::Error naming the file (and node, op, tensor) on any problem.
Model load_model(const std::string& path);
// Writes an ONNX file atomically (nothing half-written on failure).
void save_model(const Model& model, const std::string& path);

}  // namespace quac
