#include "quant/qdq.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace quac::quant {
namespace {

Tensor make_scale(const Quantizer& q) {
  if (!q.spec.per_channel) return Tensor::scalar<float>(q.scale.at(0));
  return Tensor::from_vector<float>({static_cast<int64_t>(q.scale.size())}, q.scale);
}

// 8-bit storage when the levels fit, else 16-bit (GNA's activations, 16-bit weights).
DataType storage_type(const QuantizerSpec& spec) {
  bool wide = spec.bits > 8 || spec.level_high > (spec.is_signed ? 127 : 255) || spec.level_low < -128;
  if (spec.is_signed) return wide ? DataType::kInt16 : DataType::kInt8;
  return wide ? DataType::kUInt16 : DataType::kUInt8;
}

template <typename T>
void store_levels(Tensor& t, const std::vector<double>& values) {
  T* p = t.data<T>();
  for (size_t i = 0; i < values.size(); ++i) p[i] = static_cast<T>(values[i]);
}

// Writes integer levels (already clamped to the spec's range) into a tensor of the quantizer's storage type.
Tensor make_levels(const QuantizerSpec& spec, const Shape& shape, const std::vector<double>& values) {
  Tensor t(storage_type(spec), shape);
  switch (t.dtype()) {
    case DataType::kInt8:
      store_levels<int8_t>(t, values);
      break;
    case DataType::kUInt8:
      store_levels<uint8_t>(t, values);
      break;
    case DataType::kInt16:
      store_levels<int16_t>(t, values);
      break;
    default:
      store_levels<uint16_t>(t, values);
  }
  return t;
}

Tensor make_zero_point(const Quantizer& q) {
  std::vector<double> zp(q.zero_point.begin(), q.zero_point.end());
  return make_levels(q.spec, q.spec.per_channel ? Shape{static_cast<int64_t>(zp.size())} : Shape{}, zp);
}

// The weight quantized to the quantizer's integer type (round half to even, clamped to its levels).
Tensor quantize_weight(const Tensor& w, const Quantizer& q) {
  int64_t axis = q.spec.per_channel ? (q.spec.axis < 0 ? q.spec.axis + w.rank() : q.spec.axis) : 0;
  int64_t channels = q.spec.per_channel ? w.dim(axis) : 1, inner = 1;
  if (q.spec.per_channel)
    for (int64_t d = axis + 1; d < w.rank(); ++d) inner *= w.dim(d);
  else
    inner = w.numel();
  const float* src = w.data<float>();
  std::vector<double> levels(static_cast<size_t>(w.numel()));
  for (int64_t i = 0; i < w.numel(); ++i) {
    size_t c = static_cast<size_t>((i / inner) % channels);
    double v = std::nearbyint(static_cast<double>(src[i] / q.scale[c])) + static_cast<double>(q.zero_point[c]);
    levels[static_cast<size_t>(i)] =
        std::clamp(v, static_cast<double>(q.spec.level_low), static_cast<double>(q.spec.level_high));
  }
  return make_levels(q.spec, w.shape(), levels);
}

}  // namespace

std::shared_ptr<ir::Model> materialize_qdq(const ir::Model& model, const QuantizationScope& scope,
                                           const QdqOptions& options) {
  auto out = std::make_shared<ir::Model>(model);
  ir::Graph& g = out->graph;
  int64_t opset = out->opset("");
  QUAC_CHECK(opset >= 10, kUnsupported, model.model_path, ": quantization needs opset 10 or newer (the model has ",
             opset, ")");
  std::map<std::string, size_t> node_index;
  for (size_t i = 0; i < g.nodes.size(); ++i) node_index[g.nodes[i].name] = i;
  std::vector<ir::Node> added;
  for (size_t qi = 0; qi < scope.quantizers.size(); ++qi) {
    const Quantizer& q = scope.quantizers[qi];
    if (q.uses.empty()) continue;
    QUAC_CHECK(!q.scale.empty(), kInternal, "quantizer of '", q.value, "' has no parameters");
    QUAC_CHECK(!q.spec.per_channel || opset >= 13, kUnsupported, model.model_path,
               ": per-channel quantization needs opset 13 or newer (the model has ", opset, ")");
    std::string base = q.value + (q.is_weight ? "_w" : "") + "_q" + std::to_string(qi);
    // ai.onnx QuantizeLinear has 16-bit types only from opset 21; ONNX Runtime's com.microsoft contrib ops take
    // int16/uint16 zero points with the same semantics (axis included), so 16-bit quantizers use those.
    DataType storage = storage_type(q.spec);
    bool wide = storage == DataType::kInt16 || storage == DataType::kUInt16;
    std::string domain = wide ? kMicrosoftDomain : "";
    if (wide) out->opset_imports[kMicrosoftDomain] = std::max<int64_t>(out->opset(kMicrosoftDomain), 1);
    std::string scale = base + "_scale", zp = base + "_zero_point", dq = base + "_dq";
    g.initializers[scale] = make_scale(q);
    g.initializers[zp] = make_zero_point(q);
    ir::Node dequant;
    dequant.op_type = "DequantizeLinear";
    dequant.domain = domain;
    dequant.name = base + "_DequantizeLinear";
    if (q.spec.per_channel) dequant.attributes.push_back(ir::make_int_attr("axis", q.spec.axis));
    if (q.is_weight && options.compress_weights) {
      const Tensor* w = model.graph.initializer(q.value);
      QUAC_CHECK(w != nullptr, kInternal, "weight '", q.value, "' is not an initializer");
      g.initializers[base] = quantize_weight(*w, q);
      dequant.inputs = {base, scale, zp};
    } else {
      ir::Node quant;
      quant.op_type = "QuantizeLinear";
      quant.domain = domain;
      quant.name = base + "_QuantizeLinear";
      if (q.spec.per_channel) quant.attributes.push_back(ir::make_int_attr("axis", q.spec.axis));
      quant.inputs = {q.value, scale, zp};
      quant.outputs = {base};
      added.push_back(quant);
      dequant.inputs = {base, scale, zp};
    }
    dequant.outputs = {dq};
    added.push_back(dequant);
    for (const auto& [node, input] : q.uses) {
      auto it = node_index.find(node);
      QUAC_CHECK(it != node_index.end(), kInternal, "quantizer of '", q.value, "' is used by unknown node '", node,
                 "'");
      ir::Node& n = g.nodes[it->second];
      QUAC_CHECK(input < n.inputs.size() && n.inputs[input] == q.value, kInternal, "node '", node, "' input ", input,
                 " is not '", q.value, "'");
      n.inputs[input] = dq;
    }
  }
  g.nodes.insert(g.nodes.end(), added.begin(), added.end());
  // Weights now reached only through their quantized copy are dropped from the file.
  if (options.compress_weights) g.remove_unread_initializers();
  g.topological_sort();
  return out;
}

}  // namespace quac::quant
