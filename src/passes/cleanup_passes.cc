// Level-1 clean-ups: Constant nodes become initializers, Identity/Dropout disappear, constant sub-expressions are
// evaluated once with the reference kernels.
#include <algorithm>
#include <cstdio>

#include "ops/kernel.h"
#include "passes/pass.h"
#include "passes/pass_util.h"

namespace quac::passes {
namespace {

bool constant_value(const ir::Node& node, Tensor* out) {
  if (const Tensor* t = node.attr_tensor("value")) {
    *out = *t;
  } else if (const Tensor* s = node.attr_tensor("sparse_value")) {
    *out = *s;
  } else if (node.has("value_float")) {
    *out = Tensor::scalar<float>(node.attr_float("value_float", 0));
  } else if (node.has("value_int")) {
    *out = Tensor::scalar<int64_t>(node.attr_int("value_int", 0));
  } else if (node.has("value_floats")) {
    auto v = node.attr_floats("value_floats");
    *out = Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v);
  } else if (node.has("value_ints")) {
    auto v = node.attr_ints("value_ints");
    *out = Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v);
  } else {
    return false;  // strings and malformed constants stay nodes (the kernel reports problems)
  }
  return true;
}

class ConstantToInitializer : public Pass {
 public:
  const char* name() const override { return "ConstantToInitializer"; }
  bool apply(ir::Graph& graph, PassContext& ctx) override {
    std::set<size_t> dead;
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
      const ir::Node& node = graph.nodes[i];
      if (node.op_type != "Constant" || !node.domain.empty() || node.outputs.size() != 1) continue;
      const std::string& out = node.outputs[0];
      if (out.empty() || graph.initializers.count(out)) continue;
      Tensor value;
      if (!constant_value(node, &value)) continue;
      graph.initializers[out] = value;
      dead.insert(i);
    }
    erase_nodes(graph, dead);
    return !dead.empty();
  }
};

// Identity, and Dropout in inference (no mask wanted, training_mode absent or constant false).
bool is_passthrough(const ir::Graph& graph, const UseInfo& uses, const ir::Node& node) {
  if (!node.domain.empty() || node.inputs.empty() || node.inputs[0].empty() || node.outputs.empty()) return false;
  if (node.op_type == "Identity") return node.outputs.size() == 1;
  if (node.op_type != "Dropout") return false;
  if (node.outputs.size() > 1 && !node.outputs[1].empty() &&
      (uses.num_consumers(node.outputs[1]) || graph.is_output(node.outputs[1])))
    return false;
  if (node.has_input(2)) {
    const Tensor* mode = graph.initializer(node.inputs[2]);
    if (!mode || mode->numel() != 1 || mode->scalar_as_int(0) != 0) return false;
  }
  if (node.attr_int("is_test", 1) == 0 && node.has("is_test")) return false;  // opset < 7 training flag
  return true;
}

class IdentityRemoval : public Pass {
 public:
  const char* name() const override { return "IdentityRemoval"; }
  bool apply(ir::Graph& graph, PassContext& ctx) override {
    bool changed = false;
    for (;;) {
      UseInfo uses(graph);
      int victim = -1;
      for (size_t i = 0; i < graph.nodes.size() && victim < 0; ++i) {
        ir::Node& node = graph.nodes[i];
        if (!is_passthrough(graph, uses, node)) continue;
        const std::string x = node.inputs[0], y = node.outputs[0];
        if (read_by_subgraph(graph, y) || read_by_subgraph(graph, x)) continue;
        if (is_internal(graph, ctx, y)) {
          replace_uses(graph, y, x);
          victim = static_cast<int>(i);
        } else if (is_internal(graph, ctx, x) && uses.producer_of(x) >= 0 && uses.num_consumers(x) == 1) {
          // y must keep its name: the producer of x writes y directly.
          for (auto& o : graph.nodes[static_cast<size_t>(uses.producer_of(x))].outputs)
            if (o == x) o = y;
          victim = static_cast<int>(i);
        }
      }
      if (victim < 0) break;
      erase_nodes(graph, {static_cast<size_t>(victim)});
      changed = true;
    }
    return changed;
  }
};

// A KernelContext over plain tensors for running one reference kernel at compile time.
class FoldContext : public KernelContext {
 public:
  FoldContext(const ir::Node& node, int64_t opset, std::vector<const Tensor*> inputs)
      : node_(node), opset_(opset), inputs_(std::move(inputs)), outputs_(node.outputs.size()) {}
  const ir::Node& node() const override { return node_; }
  int64_t opset() const override { return opset_; }
  size_t num_inputs() const override { return inputs_.size(); }
  const Tensor* input(size_t i) const override { return i < inputs_.size() ? inputs_[i] : nullptr; }
  size_t num_outputs() const override { return outputs_.size(); }
  bool output_wanted(size_t i) const override { return i < node_.outputs.size() && !node_.outputs[i].empty(); }
  Tensor& allocate_output(size_t i, DataType type, const Shape& shape) override {
    if (i >= outputs_.size()) fail("bad output index");
    outputs_[i] = Tensor(type, shape);
    return outputs_[i];
  }
  void set_output(size_t i, Tensor tensor) override {
    if (i >= outputs_.size()) fail("bad output index");
    outputs_[i] = std::move(tensor);
  }
  int num_threads() const override { return 1; }
  const Tensor* lookup(const std::string&) const override { return nullptr; }
  std::vector<Tensor>& outputs() { return outputs_; }

 private:
  const ir::Node& node_;
  int64_t opset_;
  std::vector<const Tensor*> inputs_;
  std::vector<Tensor> outputs_;
};

bool is_foldable_op(const ir::Node& node) {
  static const std::set<std::string> kNever = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
                                               "Multinomial",  "Bernoulli",     "Constant"};
  // ONNX Runtime's com.microsoft DequantizeLinear (quac's 16-bit weights) is as pure as the ai.onnx one.
  bool ms_dequantize = node.domain == "com.microsoft" && node.op_type == "DequantizeLinear";
  if ((!node.domain.empty() && !ms_dequantize) || kNever.count(node.op_type)) return false;
  for (const auto& a : node.attributes)
    if (a.kind == ir::Attribute::Kind::kGraph || a.kind == ir::Attribute::Kind::kGraphs) return false;
  return true;
}

constexpr int64_t kMaxFoldedBytes = 16 << 20;

class ConstantFolding : public Pass {
 public:
  const char* name() const override { return "ConstantFolding"; }
  bool apply(ir::Graph& graph, PassContext& ctx) override {
    std::set<size_t> dead;
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
      const ir::Node& node = graph.nodes[i];
      if (!is_foldable_op(node) || node.inputs.empty()) continue;
      bool all_const = true;
      int64_t in_bytes = 0;
      std::vector<const Tensor*> ins;
      for (const auto& in : node.inputs) {
        const Tensor* t = in.empty() ? nullptr : graph.initializer(in);
        if (!in.empty() && !t) all_const = false;
        if (t) in_bytes += static_cast<int64_t>(t->nbytes());
        ins.push_back(t);
      }
      if (!all_const) continue;
      bool protect = false;
      for (const auto& o : node.outputs)
        if (!o.empty() && (!is_internal(graph, ctx, o) || read_by_subgraph(graph, o))) protect = true;
      if (protect) continue;
      int64_t opset = ctx.model.opset(node.domain);
      std::unique_ptr<Kernel> kernel;
      for (const KernelDef* def : KernelRegistry::instance().find(node.domain, node.op_type, opset)) {
        if (def->priority != 0) continue;
        KernelInfo info{node,
                        opset,
                        ins,
                        std::vector<const ir::ValueInfo*>(node.inputs.size(), nullptr),
                        1,
                        {},
                        "constant folding"};
        std::string reason;
        try {
          kernel = def->factory(info, &reason);
        } catch (const std::exception&) {
          kernel.reset();
        }
        if (kernel) break;
      }
      if (!kernel) continue;
      FoldContext fctx(node, opset, ins);
      try {
        kernel->run(fctx);
      } catch (const std::exception& e) {
        // Leave the node: the error will surface with full context when the model runs.
        if (ctx.verbose)
          std::fprintf(stderr, "[quac] constant folding skipped %s: %s\n", node.describe().c_str(), e.what());
        continue;
      }
      bool ok = true;
      int64_t out_bytes = 0;
      for (size_t o = 0; o < node.outputs.size(); ++o) {
        if (node.outputs[o].empty()) continue;
        if (!fctx.outputs()[o].defined())
          ok = false;
        else
          out_bytes += static_cast<int64_t>(fctx.outputs()[o].nbytes());
      }
      // Large outputs of small inputs (Expand, Tile, ConstantOfShape) would only bloat the model.
      if (!ok || (out_bytes > kMaxFoldedBytes && out_bytes > 2 * in_bytes)) continue;
      for (size_t o = 0; o < node.outputs.size(); ++o)
        if (!node.outputs[o].empty()) graph.initializers[node.outputs[o]] = fctx.outputs()[o];
      dead.insert(i);
    }
    erase_nodes(graph, dead);
    return !dead.empty();
  }
};

}  // namespace

QUAC_REGISTER_PASS(ConstantToInitializer, 10, 1);
QUAC_REGISTER_PASS(IdentityRemoval, 20, 1);
QUAC_REGISTER_PASS(ConstantFolding, 30, 1);

}  // namespace quac::passes
