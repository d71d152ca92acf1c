// INT8 lowering: QDQ patterns become quac's INT8 ops (see ops/int8_ref.cc for their contracts), run by oneDNN INT8
// primitives (kernels/onednn_int8.cc):
//   DQ(x) + DQ(int8 weights | Q(float weights)) -> Conv | MatMul | Gemm -> [activations] -> [Add DQ(r)] ->
//     [activations] -> [Q]                                           => quac.QConv / quac.QMatMul
//   DQ(x) -> MaxPool -> Q with the same scale and zero point         => quac.QPool (MaxPool)
//   DQ(x) -> GlobalAveragePool -> [Q]                                => quac.QPool (GlobalAveragePool)
//   DQ(x1..xn) -> Concat / Reshape / Flatten / ... -> Q, all with one scale and zero point => the op on the 8-bit data
//   Q(DQ(x)) with equal parameters                                   => x
// Without a Q after the pattern the op writes float (e.g. the classifier). Values passed only between INT8 convs and
// pools are then stored channels-last (ops/int8_layout.h). It runs before constant folding (which would otherwise
// fold DQ(int8 weights) into float weights) and before the float fusions. Anything that does not fit is left alone.
#include <cmath>

#include "ops/quant_util.h"
#include "passes/pass.h"
#include "passes/pass_util.h"
#include "passes/shape_infer.h"

namespace quac::passes {
namespace {

// A scalar 8-bit quantizer (scale and zero point initializers) of a DequantizeLinear / QuantizeLinear node.
struct ScalarQ {
  std::string scale, zero_point;
  float s = 0;
  int64_t zp = 0;
  DataType type = DataType::kUndefined;
  bool same(const ScalarQ& o) const { return s == o.s && zp == o.zp && type == o.type; }
};

bool scalar_q(const ir::Graph& graph, const ir::Node& n, ScalarQ* q) {
  if (n.inputs.size() < 3 || !n.has_input(2)) return false;  // the zero point gives the 8-bit type
  const Tensor* s = graph.initializer(n.inputs[1]);
  const Tensor* z = graph.initializer(n.inputs[2]);
  if (!s || !z || s->dtype() != DataType::kFloat || s->numel() != 1 || z->numel() != 1) return false;
  if (!ops::is_quantized_8bit(z->dtype())) return false;
  q->scale = n.inputs[1];
  q->zero_point = n.inputs[2];
  q->s = s->data<float>()[0];
  q->zp = z->scalar_as_int(0);
  q->type = z->dtype();
  return std::isfinite(q->s) && q->s > 0;
}

// Constant int8 weights and per-output-channel float scales (channel axis `axis`), from DQ(int8 initializer) with
// zero zero points, or DQ(Q(float initializer)).
bool constant_weights(const ir::Graph& graph, const UseInfo& uses, const std::string& v, int64_t axis, Tensor* w,
                      std::vector<float>* scales) {
  int p = uses.producer_of(v);
  if (p < 0) return false;
  const ir::Node& dq = graph.nodes[static_cast<size_t>(p)];
  if (!is_op(dq, "DequantizeLinear") || dq.inputs.size() < 2) return false;
  const Tensor* s = graph.initializer(dq.inputs[1]);
  const Tensor* z = dq.has_input(2) ? graph.initializer(dq.inputs[2]) : nullptr;
  if (!s || s->dtype() != DataType::kFloat || (dq.has_input(2) && !z)) return false;
  if (z && z->dtype() != DataType::kInt8) return false;
  for (int64_t i = 0; z && i < z->numel(); ++i)
    if (z->scalar_as_int(i) != 0) return false;  // oneDNN's INT8 weights are symmetric
  const Tensor* q = graph.initializer(dq.inputs[0]);
  const ir::Node* qn = nullptr;
  if (!q) {
    int pq = uses.producer_of(dq.inputs[0]);
    if (pq < 0) return false;
    qn = &graph.nodes[static_cast<size_t>(pq)];
    if (!is_op(*qn, "QuantizeLinear") || qn->inputs.size() < 2 || qn->inputs[1] != dq.inputs[1]) {
      // The Q may have its own (equal) scale initializer.
      if (!qn || !is_op(*qn, "QuantizeLinear") || qn->inputs.size() < 2) return false;
      const Tensor* qs = graph.initializer(qn->inputs[1]);
      if (!qs || qs->shape() != s->shape() || std::memcmp(qs->raw_data(), s->raw_data(), s->nbytes()) != 0)
        return false;
    }
    const Tensor* qz = qn->has_input(2) ? graph.initializer(qn->inputs[2]) : nullptr;
    if (!qz || qz->dtype() != DataType::kInt8) return false;
    for (int64_t i = 0; i < qz->numel(); ++i)
      if (qz->scalar_as_int(i) != 0) return false;
    if (qn->attr_int("axis", 1) != dq.attr_int("axis", 1)) return false;
  }
  const Tensor* src = q ? q : float_initializer(graph, qn->inputs[0]);
  if (!src || src->rank() < 2) return false;
  if (q && q->dtype() != DataType::kInt8) return false;
  int64_t ch = src->dim(axis);
  int64_t dq_axis = dq.attr_int("axis", 1);
  if (dq_axis < 0) dq_axis += src->rank();
  if (s->numel() == 1) {
    scales->assign(static_cast<size_t>(ch), s->data<float>()[0]);
  } else if (s->rank() == 1 && s->numel() == ch && dq_axis == axis) {
    scales->assign(s->data<float>(), s->data<float>() + ch);
  } else {
    return false;
  }
  for (float f : *scales)
    if (!(f > 0) || !std::isfinite(f)) return false;
  if (q) {
    *w = *q;
  } else {
    // Quantize the float weights exactly as QuantizeLinear would.
    *w = Tensor(DataType::kInt8, src->shape());
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < axis; ++i) outer *= src->dim(i);
    for (int64_t i = axis + 1; i < src->rank(); ++i) inner *= src->dim(i);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t c = 0; c < ch; ++c)
        for (int64_t i = 0; i < inner; ++i) {
          int64_t k = (o * ch + c) * inner + i;
          w->data<int8_t>()[k] = ops::quantize_value<int8_t>(src->data<float>()[k], (*scales)[c], 0);
        }
  }
  return true;
}

// A float bias of n elements: a float initializer, or DQ of an int32 initializer (ONNX Runtime's QDQ bias).
bool constant_bias(const ir::Graph& graph, const UseInfo& uses, const std::string& v, int64_t n,
                   std::vector<float>* bias) {
  if (const Tensor* b = float_initializer(graph, v)) {
    if (b->numel() != n) return false;
    bias->assign(b->data<float>(), b->data<float>() + n);
    return true;
  }
  int p = uses.producer_of(v);
  if (p < 0) return false;
  const ir::Node& dq = graph.nodes[static_cast<size_t>(p)];
  if (!is_op(dq, "DequantizeLinear")) return false;
  const Tensor* q = graph.initializer(dq.inputs[0]);
  const Tensor* s = dq.inputs.size() > 1 ? graph.initializer(dq.inputs[1]) : nullptr;
  const Tensor* z = dq.has_input(2) ? graph.initializer(dq.inputs[2]) : nullptr;
  if (!q || !s || q->dtype() != DataType::kInt32 || q->numel() != n || s->dtype() != DataType::kFloat) return false;
  if (s->numel() != 1 && s->numel() != n) return false;
  if (dq.has_input(2) && !z) return false;
  bias->resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    int64_t zp = z ? z->scalar_as_int(z->numel() == 1 ? 0 : i) : 0;
    (*bias)[i] = static_cast<float>(q->data<int32_t>()[i] - zp) * s->data<float>()[s->numel() == 1 ? 0 : i];
  }
  return true;
}

std::string add_initializer(ir::Graph& graph, const std::string& base, Tensor t) {
  std::string name = unique_name(graph, base);
  graph.initializers[name] = std::move(t);
  return name;
}

class Int8Lowering : public Pass {
 public:
  const char* name() const override { return "Int8Lowering"; }

  bool apply(ir::Graph& graph, PassContext& ctx) override {
    bool changed = false;
    for (bool again = true; again;) {
      again = false;
      UseInfo uses(graph);
      auto shapes = infer_shapes(graph);
      for (size_t i = 0; i < graph.nodes.size() && !again; ++i) {
        const ir::Node& n = graph.nodes[i];
        if (is_op(n, "Conv") || is_op(n, "MatMul") || is_op(n, "Gemm"))
          again = lower_linear(graph, ctx, uses, shapes, i);
        else if (is_op(n, "MaxPool") || is_op(n, "GlobalAveragePool"))
          again = lower_pool(graph, ctx, uses, i);
        else if (is_op(n, "QuantizeLinear"))
          again = lower_passthrough(graph, ctx, uses, i) || cancel_pair(graph, ctx, uses, i);
      }
      if (again) {
        changed = true;
        remove_dead(graph, ctx);
        graph.topological_sort();
      }
    }
    if (changed) mark_channels_last(graph, ctx);
    return changed;
  }

 private:
  // The DQ producing v with a scalar 8-bit quantizer, or nullptr.
  static const ir::Node* dq_of(const ir::Graph& graph, const UseInfo& uses, const std::string& v, ScalarQ* q) {
    int p = uses.producer_of(v);
    if (p < 0) return nullptr;
    const ir::Node& dq = graph.nodes[static_cast<size_t>(p)];
    if (!is_op(dq, "DequantizeLinear") || !scalar_q(graph, dq, q)) return nullptr;
    return &dq;
  }

  bool lower_linear(ir::Graph& graph, PassContext& ctx, const UseInfo& uses, const std::map<std::string, Shape>& shapes,
                    size_t index) {
    const ir::Node op = graph.nodes[index];
    bool conv = op.op_type == "Conv", gemm = op.op_type == "Gemm";
    if (op.inputs.size() < 2 || op.outputs.size() != 1) return false;
    ScalarQ xq;
    const ir::Node* dqx = dq_of(graph, uses, op.inputs[0], &xq);
    if (!dqx) return false;
    Tensor w;
    std::vector<float> wscale, bias;
    bool trans_b = gemm && op.attr_int("transB", 0) != 0;
    if (gemm && (op.attr_int("transA", 0) != 0 || op.attr_float("alpha", 1.f) != 1.f)) return false;
    // Conv weights [M, C/g, k...] have channels on axis 0; MatMul's [K, N] on 1; Gemm's B [K, N] or [N, K] (transB).
    int64_t axis = conv ? 0 : (trans_b ? 0 : 1);
    if (!constant_weights(graph, uses, op.inputs[1], axis, &w, &wscale)) return false;
    if (conv && (w.rank() < 3 || w.rank() > 5)) return false;
    if (!conv && w.rank() != 2) return false;
    int64_t m = w.dim(axis);
    if (op.has_input(2)) {
      if (!constant_bias(graph, uses, op.inputs[2], m, &bias)) return false;
      if (gemm) {
        float beta = op.attr_float("beta", 1.f);
        for (float& b : bias) b *= beta;
      }
    }
    if (trans_b) {  // store [K, N]
      Tensor t(DataType::kInt8, {w.dim(1), w.dim(0)});
      for (int64_t r = 0; r < w.dim(0); ++r)
        for (int64_t c = 0; c < w.dim(1); ++c) t.data<int8_t>()[c * w.dim(0) + r] = w.data<int8_t>()[r * w.dim(1) + c];
      w = t;
    }
    // Follow the chain after the op: activations, one residual Add (Conv only), activations, then a Q.
    std::vector<std::string> post_ops;
    std::vector<float> alphas, betas;
    std::string y = op.outputs[0], sum;
    bool float_sum = false;
    ScalarQ sq, yq;
    std::vector<size_t> dead = {index};
    bool has_q = false;
    for (;;) {
      if (!is_internal(graph, ctx, y) || read_by_subgraph(graph, y)) break;
      GatedActivation gated;
      if (gated_activation(graph, ctx, uses, y, &gated)) {  // y * Sigmoid(y), y * HardSigmoid(y, 1/6, 1/2)
        post_ops.push_back(gated.op);
        alphas.push_back(gated.alpha);
        betas.push_back(0);
        dead.push_back(gated.gate);
        dead.push_back(gated.mul);
        y = graph.nodes[gated.mul].outputs[0];
        continue;
      }
      int c = uses.single_consumer(y);
      if (c < 0) break;
      const ir::Node& next = graph.nodes[static_cast<size_t>(c)];
      std::string act;
      float a, b;
      const std::string other_in =
          next.inputs.size() == 2 ? (next.inputs[0] == y ? next.inputs[1] : next.inputs[0]) : "";
      const Tensor* add_bias = !conv && post_ops.empty() && is_op(next, "Add") && next.inputs.size() == 2 &&
                                       next.outputs.size() == 1 && other_in != y
                                   ? float_initializer(graph, other_in)
                                   : nullptr;
      if (add_bias && add_bias->rank() >= 1 && add_bias->numel() == m && add_bias->dim(add_bias->rank() - 1) == m &&
          add_bias->rank() <= 2) {  // MatMul + bias: [N] or [1, N]
        if (bias.empty()) bias.assign(static_cast<size_t>(m), 0.f);
        for (int64_t j = 0; j < m; ++j) bias[j] += add_bias->data<float>()[j];
      } else if (activation_of(graph, next, &act, &a, &b) && next.inputs[0] == y) {
        post_ops.push_back(act);
        alphas.push_back(a);
        betas.push_back(b);
      } else if (conv && sum.empty() && is_op(next, "Add") && next.inputs.size() == 2 && next.outputs.size() == 1 &&
                 (next.inputs[0] == y) != (next.inputs[1] == y)) {
        // The residual: a DQ'd 8-bit tensor, or a float tensor (then the output stays float: see below).
        const std::string& other = next.inputs[0] == y ? next.inputs[1] : next.inputs[0];
        const ir::Node* dqs = dq_of(graph, uses, other, &sq);
        auto sy = shapes.find(y), so = shapes.find(other), sa = shapes.find(next.outputs[0]);
        if (sy == shapes.end() || so == shapes.end() || sa == shapes.end() || sy->second != so->second ||
            sy->second != sa->second || graph.initializer(other) || sy->second.size() != 4)
          break;
        sum = dqs ? dqs->inputs[0] : other;
        float_sum = !dqs;
        post_ops.push_back("Sum");
        alphas.push_back(0);
        betas.push_back(0);
      } else if (is_op(next, "QuantizeLinear") && next.inputs[0] == y && scalar_q(graph, next, &yq)) {
        if (float_sum) break;  // a float residual is added in float: the output stays float, its Q stays a node
        // Q -> DQ -> Add(residual): the intermediate rounding becomes a post-op and the chain goes on.
        const std::string qv = next.outputs[0];
        int d = uses.single_consumer(qv);
        ScalarQ dq_q;
        const ir::Node* dqn = d >= 0 ? &graph.nodes[static_cast<size_t>(d)] : nullptr;
        int a = dqn && dqn->outputs.size() == 1 ? uses.single_consumer(dqn->outputs[0]) : -1;
        // Only when the Add's other input is 8-bit too: a float other input is a Conv's output that takes the Add
        // as its own residual (quac's placement leaves the output of a Conv feeding a fused Add unquantized).
        const ir::Node* add = a >= 0 ? &graph.nodes[static_cast<size_t>(a)] : nullptr;
        ScalarQ other_q;
        bool other_8bit = add && is_op(*add, "Add") && add->inputs.size() == 2 && dqn &&
                          dq_of(graph, uses, add->inputs[0] == dqn->outputs[0] ? add->inputs[1] : add->inputs[0],
                                &other_q) != nullptr;
        if (conv && sum.empty() && other_8bit && is_internal(graph, ctx, qv) && is_op(*dqn, "DequantizeLinear") &&
            dqn->inputs[0] == qv && scalar_q(graph, *dqn, &dq_q) && dq_q.same(yq) &&
            is_internal(graph, ctx, dqn->outputs[0])) {
          post_ops.push_back(yq.type == DataType::kUInt8 ? "QDQ_U8" : "QDQ_S8");
          alphas.push_back(yq.s);
          betas.push_back(static_cast<float>(yq.zp));
          dead.push_back(static_cast<size_t>(c));
          dead.push_back(static_cast<size_t>(d));
          y = dqn->outputs[0];
          continue;
        }
        has_q = true;
        dead.push_back(static_cast<size_t>(c));
        y = next.outputs[0];
        break;
      } else {
        break;
      }
      dead.push_back(static_cast<size_t>(c));
      y = next.outputs[0];
    }
    ir::Node q;
    q.name = op.name.empty() ? y + "_int8" : op.name + "_int8";
    q.domain = "quac";
    q.op_type = conv ? "QConv" : "QMatMul";
    std::string base = op.name.empty() ? y : op.name;
    std::string wn = add_initializer(graph, base + "_w_int8", w);
    std::string wsn =
        add_initializer(graph, base + "_w_scale", Tensor::from_vector<float>({static_cast<int64_t>(m)}, wscale));
    std::string bn = bias.empty() ? "" : add_initializer(graph, base + "_bias", Tensor::from_vector<float>({m}, bias));
    q.inputs = {dqx->inputs[0], xq.scale, xq.zero_point, wn, wsn, bn};
    if (has_q || !sum.empty()) {
      q.inputs.push_back(has_q ? yq.scale : "");
      q.inputs.push_back(has_q ? yq.zero_point : "");
    }
    if (!sum.empty()) {
      q.inputs.push_back(sum);
      q.inputs.push_back(float_sum ? "" : sq.scale);
      q.inputs.push_back(float_sum ? "" : sq.zero_point);
    }
    q.outputs = {y};
    if (conv) {
      for (const char* a : {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"})
        if (const ir::Attribute* at = op.find(a)) q.set_attr(*at);
    }
    if (!post_ops.empty()) {
      q.set_attr(make_strings_attr("post_ops", post_ops));
      q.set_attr(make_floats_attr("post_alpha", alphas));
      q.set_attr(make_floats_attr("post_beta", betas));
    }
    std::set<size_t> erase(dead.begin(), dead.end());
    graph.nodes.push_back(q);
    erase_nodes(graph, erase);
    // The weight and input DQ (and Q) nodes go in remove_dead once nothing else reads them.
    return true;
  }

  bool lower_pool(ir::Graph& graph, PassContext& ctx, const UseInfo& uses, size_t index) {
    const ir::Node op = graph.nodes[index];
    if (op.inputs.empty() || op.outputs.empty()) return false;
    if (op.outputs.size() > 1 && !op.outputs[1].empty()) return false;
    bool max = op.op_type == "MaxPool";
    if (max && op.attr_int("storage_order", 0) != 0) return false;
    ScalarQ xq, yq;
    const ir::Node* dqx = dq_of(graph, uses, op.inputs[0], &xq);
    if (!dqx) return false;
    std::string y = op.outputs[0];
    std::vector<size_t> dead = {index};
    bool has_q = false;
    if (is_internal(graph, ctx, y) && !read_by_subgraph(graph, y)) {
      int c = uses.single_consumer(y);
      if (c >= 0 && is_op(graph.nodes[static_cast<size_t>(c)], "QuantizeLinear") &&
          scalar_q(graph, graph.nodes[static_cast<size_t>(c)], &yq)) {
        has_q = true;
        dead.push_back(static_cast<size_t>(c));
        y = graph.nodes[static_cast<size_t>(c)].outputs[0];
      }
    }
    // Quantizing is monotonic, so the max of requantized values is the requantized max: an INT8 max pool is exact
    // with any output quantizer (it needs one).
    if (max && !has_q) return false;
    ir::Node q;
    q.name = (op.name.empty() ? y : op.name) + "_int8";
    q.domain = "quac";
    q.op_type = "QPool";
    q.inputs = {dqx->inputs[0], xq.scale, xq.zero_point};
    if (has_q) {
      q.inputs.push_back(yq.scale);
      q.inputs.push_back(yq.zero_point);
    }
    q.outputs = {y};
    for (const char* a : {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "strides"})
      if (const ir::Attribute* at = op.find(a)) q.set_attr(*at);
    q.set_attr(make_string_attr("mode", op.op_type));
    graph.nodes.push_back(q);
    erase_nodes(graph, std::set<size_t>(dead.begin(), dead.end()));
    return true;
  }

  // DQ(x1..xn) -> Concat / Reshape / ... -> Q, all with one quantizer: the op runs on the 8-bit values.
  bool lower_passthrough(ir::Graph& graph, PassContext& ctx, const UseInfo& uses, size_t index) {
    const ir::Node& qn = graph.nodes[index];
    ScalarQ yq;
    if (!scalar_q(graph, qn, &yq)) return false;
    int p = uses.producer_of(qn.inputs[0]);
    if (p < 0) return false;
    ir::Node& op = graph.nodes[static_cast<size_t>(p)];
    static const std::set<std::string> kData0 = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose"};
    bool concat = is_op(op, "Concat");
    if (!op.domain.empty() || (!concat && !kData0.count(op.op_type)) || op.outputs.size() != 1) return false;
    if (!is_internal(graph, ctx, op.outputs[0]) || uses.num_consumers(op.outputs[0]) != 1) return false;
    size_t data_inputs = concat ? op.inputs.size() : 1;
    std::vector<std::string> sources;
    for (size_t k = 0; k < data_inputs; ++k) {
      ScalarQ xq;
      const ir::Node* dq = dq_of(graph, uses, op.inputs[k], &xq);
      if (!dq || !xq.same(yq)) return false;
      sources.push_back(dq->inputs[0]);
    }
    for (size_t k = 0; k < data_inputs; ++k) op.inputs[k] = sources[k];
    op.outputs[0] = qn.outputs[0];
    erase_nodes(graph, {index});
    return true;
  }

  // Q(DQ(x)) with equal quantizers is x.
  bool cancel_pair(ir::Graph& graph, PassContext& ctx, const UseInfo& uses, size_t index) {
    const ir::Node& qn = graph.nodes[index];
    ScalarQ yq, xq;
    if (!scalar_q(graph, qn, &yq)) return false;
    const ir::Node* dq = dq_of(graph, uses, qn.inputs[0], &xq);
    if (!dq || !xq.same(yq)) return false;
    const std::string y = qn.outputs[0], x = dq->inputs[0];
    if (!is_internal(graph, ctx, y) || read_by_subgraph(graph, y)) return false;
    replace_uses(graph, y, x);
    erase_nodes(graph, {index});
    return true;
  }

  // Drops Q / DQ nodes (and nothing else) whose outputs nobody reads any more.
  static void remove_dead(ir::Graph& graph, const PassContext& ctx) {
    for (bool again = true; again;) {
      again = false;
      UseInfo uses(graph);
      std::set<size_t> dead;
      for (size_t i = 0; i < graph.nodes.size(); ++i) {
        const ir::Node& n = graph.nodes[i];
        if (!is_op(n, "DequantizeLinear") && !is_op(n, "QuantizeLinear")) continue;
        if (n.outputs.size() != 1 || !is_internal(graph, ctx, n.outputs[0]) || uses.num_consumers(n.outputs[0]) ||
            read_by_subgraph(graph, n.outputs[0]))
          continue;
        dead.insert(i);
      }
      if (!dead.empty()) {
        erase_nodes(graph, dead);
        again = true;
      }
    }
    // Initializers nobody reads (the replaced weights) would only take memory.
    graph.remove_unread_initializers(ctx.protected_values);
  }

  // 8-bit values written by a 2-D QConv / QPool and read only by 2-D QConvs (input or residual) and QPools are
  // stored channels-last, the layout oneDNN's INT8 convolutions use.
  static void mark_channels_last(ir::Graph& graph, const PassContext& ctx) {
    auto is_q2d = [&](const ir::Node& n) {
      if (n.domain != "quac") return false;
      if (n.op_type == "QPool") return true;
      if (n.op_type != "QConv") return false;
      const Tensor* w = graph.initializer(n.inputs[3]);
      return w && w->rank() == 4;
    };
    UseInfo uses(graph);
    for (auto& node : graph.nodes) {
      if (!is_q2d(node) || node.inputs.size() < 5) continue;
      const std::string& v = node.outputs[0];
      // An 8-bit output needs an output quantizer (QConv input 6, QPool input 3).
      size_t yscale = node.op_type == "QConv" ? 6 : 3;
      if (!node.has_input(yscale)) continue;
      if (!is_internal(graph, ctx, v) || read_by_subgraph(graph, v)) continue;
      auto it = uses.consumers.find(v);
      if (it == uses.consumers.end()) continue;
      bool all = true;
      for (size_t c : it->second) {
        const ir::Node& r = graph.nodes[c];
        for (size_t k = 0; k < r.inputs.size(); ++k) {
          if (r.inputs[k] != v) continue;
          bool ok = is_q2d(r) && (k == 0 || (r.op_type == "QConv" && k == 8));
          if (!ok) all = false;
        }
      }
      if (!all) continue;
      node.set_attr(make_int_attr("nhwc_output", 1));
      for (size_t c : it->second) {
        ir::Node& r = graph.nodes[c];
        auto list = r.attr_ints("nhwc_inputs", {});
        for (size_t k = 0; k < r.inputs.size(); ++k)
          if (r.inputs[k] == v) list.push_back(static_cast<int64_t>(k));
        r.set_attr(make_ints_attr("nhwc_inputs", list));
      }
    }
    // A float output of a 2-D QConv (a residual block whose skip path is float) read only by QConv residual inputs
    // and by per-tensor QuantizeLinear nodes feeding INT8 ops is stored channels-last too: QuantizeLinear is
    // element-wise, so its output keeps the layout, and no reorder happens between the blocks.
    auto add_nhwc_input = [&](ir::Node& r, const std::string& v) {
      auto list = r.attr_ints("nhwc_inputs", {});
      for (size_t k = 0; k < r.inputs.size(); ++k)
        if (r.inputs[k] == v) list.push_back(static_cast<int64_t>(k));
      r.set_attr(make_ints_attr("nhwc_inputs", list));
    };
    auto int8_readers_only = [&](const std::string& v) {
      auto it = uses.consumers.find(v);
      if (it == uses.consumers.end() || !is_internal(graph, ctx, v) || read_by_subgraph(graph, v)) return false;
      for (size_t c : it->second) {
        const ir::Node& r = graph.nodes[c];
        for (size_t k = 0; k < r.inputs.size(); ++k)
          if (r.inputs[k] == v && !(is_q2d(r) && (k == 0 || (r.op_type == "QConv" && k == 8)))) return false;
      }
      return true;
    };
    for (auto& node : graph.nodes) {
      if (node.op_type != "QConv" || !is_q2d(node) || node.has_input(6) || node.has("nhwc_output")) continue;
      const std::string& v = node.outputs[0];
      if (!is_internal(graph, ctx, v) || read_by_subgraph(graph, v)) continue;
      auto it = uses.consumers.find(v);
      if (it == uses.consumers.end()) continue;
      bool ok = true;
      for (size_t c : it->second) {
        const ir::Node& r = graph.nodes[c];
        ScalarQ q;
        if (r.domain == "quac" && r.op_type == "QConv") {
          for (size_t k = 0; k < r.inputs.size(); ++k)
            if (r.inputs[k] == v && k != 8) ok = false;
        } else if (!(is_op(r, "QuantizeLinear") && r.inputs[0] == v && scalar_q(graph, r, &q) &&
                     r.outputs.size() == 1 && int8_readers_only(r.outputs[0]))) {
          ok = false;
        }
      }
      if (!ok) continue;
      node.set_attr(make_int_attr("nhwc_output", 1));
      for (size_t c : it->second) {
        ir::Node& r = graph.nodes[c];
        if (r.domain == "quac") {
          add_nhwc_input(r, v);
          continue;
        }
        for (size_t c2 : uses.consumers.at(r.outputs[0])) add_nhwc_input(graph.nodes[c2], r.outputs[0]);
      }
    }
  }
};

}  // namespace

QUAC_REGISTER_PASS(Int8Lowering, 25, 2);

}  // namespace quac::passes
