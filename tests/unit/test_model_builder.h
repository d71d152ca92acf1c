// Builds small ir::Models in memory for tests.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "quac/model.h"

namespace quac::testing {

class ModelBuilder {
 public:
  explicit ModelBuilder(int64_t opset = 17) { model_->opset_imports[""] = opset; }
  ModelBuilder& opset(const std::string& domain, int64_t version) {
    model_->opset_imports[domain] = version;
    return *this;
  }
  // Declares an input; dims < 0 are dynamic.
  ModelBuilder& input(const std::string& name, DataType type, const Shape& shape) {
    ir::ValueInfo v{name, type, true, {}, ""};
    for (int64_t d : shape) v.shape.push_back({d, d < 0 ? "d" + std::to_string(v.shape.size()) : ""});
    model_->graph.inputs.push_back(v);
    return *this;
  }
  // An output; with a shape (dims < 0 dynamic) it is a complete ONNX value info the checker accepts.
  ModelBuilder& output(const std::string& name, DataType type = DataType::kUndefined,
                       std::optional<Shape> shape = std::nullopt) {
    ir::ValueInfo v{name, type, shape.has_value(), {}, ""};
    if (shape)
      for (int64_t d : *shape) v.shape.push_back({d, d < 0 ? "o" + std::to_string(v.shape.size()) : ""});
    model_->graph.outputs.push_back(v);
    return *this;
  }
  ModelBuilder& initializer(const std::string& name, Tensor t) {
    model_->graph.initializers[name] = std::move(t);
    return *this;
  }
  ModelBuilder& node(const std::string& op, std::vector<std::string> inputs, std::vector<std::string> outputs,
                     std::vector<ir::Attribute> attributes = {}, const std::string& domain = "") {
    ir::Node n;
    n.op_type = op;
    n.domain = domain;
    n.name = op + "_" + std::to_string(model_->graph.nodes.size());
    n.inputs = std::move(inputs);
    n.outputs = std::move(outputs);
    n.attributes = std::move(attributes);
    model_->graph.nodes.push_back(std::move(n));
    return *this;
  }
  Model build() {
    model_->graph.topological_sort();
    return Model(model_);
  }

 private:
  std::shared_ptr<ir::Model> model_ = std::make_shared<ir::Model>();
};

}  // namespace quac::testing
