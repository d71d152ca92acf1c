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

Tensor make_zero_point(const Quantizer& q) {
  size_t n = q.zero_point.size();
  Tensor t(q.spec.is_signed ? DataType::kInt8 : DataType::kUInt8,
           q.spec.per_channel ? Shape{static_cast<int64_t>(n)} : Shape{});
  for (size_t c = 0; c < n; ++c) {
    if (q.spec.is_signed)
      t.data<int8_t>()[c] = static_cast<int8_t>(q.zero_point[c]);
    else
      t.data<uint8_t>()[c] = static_cast<uint8_t>(q.zero_point[c]);
  }
  return t;
}

// The weight quantized to the quantizer's integer type (round half to even, clamped to its levels).
Tensor quantize_weight(const Tensor& w, const Quantizer& q) {
  Tensor out(q.spec.is_signed ? DataType::kInt8 : DataType::kUInt8, w.shape());
  int64_t axis = q.spec.per_channel ? (q.spec.axis < 0 ? q.spec.axis + w.rank() : q.spec.axis) : 0;
  int64_t channels = q.spec.per_channel ? w.dim(axis) : 1, inner = 1;
  if (q.spec.per_channel)
    for (int64_t d = axis + 1; d < w.rank(); ++d) inner *= w.dim(d);
  else
    inner = w.numel();
  const float* src = w.data<float>();
  for (int64_t i = 0; i < w.numel(); ++i) {
    size_t c = static_cast<size_t>((i / inner) % channels);
    double v = std::nearbyint(static_cast<double>(src[i] / q.scale[c])) + static_cast<double>(q.zero_point[c]);
    v = std::clamp(v, static_cast<double>(q.spec.level_low), static_cast<double>(q.spec.level_high));
    if (q.spec.is_signed)
      out.data<int8_t>()[i] = static_cast<int8_t>(v);
    else
      out.data<uint8_t>()[i] = static_cast<uint8_t>(v);
  }
  return out;
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
    std::string scale = base + "_scale", zp = base + "_zero_point", dq = base + "_dq";
    g.initializers[scale] = make_scale(q);
    g.initializers[zp] = make_zero_point(q);
    ir::Node dequant;
    dequant.op_type = "DequantizeLinear";
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
  if (options.compress_weights) {
    std::map<std::string, int> reads;
    for (const auto& n : g.nodes)
      for (const auto& r : ir::node_reads(n)) reads[r]++;
    for (auto it = g.initializers.begin(); it != g.initializers.end();) {
      if (!reads.count(it->first) && !g.is_output(it->first))
        it = g.initializers.erase(it);
      else
        ++it;
    }
  }
  g.topological_sort();
  return out;
}

}  // namespace quac::quant
