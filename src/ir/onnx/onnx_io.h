// ONNX import and export through Debian's libonnx protobuf classes.
#pragma once

#include <memory>
#include <string>

#include "ir/graph.h"

namespace quac::onnx_io {

// Loads and validates a model file. External data is read only from inside the model's folder. Every failure is a
// quac::Error naming the file and, where it applies, the node, op, tensor or field.
std::shared_ptr<ir::Model> load_model_file(const std::string& path);
// Same, from bytes in memory. `base_dir` is where external data may live (empty: external data is refused).
std::shared_ptr<ir::Model> load_model_bytes(const std::string& bytes, const std::string& base_dir,
                                            const std::string& label);
// Serialises to ONNX bytes / writes atomically.
std::string serialize_model(const ir::Model& model);
void save_model_file(const ir::Model& model, const std::string& path);
// A serialized TensorProto file (as in the ONNX backend test data).
Tensor load_tensor_file(const std::string& path);

}  // namespace quac::onnx_io
