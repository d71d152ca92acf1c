// Keeps CNN activations in the blocked nChw8c layout between oneDNN convolutions and pools, so no reorder happens
// between consecutive layers. 2-D Convs (constant float weights) become quac.FusedConv and 2-D pools quac.Pool; a
// value between two such nodes is stored blocked when every reader accepts it (see kernels/blocked_layout.h). Graph
// outputs, taps and values read by any other op stay plain.
#include <map>

#include "passes/pass.h"
#include "passes/pass_util.h"

namespace quac::passes {
namespace {

bool is_fused_conv(const ir::Node& n) { return n.domain == "quac" && n.op_type == "FusedConv"; }
bool is_quac_pool(const ir::Node& n) { return n.domain == "quac" && n.op_type == "Pool"; }
// An INT8 convolution with a float output (int8_lowering.cc) can write it blocked too.
bool is_float_qconv(const ir::Graph& g, const ir::Node& n) {
  if (n.domain != "quac" || n.op_type != "QConv" || n.has_input(6) || n.inputs.size() < 4 || n.has("nhwc_output"))
    return false;
  const Tensor* w = g.initializer(n.inputs[3]);
  return w && w->rank() == 4 && n.outputs.size() == 1;
}

class BlockedLayout : public Pass {
 public:
  const char* name() const override { return "BlockedLayout"; }
  bool apply(ir::Graph& graph, PassContext& ctx) override {
    // Only ranks and channel counts matter here, so dynamic batch or image sizes do not stop the pass: a 2-D Conv
    // with constant [M, C/g, kh, kw] weights reads and writes rank-4 float tensors, and pools keep the channels.
    bool changed = false;
    std::map<std::string, int64_t> channels;  // outputs of converted nodes: float, rank 4, known channel count
    for (auto& node : graph.nodes) {
      if (node.inputs.empty() || node.outputs.empty()) continue;
      if (is_float_qconv(graph, node)) {
        channels[node.outputs[0]] = graph.initializer(node.inputs[3])->dim(0);
        continue;
      }
      bool conv = (node.domain.empty() && node.op_type == "Conv") || is_fused_conv(node);
      if (conv) {
        const Tensor* w = node.inputs.size() >= 2 ? float_initializer(graph, node.inputs[1]) : nullptr;
        if (!w || w->rank() != 4 || node.outputs.size() != 1) continue;
        if (node.domain.empty()) {
          node.domain = "quac";
          node.op_type = "FusedConv";
          changed = true;
        }
        channels[node.outputs[0]] = w->dim(0);
        continue;
      }
      static const std::set<std::string> kPools = {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"};
      if (node.domain.empty() && kPools.count(node.op_type) && channels.count(node.inputs[0])) {
        if (node.outputs.size() > 1 && !node.outputs[1].empty()) continue;  // MaxPool Indices
        if (node.op_type == "MaxPool" && node.attr_int("storage_order", 0) != 0) continue;
        node.set_attr(make_string_attr("mode", node.op_type));
        int64_t c = channels.at(node.inputs[0]);
        node.set_attr(make_int_attr("channels", c));
        node.domain = "quac";
        node.op_type = "Pool";
        node.outputs.resize(1);
        channels[node.outputs[0]] = c;
        changed = true;
      }
    }
    UseInfo uses(graph);
    for (auto& node : graph.nodes) {
      if (!is_fused_conv(node) && !is_quac_pool(node) && !is_float_qconv(graph, node)) continue;
      const std::string& v = node.outputs[0];
      if (!is_internal(graph, ctx, v) || read_by_subgraph(graph, v) || !channels.count(v)) continue;
      auto it = uses.consumers.find(v);
      if (it == uses.consumers.end()) continue;
      bool all_blocked = true;
      for (size_t c : it->second) {
        const ir::Node& r = graph.nodes[c];
        for (size_t k = 0; k < r.inputs.size(); ++k) {
          if (r.inputs[k] != v) continue;
          bool ok = (is_fused_conv(r) && (k == 0 || k == 3)) || (is_quac_pool(r) && k == 0);
          if (!ok) all_blocked = false;
        }
      }
      if (!all_blocked) continue;
      node.set_attr(make_int_attr("blocked_output", 1));
      for (size_t c : it->second) {
        ir::Node& r = graph.nodes[c];
        auto list = r.attr_ints("blocked_inputs", {});
        for (size_t k = 0; k < r.inputs.size(); ++k)
          if (r.inputs[k] == v) list.push_back(static_cast<int64_t>(k));
        r.set_attr(make_ints_attr("blocked_inputs", list));
      }
      changed = true;
    }
    return changed;
  }
};

}  // namespace

QUAC_REGISTER_PASS(BlockedLayout, 200, 2);

}  // namespace quac::passes
