// Level-2 fusions: BatchNormalization folded into Conv/Gemm weights, Conv + bias + activations + residual Add as one
// quac.FusedConv (run as oneDNN post-ops), the erf form of Gelu as quac.Gelu, decomposed LayerNormalization.
#include <cmath>

#include "passes/pass.h"
#include "passes/pass_util.h"
#include "passes/shape_infer.h"

namespace quac::passes {
namespace {

class BatchNormFolding : public Pass {
 public:
  const char* name() const override { return "BatchNormFolding"; }
  bool apply(ir::Graph& graph, PassContext& ctx) override {
    bool changed = false;
    std::set<size_t> dead;
    UseInfo uses(graph);
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
      const ir::Node& bn = graph.nodes[i];
      if (!is_op(bn, "BatchNormalization") || bn.inputs.size() < 5) continue;
      bool extra_outputs = false;
      for (size_t o = 1; o < bn.outputs.size(); ++o)
        if (!bn.outputs[o].empty()) extra_outputs = true;
      if (extra_outputs || bn.attr_int("spatial", 1) != 1 || bn.attr_int("training_mode", 0) != 0) continue;
      const Tensor *scale = float_initializer(graph, bn.inputs[1]), *shift = float_initializer(graph, bn.inputs[2]),
                   *mean = float_initializer(graph, bn.inputs[3]), *var = float_initializer(graph, bn.inputs[4]);
      if (!scale || !shift || !mean || !var) continue;
      const std::string& x = bn.inputs[0];
      int p = uses.producer_of(x);
      if (p < 0 || dead.count(static_cast<size_t>(p)) || uses.num_consumers(x) != 1 || !is_internal(graph, ctx, x))
        continue;
      ir::Node& conv = graph.nodes[static_cast<size_t>(p)];
      if (!is_op(conv, "Conv") || conv.outputs.size() != 1 || conv.inputs.size() < 2) continue;
      const Tensor* w = float_initializer(graph, conv.inputs[1]);
      const Tensor* b = conv.has_input(2) ? float_initializer(graph, conv.inputs[2]) : nullptr;
      if (!w || w->rank() < 3 || (conv.has_input(2) && !b)) continue;
      int64_t m = w->dim(0);
      if (scale->numel() != m || shift->numel() != m || mean->numel() != m || var->numel() != m) continue;
      if (b && b->numel() != m) continue;
      float eps = bn.attr_float("epsilon", 1e-5f);
      Tensor nw(DataType::kFloat, w->shape()), nb(DataType::kFloat, {m});
      int64_t per = w->numel() / m;
      const float* sw = w->data<float>();
      for (int64_t o = 0; o < m; ++o) {
        float s = scale->data<float>()[o] / std::sqrt(var->data<float>()[o] + eps);
        for (int64_t j = 0; j < per; ++j) nw.data<float>()[o * per + j] = sw[o * per + j] * s;
        float bias = b ? b->data<float>()[o] : 0.f;
        nb.data<float>()[o] = (bias - mean->data<float>()[o]) * s + shift->data<float>()[o];
      }
      std::string wn = unique_name(graph, conv.inputs[1] + "_bnfold"), bname = unique_name(graph, wn + "_bias");
      graph.initializers[wn] = nw;
      graph.initializers[bname] = nb;
      conv.inputs[1] = wn;
      if (conv.inputs.size() < 3) conv.inputs.resize(3);
      conv.inputs[2] = bname;
      conv.outputs[0] = bn.outputs[0];
      dead.insert(i);
      changed = true;
    }
    erase_nodes(graph, dead);
    return changed;
  }
};

// Appends a post-op to a quac.FusedConv node (converting a Conv first).
void add_post_op(ir::Node& conv, const std::string& op, float alpha, float beta) {
  if (conv.domain != "quac") {
    conv.domain = "quac";
    conv.op_type = "FusedConv";
  }
  auto ops = conv.attr_strings("post_ops");
  auto alphas = conv.attr_floats("post_alpha"), betas = conv.attr_floats("post_beta");
  ops.push_back(op);
  alphas.push_back(alpha);
  betas.push_back(beta);
  conv.set_attr(make_strings_attr("post_ops", ops));
  conv.set_attr(make_floats_attr("post_alpha", alphas));
  conv.set_attr(make_floats_attr("post_beta", betas));
}

class ConvFusion : public Pass {
 public:
  const char* name() const override { return "ConvFusion"; }
  bool apply(ir::Graph& graph, PassContext& ctx) override {
    bool changed = false;
    for (bool again = true; again;) {
      again = false;
      UseInfo uses(graph);
      // Generic shapes: a residual Add under a dynamic batch is fused as well (equal shapes for every batch size).
      auto shapes = infer_generic_shapes(graph);
      for (size_t i = 0; i < graph.nodes.size() && !again; ++i) {
        ir::Node& conv = graph.nodes[i];
        bool fused = conv.domain == "quac" && conv.op_type == "FusedConv";
        if (!fused && !is_op(conv, "Conv")) continue;
        if (conv.outputs.size() != 1 || conv.inputs.size() < 2 || !float_initializer(graph, conv.inputs[1])) continue;
        const std::string y = conv.outputs[0];
        if (!is_internal(graph, ctx, y) || read_by_subgraph(graph, y)) continue;
        auto ops = conv.attr_strings("post_ops");
        bool has_sum = std::find(ops.begin(), ops.end(), "Sum") != ops.end();
        auto cons = uses.consumers.count(y) ? uses.consumers.at(y) : std::vector<size_t>{};
        std::string op;
        float alpha, beta;
        if (cons.size() == 1) {
          size_t c = cons[0];
          ir::Node& next = graph.nodes[c];
          if (activation_of(graph, next, &op, &alpha, &beta) && next.inputs[0] == y) {
            add_post_op(conv, op, alpha, beta);
            conv.outputs[0] = next.outputs[0];
            erase_nodes(graph, {c});
            again = changed = true;
          } else if (is_op(next, "Add") && !has_sum && next.inputs.size() == 2 && next.outputs.size() == 1 &&
                     (next.inputs[0] == y) != (next.inputs[1] == y)) {
            const std::string& other = next.inputs[0] == y ? next.inputs[1] : next.inputs[0];
            auto sy = shapes.find(y), so = shapes.find(other), sa = shapes.find(next.outputs[0]);
            if (sy == shapes.end() || so == shapes.end() || sa == shapes.end() || sy->second != so->second ||
                sy->second != sa->second || graph.initializer(other))
              continue;
            add_post_op(conv, "Sum", 0, 0);
            conv.inputs.resize(4);
            conv.inputs[3] = other;
            conv.outputs[0] = next.outputs[0];
            erase_nodes(graph, {c});
            graph.topological_sort();
            again = changed = true;
          }
        } else if (cons.size() == 2) {
          GatedActivation gated;
          if (!gated_activation(graph, ctx, uses, y, &gated)) continue;
          add_post_op(conv, gated.op, gated.alpha, 0);
          conv.outputs[0] = graph.nodes[gated.mul].outputs[0];
          erase_nodes(graph, {gated.gate, gated.mul});
          again = changed = true;
        }
      }
    }
    return changed;
  }
};

// The other input of a binary node given one of them, or "".
std::string other_input(const ir::Node& n, const std::string& v) {
  if (n.inputs.size() != 2) return "";
  if (n.inputs[0] == v) return n.inputs[1];
  if (n.inputs[1] == v) return n.inputs[0];
  return "";
}

class GeluFusion : public Pass {
 public:
  const char* name() const override { return "GeluFusion"; }
  bool apply(ir::Graph& graph, PassContext& ctx) override {
    bool changed = false;
    for (bool again = true; again;) {
      again = false;
      UseInfo uses(graph);
      auto single = [&](const std::string& v) -> ir::Node* {
        int c = uses.single_consumer(v);
        return c >= 0 && is_internal(graph, ctx, v) ? &graph.nodes[static_cast<size_t>(c)] : nullptr;
      };
      auto index_of = [&](const ir::Node* n) { return static_cast<size_t>(n - graph.nodes.data()); };
      for (size_t i = 0; i < graph.nodes.size() && !again; ++i) {
        const ir::Node& erf = graph.nodes[i];
        if (!is_op(erf, "Erf")) continue;
        int dp = uses.producer_of(erf.inputs[0]);
        if (dp < 0) continue;
        const ir::Node& div = graph.nodes[static_cast<size_t>(dp)];
        float c;
        if (div.inputs.size() != 2 || !constant_scalar(graph, div.inputs[1], &c)) continue;
        if (!((is_op(div, "Div") && near(c, std::sqrt(2.f))) || (is_op(div, "Mul") && near(c, 1 / std::sqrt(2.f)))))
          continue;
        const std::string x = div.inputs[0];
        if (!single(div.outputs[0])) continue;
        ir::Node* add = single(erf.outputs[0]);
        float one;
        if (!add || !is_op(*add, "Add") || !constant_scalar(graph, other_input(*add, erf.outputs[0]), &one) ||
            !near(one, 1))
          continue;
        ir::Node* m1 = single(add->outputs[0]);
        if (!m1 || !is_op(*m1, "Mul")) continue;
        std::string o1 = other_input(*m1, add->outputs[0]);
        std::set<size_t> dead = {index_of(&div), i, index_of(add), index_of(m1)};
        std::string out;
        float half;
        if (o1 == x) {  // (x * (1 + erf)) * 0.5
          ir::Node* m2 = single(m1->outputs[0]);
          if (!m2 || !is_op(*m2, "Mul") || !constant_scalar(graph, other_input(*m2, m1->outputs[0]), &half) ||
              !near(half, 0.5f))
            continue;
          dead.insert(index_of(m2));
          out = m2->outputs[0];
        } else if (constant_scalar(graph, o1, &half) && near(half, 0.5f)) {  // x * ((1 + erf) * 0.5)
          ir::Node* m2 = single(m1->outputs[0]);
          if (!m2 || !is_op(*m2, "Mul") || other_input(*m2, m1->outputs[0]) != x) continue;
          dead.insert(index_of(m2));
          out = m2->outputs[0];
        } else {  // (x * 0.5) * (1 + erf)
          int hp = uses.producer_of(o1);
          if (hp < 0) continue;
          const ir::Node& h = graph.nodes[static_cast<size_t>(hp)];
          if (!is_op(h, "Mul") || other_input(h, x).empty() || !constant_scalar(graph, other_input(h, x), &half) ||
              !near(half, 0.5f) || !single(o1))
            continue;
          dead.insert(static_cast<size_t>(hp));
          out = m1->outputs[0];
        }
        ir::Node gelu;
        gelu.name = erf.name.empty() ? out + "_gelu" : erf.name + "_gelu";
        gelu.domain = "quac";
        gelu.op_type = "Gelu";
        gelu.inputs = {x};
        gelu.outputs = {out};
        graph.nodes.push_back(gelu);
        erase_nodes(graph, dead);
        graph.topological_sort();
        again = changed = true;
      }
    }
    return changed;
  }
};

// MatMul(A, constant B) + constant bias of shape [N] -> quac.MatMulAdd, run as one
// oneDNN matmul with a binary post-op: the Linear layer as exporters write it.
class MatMulAddFusion : public Pass {
 public:
  const char* name() const override { return "MatMulAddFusion"; }
  bool apply(ir::Graph& graph, PassContext& ctx) override {
    UseInfo uses(graph);
    std::set<size_t> dead;
    bool changed = false;
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
      ir::Node& mm = graph.nodes[i];
      if (!is_op(mm, "MatMul") || mm.inputs.size() != 2 || mm.outputs.size() != 1) continue;
      const Tensor* b = float_initializer(graph, mm.inputs[1]);
      if (!b || b->rank() != 2) continue;
      const std::string& y = mm.outputs[0];
      int c = uses.single_consumer(y);
      if (c < 0 || !is_internal(graph, ctx, y) || read_by_subgraph(graph, y) || dead.count(static_cast<size_t>(c)))
        continue;
      const ir::Node& add = graph.nodes[static_cast<size_t>(c)];
      if (!is_op(add, "Add") || add.outputs.size() != 1) continue;
      const std::string bias = other_input(add, y);
      const Tensor* t = bias.empty() ? nullptr : float_initializer(graph, bias);
      if (!t || t->rank() != 1 || t->numel() != b->dim(1)) continue;  // rank 1: the Add never widens the output
      mm.domain = "quac";
      mm.op_type = "MatMulAdd";
      mm.inputs.push_back(bias);
      mm.outputs[0] = add.outputs[0];
      dead.insert(static_cast<size_t>(c));
      changed = true;
    }
    erase_nodes(graph, dead);
    return changed;
  }
};

bool last_axis_reduce(const ir::Graph& graph, const ir::Node& n) {
  if (!is_op(n, "ReduceMean") || n.attr_int("keepdims", 1) != 1) return false;
  std::vector<int64_t> axes = n.attr_ints("axes", {});
  if (n.has_input(1)) {
    const Tensor* t = graph.initializer(n.inputs[1]);
    if (!t) return false;
    axes = t->to_int_vector();
  }
  return axes.size() == 1 && axes[0] == -1;
}

class LayerNormFusion : public Pass {
 public:
  const char* name() const override { return "LayerNormFusion"; }
  bool apply(ir::Graph& graph, PassContext& ctx) override {
    bool changed = false;
    for (bool again = true; again;) {
      again = false;
      UseInfo uses(graph);
      auto only = [&](const std::string& v, size_t n) {
        return uses.num_consumers(v) == n && is_internal(graph, ctx, v);
      };
      auto node_of = [&](const std::string& v, size_t k) -> ir::Node* {
        auto it = uses.consumers.find(v);
        return it == uses.consumers.end() || it->second.size() <= k ? nullptr : &graph.nodes[it->second[k]];
      };
      for (size_t i = 0; i < graph.nodes.size() && !again; ++i) {
        const ir::Node& mean = graph.nodes[i];
        if (!last_axis_reduce(graph, mean) || !only(mean.outputs[0], 1)) continue;
        const std::string x = mean.inputs[0];
        ir::Node* sub = node_of(mean.outputs[0], 0);
        if (!sub || !is_op(*sub, "Sub") || sub->inputs.size() != 2 || sub->inputs[0] != x || !only(sub->outputs[0], 2))
          continue;
        ir::Node *pow = node_of(sub->outputs[0], 0), *div = node_of(sub->outputs[0], 1);
        if (pow && !is_op(*pow, "Pow")) std::swap(pow, div);
        float two, eps;
        if (!pow || !div || !is_op(*pow, "Pow") || !is_op(*div, "Div") ||
            !constant_scalar(graph, pow->inputs[1], &two) || two != 2.f || div->inputs[0] != sub->outputs[0] ||
            !only(pow->outputs[0], 1))
          continue;
        ir::Node* var = node_of(pow->outputs[0], 0);
        if (!var || !last_axis_reduce(graph, *var) || !only(var->outputs[0], 1)) continue;
        ir::Node* add = node_of(var->outputs[0], 0);
        if (!add || !is_op(*add, "Add") || !constant_scalar(graph, other_input(*add, var->outputs[0]), &eps) ||
            !only(add->outputs[0], 1))
          continue;
        ir::Node* sqrt = node_of(add->outputs[0], 0);
        if (!sqrt || !is_op(*sqrt, "Sqrt") || div->inputs[1] != sqrt->outputs[0] || !only(sqrt->outputs[0], 1) ||
            !only(div->outputs[0], 1))
          continue;
        ir::Node* mul = node_of(div->outputs[0], 0);
        if (!mul || !is_op(*mul, "Mul") || !only(mul->outputs[0], 1)) continue;
        std::string gamma = other_input(*mul, div->outputs[0]);
        ir::Node* bias = node_of(mul->outputs[0], 0);
        if (!float_initializer(graph, gamma) || !bias || !is_op(*bias, "Add")) continue;
        std::string beta = other_input(*bias, mul->outputs[0]);
        const Tensor *g = float_initializer(graph, gamma), *b = float_initializer(graph, beta);
        if (!b || g->rank() != 1 || b->rank() != 1 || g->numel() != b->numel()) continue;
        ir::Node ln;
        ln.name = mean.name + "_layernorm";
        // ONNX LayerNormalization exists from opset 17; for older models quac's own op has the same contract.
        ln.domain = ctx.model.opset("") >= 17 ? "" : "quac";
        ln.op_type = "LayerNormalization";
        ln.inputs = {x, gamma, beta};
        ln.outputs = {bias->outputs[0]};
        ln.set_attr(make_int_attr("axis", -1));
        ln.set_attr(make_float_attr("epsilon", eps));
        auto idx = [&](const ir::Node* n) { return static_cast<size_t>(n - graph.nodes.data()); };
        std::set<size_t> dead = {i, idx(sub), idx(pow), idx(div), idx(var), idx(add), idx(sqrt), idx(mul), idx(bias)};
        graph.nodes.push_back(ln);
        erase_nodes(graph, dead);
        graph.topological_sort();
        again = changed = true;
      }
    }
    return changed;
  }
};

}  // namespace

QUAC_REGISTER_PASS(BatchNormFolding, 100, 2);
QUAC_REGISTER_PASS(GeluFusion, 110, 2);
QUAC_REGISTER_PASS(LayerNormFusion, 120, 2);
QUAC_REGISTER_PASS(MatMulAddFusion, 125, 2);
QUAC_REGISTER_PASS(ConvFusion, 130, 2);

}  // namespace quac::passes
