// Small helpers shared by quac's graph passes: attribute builders, renaming, node removal.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "passes/pass.h"

namespace quac::passes {

using ir::make_float_attr;
using ir::make_floats_attr;
using ir::make_int_attr;
using ir::make_ints_attr;
using ir::make_string_attr;
using ir::make_strings_attr;

// Replaces every read of `from` (node inputs, subgraph captures are not rewritten) with `to`.
void replace_uses(ir::Graph& graph, const std::string& from, const std::string& to);
// Drops nodes whose index is in `dead`, keeping order.
void erase_nodes(ir::Graph& graph, const std::set<size_t>& dead);
// A name not used by any value or node of the graph, derived from `base`.
std::string unique_name(const ir::Graph& graph, const std::string& base);

// True when the value is a float32 initializer.
const Tensor* float_initializer(const ir::Graph& graph, const std::string& value);
// The scalar value of a constant float input (rank 0 or one element), or false.
bool constant_scalar(const ir::Graph& graph, const std::string& value, float* out);
// True when nodes that read subgraph-captured values exist for `value` (we never rewrite those).
bool read_by_subgraph(const ir::Graph& graph, const std::string& value);

// An ONNX-domain node of this type.
inline bool is_op(const ir::Node& n, const char* op) { return n.domain.empty() && n.op_type == op; }
// |a - b| within a relative 1e-4: attribute constants written by exporters (1/6, sqrt(2)...).
bool near(float a, float b);
// An activation that oneDNN can run as a post-op, as (post-op name, alpha, beta); false for anything else.
bool activation_of(const ir::Graph& graph, const ir::Node& n, std::string* op, float* alpha, float* beta);

// Values consumed, counting a node once per input occurrence, plus graph outputs and protected values.
struct UseInfo {
  std::map<std::string, std::vector<size_t>> consumers;
  std::map<std::string, size_t> producer;
  explicit UseInfo(const ir::Graph& graph) : consumers(graph.consumers()), producer(graph.producers()) {}
  size_t num_consumers(const std::string& v) const {
    auto it = consumers.find(v);
    return it == consumers.end() ? 0 : it->second.size();
  }
  // The single consumer of v, or -1.
  int single_consumer(const std::string& v) const {
    auto it = consumers.find(v);
    return it != consumers.end() && it->second.size() == 1 ? static_cast<int>(it->second[0]) : -1;
  }
  int producer_of(const std::string& v) const {
    auto it = producer.find(v);
    return it == producer.end() ? -1 : static_cast<int>(it->second);
  }
};

// A gated activation on `y`: y * Sigmoid(y) ("Swish", alpha 1) or y * HardSigmoid(y, 1/6, 1/2) ("HardSwish", as
// exported before opset 14), where y's only readers are the gate and the Mul and the gate's output is internal.
// Gives the post-op, its alpha, and the gate's and the Mul's node indices.
struct GatedActivation {
  std::string op;
  float alpha = 0;
  size_t gate = 0, mul = 0;
};
bool gated_activation(const ir::Graph& graph, const PassContext& ctx, const UseInfo& uses, const std::string& y,
                      GatedActivation* out);

// True when v may disappear or change meaning: not protected, not a graph output.
inline bool is_internal(const ir::Graph& graph, const PassContext& ctx, const std::string& v) {
  return !ctx.protected_values.count(v) && !graph.is_output(v);
}

}  // namespace quac::passes
