#include "passes/pass_util.h"

#include <algorithm>
#include <cmath>

namespace quac::passes {

void replace_uses(ir::Graph& graph, const std::string& from, const std::string& to) {
  for (auto& node : graph.nodes)
    for (auto& in : node.inputs)
      if (in == from) in = to;
}

void erase_nodes(ir::Graph& graph, const std::set<size_t>& dead) {
  if (dead.empty()) return;
  std::vector<ir::Node> kept;
  kept.reserve(graph.nodes.size());
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    if (!dead.count(i)) kept.push_back(std::move(graph.nodes[i]));
  graph.nodes = std::move(kept);
}

std::string unique_name(const ir::Graph& graph, const std::string& base) {
  std::set<std::string> used;
  for (const auto& v : graph.inputs) used.insert(v.name);
  for (const auto& [n, t] : graph.initializers) used.insert(n);
  for (const auto& node : graph.nodes)
    for (const auto& o : node.outputs) used.insert(o);
  if (!used.count(base)) return base;
  for (int i = 1;; ++i) {
    std::string name = base + "_" + std::to_string(i);
    if (!used.count(name)) return name;
  }
}

const Tensor* float_initializer(const ir::Graph& graph, const std::string& value) {
  const Tensor* t = value.empty() ? nullptr : graph.initializer(value);
  return t && t->dtype() == DataType::kFloat ? t : nullptr;
}

bool constant_scalar(const ir::Graph& graph, const std::string& value, float* out) {
  const Tensor* t = value.empty() ? nullptr : graph.initializer(value);
  if (!t || t->numel() != 1 || !dtype_is_float(t->dtype())) return false;
  *out = static_cast<float>(t->scalar_as_double(0));
  return true;
}

bool read_by_subgraph(const ir::Graph& graph, const std::string& value) {
  for (const auto& node : graph.nodes) {
    bool has_graph = false;
    for (const auto& a : node.attributes)
      if (a.kind == ir::Attribute::Kind::kGraph || a.kind == ir::Attribute::Kind::kGraphs) has_graph = true;
    if (!has_graph) continue;
    for (const auto& r : ir::node_reads(node))
      if (r == value && std::find(node.inputs.begin(), node.inputs.end(), value) == node.inputs.end()) return true;
  }
  return false;
}

bool near(float a, float b) { return std::fabs(a - b) <= 1e-4f * std::max(1.f, std::fabs(b)); }

bool activation_of(const ir::Graph& graph, const ir::Node& n, std::string* op, float* alpha, float* beta) {
  if (!n.domain.empty() || n.inputs.empty() || n.outputs.size() != 1) return false;
  *alpha = 0;
  *beta = 0;
  const std::string& t = n.op_type;
  if (t == "Relu" || t == "Sigmoid" || t == "Tanh" || t == "HardSwish") {
    *op = t;
    return true;
  }
  if (t == "LeakyRelu") {
    *op = t;
    *alpha = n.attr_float("alpha", 0.01f);
    return true;
  }
  if (t == "Elu") {
    *op = t;
    *alpha = n.attr_float("alpha", 1.f);
    return true;
  }
  if (t == "HardSigmoid") {
    *op = t;
    *alpha = n.attr_float("alpha", 0.2f);
    *beta = n.attr_float("beta", 0.5f);
    return true;
  }
  if (t == "Clip") {
    float lo = -INFINITY, hi = INFINITY;
    if (n.has("min") || n.has("max")) {  // opset < 11
      lo = n.attr_float("min", lo);
      hi = n.attr_float("max", hi);
    }
    if (n.has_input(1) && !constant_scalar(graph, n.inputs[1], &lo)) return false;
    if (n.has_input(2) && !constant_scalar(graph, n.inputs[2], &hi)) return false;
    *op = "Clip";
    *alpha = lo;
    *beta = hi;
    return true;
  }
  return false;
}

bool gated_activation(const ir::Graph& graph, const PassContext& ctx, const UseInfo& uses, const std::string& y,
                      GatedActivation* out) {
  auto it = uses.consumers.find(y);
  if (it == uses.consumers.end() || it->second.size() != 2) return false;
  size_t g = it->second[0], m = it->second[1];
  auto gate = [&](const ir::Node& n) {
    return n.inputs.size() == 1 && n.inputs[0] == y && n.outputs.size() == 1 &&
           (is_op(n, "Sigmoid") || (is_op(n, "HardSigmoid") && near(n.attr_float("alpha", 0.2f), 1.f / 6) &&
                                    near(n.attr_float("beta", 0.5f), 0.5f)));
  };
  if (!gate(graph.nodes[g])) std::swap(g, m);
  const ir::Node &gn = graph.nodes[g], &mn = graph.nodes[m];
  if (g == m || !gate(gn) || !is_op(mn, "Mul") || mn.inputs.size() != 2 || mn.outputs.size() != 1) return false;
  const std::string& s = gn.outputs[0];
  bool pattern = (mn.inputs[0] == y && mn.inputs[1] == s) || (mn.inputs[1] == y && mn.inputs[0] == s);
  if (!pattern || uses.num_consumers(s) != 1 || !is_internal(graph, ctx, s) || read_by_subgraph(graph, s)) return false;
  out->op = gn.op_type == "Sigmoid" ? "Swish" : "HardSwish";
  out->alpha = gn.op_type == "Sigmoid" ? 1.f : 0.f;
  out->gate = g;
  out->mul = m;
  return true;
}

}  // namespace quac::passes
