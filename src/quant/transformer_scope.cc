#include "quant/transformer_scope.h"

#include <algorithm>
#include <map>

namespace quac::quant {

const std::vector<std::string>& transformer_ignored_types() {
  static const std::vector<std::string> kTypes = {
      "Add",      "Pow",       "Squeeze", "Sub", "AveragePool", "GlobalAveragePool", "ReduceMean",
      "ReduceL2", "ReduceSum", "Div",     "Max", "Sqrt",        "Reciprocal",        "BatchNormalization",
      "Greater",  "Less",      "Equal",   "Mul"};
  return kTypes;
}

std::vector<std::string> attention_output_matmuls(const ir::Graph& graph) {
  auto producers = graph.producers();
  auto producer_type = [&](const std::string& v) -> const ir::Node* {
    auto it = producers.find(v);
    if (it == producers.end()) return nullptr;
    const ir::Node& n = graph.nodes[it->second];
    return n.domain.empty() ? &n : nullptr;
  };
  auto from_softmax = [&](const std::string& v) {
    const ir::Node* p = producer_type(v);
    if (p && p->op_type == "Reshape" && !p->inputs.empty()) p = producer_type(p->inputs[0]);
    return p && p->op_type == "Softmax";
  };
  auto from_layout_op = [&](const std::string& v) {
    const ir::Node* p = producer_type(v);
    return p &&
           (p->op_type == "Reshape" || p->op_type == "Transpose" || p->op_type == "Gather" || p->op_type == "Squeeze");
  };
  std::vector<std::string> names;
  for (const auto& n : graph.nodes) {
    if (!n.domain.empty() || (n.op_type != "MatMul" && n.op_type != "Gemm") || n.inputs.size() < 2) continue;
    const std::string &a = n.inputs[0], &b = n.inputs[1];
    if ((from_softmax(a) && from_layout_op(b)) || (from_softmax(b) && from_layout_op(a))) names.push_back(n.name);
  }
  return names;
}

void add_transformer_ignored(const ir::Graph& graph, IgnoredScope& ignored) {
  auto add = [](std::vector<std::string>& list, const std::string& v) {
    if (std::find(list.begin(), list.end(), v) == list.end()) list.push_back(v);
  };
  for (const auto& t : transformer_ignored_types()) add(ignored.types, t);
  for (const auto& n : attention_output_matmuls(graph)) add(ignored.names, n);
}

}  // namespace quac::quant
