#include "quant/recover.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "quant/placement.h"
#include "quant/qdq.h"

namespace quac::quant {
namespace {

bool is_op(const ir::Node& n, const char* op) {
  return n.op_type == op && (n.domain.empty() || n.domain == kMicrosoftDomain);
}

bool integer_type(DataType t) {
  return t == DataType::kInt8 || t == DataType::kUInt8 || t == DataType::kInt16 || t == DataType::kUInt16;
}

// A QuantizeLinear / DequantizeLinear node's constant parameters.
struct Params {
  std::vector<float> scale;
  std::vector<int64_t> zero_point;
  DataType type = DataType::kUInt8;  // ONNX's default when the zero point is omitted
  bool per_axis = false;
  int64_t axis = 1;
  bool same(const Params& o) const {
    return scale == o.scale && zero_point == o.zero_point && type == o.type && per_axis == o.per_axis &&
           (!per_axis || axis == o.axis);
  }
};

bool read_params(const ir::Graph& g, const ir::Node& n, Params* p) {
  if (!n.has_input(0) || !n.has_input(1) || n.outputs.size() != 1) return false;
  const Tensor* s = g.initializer(n.inputs[1]);
  const Tensor* z = n.has_input(2) ? g.initializer(n.inputs[2]) : nullptr;
  if (!s || s->dtype() != DataType::kFloat || s->numel() < 1 || s->rank() > 1) return false;
  if (n.has_input(2) && (!z || z->numel() != s->numel() || z->rank() != s->rank())) return false;
  if (z) p->type = z->dtype();
  if (!integer_type(p->type)) return false;
  p->per_axis = s->rank() == 1 && s->numel() > 1;
  p->axis = n.attr_int("axis", 1);
  for (int64_t i = 0; i < s->numel(); ++i) {
    float v = s->data<float>()[i];
    if (!std::isfinite(v) || !(v > 0)) return false;
    p->scale.push_back(v);
    p->zero_point.push_back(z ? z->scalar_as_int(i) : 0);
  }
  return true;
}

void levels_of(DataType t, int64_t* lo, int64_t* hi, int* bits) {
  switch (t) {
    case DataType::kInt8:
      *lo = -128, *hi = 127, *bits = 8;
      break;
    case DataType::kUInt8:
      *lo = 0, *hi = 255, *bits = 8;
      break;
    case DataType::kInt16:
      *lo = -32768, *hi = 32767, *bits = 16;
      break;
    default:
      *lo = 0, *hi = 65535, *bits = 16;
      break;
  }
}

Quantizer make_quantizer(const std::string& value, bool is_weight, const Params& p) {
  Quantizer q;
  q.value = value;
  q.is_weight = is_weight;
  levels_of(p.type, &q.spec.level_low, &q.spec.level_high, &q.spec.bits);
  q.spec.is_signed = q.spec.level_low < 0;
  q.spec.per_channel = p.per_axis;
  q.spec.axis = p.axis;
  q.spec.symmetric = std::all_of(p.zero_point.begin(), p.zero_point.end(), [](int64_t z) { return z == 0; });
  q.scale = p.scale;
  q.zero_point = p.zero_point;
  for (size_t c = 0; c < p.scale.size(); ++c) {
    q.range_min.push_back(static_cast<float>(q.spec.level_low - p.zero_point[c]) * p.scale[c]);
    q.range_max.push_back(static_cast<float>(q.spec.level_high - p.zero_point[c]) * p.scale[c]);
  }
  return q;
}

// The integer weight dequantized to float, or an undefined tensor when its shape does not fit the parameters.
Tensor dequantize_weight(const Tensor& w, const Params& p) {
  int64_t channels = 1, inner = w.numel();
  if (p.per_axis) {
    int64_t axis = p.axis < 0 ? p.axis + w.rank() : p.axis;
    if (axis < 0 || axis >= w.rank() || w.dim(axis) != static_cast<int64_t>(p.scale.size())) return {};
    channels = w.dim(axis);
    inner = 1;
    for (int64_t d = axis + 1; d < w.rank(); ++d) inner *= w.dim(d);
  }
  Tensor out(DataType::kFloat, w.shape());
  for (int64_t i = 0; i < w.numel(); ++i) {
    size_t c = static_cast<size_t>((i / std::max<int64_t>(inner, 1)) % channels);
    out.data<float>()[i] = static_cast<float>(w.scalar_as_int(i) - p.zero_point[c]) * p.scale[c];
  }
  return out;
}

}  // namespace

RecoveredModel recover_scope(const ir::Model& model) {
  RecoveredModel r;
  r.fp32 = std::make_shared<ir::Model>(model);
  ir::Graph& g = r.fp32->graph;
  auto consumers = g.consumers();
  auto producers = g.producers();
  // Readers of `value` as (node index, input index), or false when one reads it otherwise (a subgraph, a Q/DQ).
  auto direct_readers = [&](const std::string& value, std::vector<std::pair<size_t, size_t>>* out) {
    auto it = consumers.find(value);
    if (it == consumers.end()) return !g.is_output(value);
    if (g.is_output(value)) return false;
    for (size_t ni : it->second) {
      const ir::Node& n = g.nodes[ni];
      if (is_op(n, "QuantizeLinear") || is_op(n, "DequantizeLinear")) return false;
      bool found = false;
      for (size_t k = 0; k < n.inputs.size(); ++k)
        if (n.inputs[k] == value) out->push_back({ni, k}), found = true;
      if (!found) return false;  // read from a subgraph
    }
    return true;
  };

  auto scope = std::make_shared<QuantizationScope>();
  std::set<size_t> removed;
  std::map<size_t, size_t> quantizer_of_q;  // QuantizeLinear node -> its quantizer
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& dq = g.nodes[i];
    Params p;
    if (!is_op(dq, "DequantizeLinear") || !read_params(g, dq, &p)) continue;
    std::vector<std::pair<size_t, size_t>> readers;
    if (!direct_readers(dq.outputs[0], &readers)) continue;
    const std::string& x = dq.inputs[0];
    const Tensor* w = g.initializer(x);
    if (w && !dq.has_input(2) && integer_type(w->dtype())) p.type = w->dtype();  // zero point 0 of x's type
    if (w && w->dtype() == p.type) {
      // A weight stored as integers: the float weight takes the DequantizeLinear's output name.
      Tensor f = dequantize_weight(*w, p);
      if (!f.defined()) continue;
      Quantizer q = make_quantizer(dq.outputs[0], true, p);
      if (q.spec.is_signed) {
        // quac's symmetric weights use the narrow range [-(2^(b-1) - 1), 2^(b-1) - 1]: keep it when the data fits.
        bool narrow = true;
        for (int64_t k = 0; k < w->numel() && narrow; ++k) narrow = w->scalar_as_int(k) != q.spec.level_low;
        if (narrow && q.spec.symmetric) q.spec.level_low += 1;
      }
      for (const auto& [ni, k] : readers) q.uses.push_back({g.nodes[ni].name, k});
      g.initializers[dq.outputs[0]] = std::move(f);
      scope->quantizers.push_back(std::move(q));
      removed.insert(i);
      r.compressed_weights = true;
      continue;
    }
    auto pit = producers.find(x);
    if (pit == producers.end()) continue;
    size_t qi = pit->second;
    const ir::Node& qn = g.nodes[qi];
    Params qp;
    if (!is_op(qn, "QuantizeLinear") || !read_params(g, qn, &qp) || !qp.same(p)) continue;
    // Every reader of the quantized integers must be a DequantizeLinear with the same parameters whose own readers
    // read the result directly: then the pair and all its DequantizeLinears go together.
    bool all_dq = !g.is_output(x);
    for (size_t ni : consumers[x]) {
      Params other;
      std::vector<std::pair<size_t, size_t>> unused;
      all_dq = all_dq && is_op(g.nodes[ni], "DequantizeLinear") && read_params(g, g.nodes[ni], &other) &&
               other.same(p) && direct_readers(g.nodes[ni].outputs[0], &unused);
    }
    if (!all_dq) continue;
    const std::string& v = qn.inputs[0];
    auto [it, fresh] = quantizer_of_q.emplace(qi, scope->quantizers.size());
    if (fresh) {
      const Tensor* fw = g.initializer(v);
      scope->quantizers.push_back(make_quantizer(v, fw && fw->dtype() == DataType::kFloat, p));
      removed.insert(qi);
    }
    Quantizer& q = scope->quantizers[it->second];
    for (const auto& [ni, k] : readers) {
      g.nodes[ni].inputs[k] = v;
      q.uses.push_back({g.nodes[ni].name, k});
    }
    removed.insert(i);
  }
  if (scope->quantizers.empty()) return r;

  std::vector<ir::Node> kept;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (!removed.count(i)) kept.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(kept);
  g.remove_unread_initializers();  // scales, zero points and integer weights that nothing reads any more
  // Groups as placement makes them: the quantizers of one fused pattern's inputs (a conv's and its residual skip's)
  // go together, since the pattern runs as one INT8 op, and so do the quantizers around an agnostic op (MaxPool,
  // Reshape, Concat...) that share one scale and zero point.
  const HardwareConfig hw = builtin_hardware_config("CPU");
  scope->fused = match_fused_patterns(g, hw);
  std::map<std::string, size_t> by_value;
  for (size_t q = 0; q < scope->quantizers.size(); ++q) by_value[scope->quantizers[q].value] = q;
  for (const auto& n : g.nodes) {
    if (!hw.agnostic.count(n.op_type) || n.outputs.empty() || !by_value.count(n.outputs[0])) continue;
    Quantizer& out = scope->quantizers[by_value[n.outputs[0]]];
    for (const auto& in : n.inputs) {
      auto it = by_value.find(in);
      if (it == by_value.end()) continue;
      Quantizer& q = scope->quantizers[it->second];
      if (q.scale != out.scale || q.zero_point != out.zero_point) continue;
      if (out.unified_scale < 0) out.unified_scale = static_cast<int>(by_value[n.outputs[0]]);
      if (q.unified_scale >= 0 && q.unified_scale != out.unified_scale) {  // joins an existing set
        int old = q.unified_scale;
        for (auto& other : scope->quantizers)
          if (other.unified_scale == old) other.unified_scale = out.unified_scale;
      }
      q.unified_scale = out.unified_scale;
    }
  }
  scope->rebuild_groups(g);
  r.scope = scope;
  return r;
}

}  // namespace quac::quant
