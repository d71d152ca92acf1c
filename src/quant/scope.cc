#include "quant/scope.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <set>

namespace quac::quant {

QuantizationScope QuantizationScope::without_groups(const std::set<size_t>& removed) const {
  QuantizationScope out;
  std::vector<long> remap(quantizers.size(), -1);
  for (size_t q = 0; q < quantizers.size(); ++q) {
    const Quantizer& qz = quantizers[q];
    if (qz.group >= 0 && removed.count(static_cast<size_t>(qz.group))) continue;
    remap[q] = static_cast<long>(out.quantizers.size());
    out.quantizers.push_back(qz);
  }
  out.groups = groups;
  out.fused = fused;
  for (size_t g = 0; g < out.groups.size(); ++g) {
    auto& group = out.groups[g];
    std::vector<size_t> kept;
    if (!removed.count(g))
      for (size_t q : group.quantizers)
        if (remap[q] >= 0) kept.push_back(static_cast<size_t>(remap[q]));
    group.quantizers = kept;
    if (removed.count(g)) group.nodes.clear();
  }
  return out;
}

size_t QuantizationScope::active_groups() const {
  size_t n = 0;
  for (const auto& g : groups) n += !g.quantizers.empty();
  return n;
}

void QuantizationScope::rebuild_groups(const ir::Graph& graph) {
  // Union-find over quantizers: every quantized op joins the quantizers it reads.
  std::vector<size_t> parent(quantizers.size());
  std::iota(parent.begin(), parent.end(), size_t{0});
  auto find = [&](size_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  };
  std::map<std::string, std::vector<size_t>> by_node;
  for (size_t q = 0; q < quantizers.size(); ++q)
    for (const auto& [node, input] : quantizers[q].uses) by_node[node].push_back(q);
  for (const auto& [node, qs] : by_node)
    for (size_t i = 1; i < qs.size(); ++i) parent[find(qs[i])] = find(qs[0]);
  // A fused pattern is one op: its inputs' quantizers (the conv's, the residual skip's) go together.
  for (const auto& pattern : fused) {
    long first = -1;
    for (const auto& node : pattern) {
      auto it = by_node.find(node);
      if (it == by_node.end()) continue;
      if (first < 0) first = static_cast<long>(it->second[0]);
      parent[find(it->second[0])] = find(static_cast<size_t>(first));
    }
  }
  // Quantizers sharing a scale go together: removing one would change the others' scale.
  std::map<int, size_t> first_unified;
  for (size_t q = 0; q < quantizers.size(); ++q) {
    if (quantizers[q].unified_scale < 0 || quantizers[q].uses.empty()) continue;
    auto [it, fresh] = first_unified.emplace(quantizers[q].unified_scale, q);
    if (!fresh) parent[find(q)] = find(it->second);
  }
  std::map<size_t, size_t> root_to_group;
  groups.clear();
  // Groups are numbered in graph order of their first op, so reports read top to bottom.
  std::map<std::string, size_t> order;
  for (size_t i = 0; i < graph.nodes.size(); ++i) order[graph.nodes[i].name] = i;
  std::vector<std::string> nodes_in_order;
  for (const auto& [node, qs] : by_node) nodes_in_order.push_back(node);
  std::sort(nodes_in_order.begin(), nodes_in_order.end(),
            [&](const std::string& a, const std::string& b) { return order[a] < order[b]; });
  for (const auto& node : nodes_in_order) {
    size_t root = find(by_node[node][0]);
    auto [it, fresh] = root_to_group.emplace(root, groups.size());
    if (fresh) groups.emplace_back();
    groups[it->second].nodes.push_back(node);
  }
  for (size_t q = 0; q < quantizers.size(); ++q) {
    if (quantizers[q].uses.empty()) continue;
    size_t g = root_to_group.at(find(q));
    quantizers[q].group = static_cast<int>(g);
    groups[g].quantizers.push_back(q);
  }
  // A group is named after its first op with weights (the Gemm rather than the Flatten before it), else its first op.
  std::set<std::string> weighted;
  for (const auto& q : quantizers)
    if (q.is_weight)
      for (const auto& [node, input] : q.uses) weighted.insert(node);
  for (auto& g : groups) {
    std::string name = g.nodes.front();
    for (auto it = g.nodes.rbegin(); it != g.nodes.rend(); ++it)
      if (weighted.count(*it)) name = *it;
    const ir::Node* first = nullptr;
    for (const auto& n : graph.nodes)
      if (n.name == name) first = &n;
    g.label = (first ? first->op_type + " '" + first->name + "'" : "'" + name + "'") +
              (g.nodes.size() > 1 ? " (+" + std::to_string(g.nodes.size() - 1) + " ops)" : "");
  }
}

void QuantizationScope::unify_ranges() {
  std::map<int, std::pair<float, float>> ranges;
  for (const auto& q : quantizers) {
    if (q.unified_scale < 0 || q.uses.empty() || q.range_min.size() != 1 || q.range_max.size() != 1) continue;
    auto [it, fresh] = ranges.emplace(q.unified_scale, std::make_pair(q.range_min[0], q.range_max[0]));
    if (!fresh) it->second = {std::min(it->second.first, q.range_min[0]), std::max(it->second.second, q.range_max[0])};
  }
  for (auto& q : quantizers) {
    auto it = ranges.find(q.unified_scale);
    if (q.unified_scale < 0 || it == ranges.end() || q.range_min.size() != 1) continue;
    q.range_min = {it->second.first};
    q.range_max = {it->second.second};
  }
}

}  // namespace quac::quant
