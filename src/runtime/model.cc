#include "quac/model.h"

#include "ir/graph.h"
#include "ir/onnx/onnx_io.h"
#include "quant/qdq.h"
#include "quant/recover.h"
#include "quant/scope.h"

namespace quac {

const ir::Model& Model::ir() const {
  QUAC_CHECK(ir_ != nullptr, kInvalidArgument, "model is empty (not loaded)");
  return *ir_;
}

namespace {
ValueDesc to_desc(const ir::ValueInfo& v) {
  ValueDesc d;
  d.name = v.name;
  d.dtype = v.dtype;
  d.has_shape = v.has_shape;
  for (const auto& dim : v.shape) {
    d.shape.push_back(dim.value);
    d.dim_names.push_back(dim.param);
  }
  return d;
}
}  // namespace

Model Model::with_scope(std::shared_ptr<const quant::QuantizationScope> scope) const {
  Model m = *this;
  m.scope_ = std::move(scope);
  return m;
}

std::shared_ptr<const ir::Model> Model::executable() const {
  if (!scope_) return ir_;
  return quant::materialize_qdq(ir(), *scope_, {.compress_weights = compress_weights_});
}

std::vector<ValueDesc> Model::inputs() const {
  std::vector<ValueDesc> out;
  for (const auto& v : ir().graph.inputs) out.push_back(to_desc(v));
  return out;
}

std::vector<ValueDesc> Model::outputs() const {
  std::vector<ValueDesc> out;
  for (const auto& v : ir().graph.outputs) out.push_back(to_desc(v));
  return out;
}

int64_t Model::opset() const { return ir().opset(""); }

std::map<std::string, int64_t> Model::op_counts() const {
  std::map<std::string, int64_t> counts;
  auto graph = executable();  // held: a temporary's nodes would not outlive the loop's first step
  for (const auto& n : graph->graph.nodes) counts[n.domain.empty() ? n.op_type : n.domain + "." + n.op_type]++;
  return counts;
}

const std::string& Model::path() const { return ir().model_path; }

Model load_model(const std::string& path) {
  auto ir = onnx_io::load_model_file(path);
  // A QDQ file comes back as its FP32 graph and quantization scope (quant/recover.h), so it can be re-quantized,
  // reverted layer by layer or re-exported like a model quac quantized.
  quant::RecoveredModel recovered = quant::recover_scope(*ir);
  if (!recovered.scope) return Model(std::move(ir));
  Model model = Model(recovered.fp32).with_scope(recovered.scope);
  model.set_compress_weights(recovered.compressed_weights);
  return model;
}

void save_model(const Model& model, const std::string& path) { onnx_io::save_model_file(*model.executable(), path); }

void compress_model_weights(Model& model) { model.set_compress_weights(true); }

}  // namespace quac
