#include "passes/pass_util.h"

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

}  // namespace quac::passes
