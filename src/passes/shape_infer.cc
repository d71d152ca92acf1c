#include "passes/shape_infer.h"

#include <algorithm>
#include <set>

namespace quac::passes {

bool window_output(const ir::Node& node, const Shape& in, const Shape& kernel, Shape* out, Shape* pad_begin,
                   Shape* pad_end) {
  size_t n = in.size();
  if (kernel.size() != n) return false;
  auto strides = node.attr_ints("strides", {});
  auto dilations = node.attr_ints("dilations", {});
  auto pads = node.attr_ints("pads", {});
  std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
  bool ceil_mode = node.attr_int("ceil_mode", 0) != 0;
  if (strides.empty()) strides.assign(n, 1);
  if (dilations.empty()) dilations.assign(n, 1);
  if (pads.empty()) pads.assign(2 * n, 0);
  if (strides.size() != n || dilations.size() != n || pads.size() != 2 * n) return false;
  out->assign(n, 0);
  pad_begin->assign(n, 0);
  pad_end->assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    if (strides[i] <= 0 || dilations[i] <= 0 || kernel[i] <= 0) return false;
    int64_t k_eff = (kernel[i] - 1) * dilations[i] + 1;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      int64_t o = (in[i] + strides[i] - 1) / strides[i];
      int64_t total = std::max<int64_t>(0, (o - 1) * strides[i] + k_eff - in[i]);
      int64_t small = total / 2;
      (*pad_begin)[i] = auto_pad == "SAME_UPPER" ? small : total - small;
      (*pad_end)[i] = total - (*pad_begin)[i];
      (*out)[i] = o;
    } else {
      int64_t pb = auto_pad == "VALID" ? 0 : pads[i], pe = auto_pad == "VALID" ? 0 : pads[i + n];
      if (pb < 0 || pe < 0) return false;
      int64_t span = in[i] + pb + pe - k_eff;
      if (span < 0) return false;
      int64_t o = ceil_mode ? (span + strides[i] - 1) / strides[i] + 1 : span / strides[i] + 1;
      // The last window must start inside the input or the begin padding (as in PyTorch and ONNX Runtime).
      if (ceil_mode && (o - 1) * strides[i] >= in[i] + pb) --o;
      (*pad_begin)[i] = pb;
      (*pad_end)[i] = pe;
      (*out)[i] = o;
    }
    if ((*out)[i] <= 0) return false;
  }
  return true;
}

namespace {

bool broadcast(const Shape& a, const Shape& b, Shape* out) {
  size_t r = std::max(a.size(), b.size());
  out->assign(r, 1);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1) return false;
    (*out)[i] = da == 1 ? db : da;
  }
  return true;
}

const std::set<std::string> kUnary = {"Relu",
                                      "LeakyRelu",
                                      "Sigmoid",
                                      "Tanh",
                                      "HardSigmoid",
                                      "HardSwish",
                                      "Elu",
                                      "Clip",
                                      "Erf",
                                      "Sqrt",
                                      "Exp",
                                      "Log",
                                      "Abs",
                                      "Neg",
                                      "Identity",
                                      "Dropout",
                                      "Softmax",
                                      "LogSoftmax",
                                      "BatchNormalization",
                                      "Gelu",
                                      "LayerNormalization",
                                      "Reciprocal",
                                      "Softplus",
                                      "Selu",
                                      "PRelu",
                                      "Floor",
                                      "Ceil",
                                      "Round",
                                      "QuantizeLinear",
                                      "DequantizeLinear"};
const std::set<std::string> kBinary = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum"};

std::map<std::string, Shape> infer(const ir::Graph& graph, bool generic) {
  std::map<std::string, Shape> shapes;
  for (const auto& [name, t] : graph.initializers) shapes[name] = t.shape();
  // Stand-ins for dynamic sizes: distinct, odd and unlikely to coincide with a real size.
  std::map<std::string, int64_t> named;
  int64_t next_standin = 1009;
  auto take_info = [&](const ir::ValueInfo& v) {
    if (!v.has_shape || shapes.count(v.name)) return;
    Shape s;
    for (const auto& d : v.shape) {
      if (d.value >= 0) {
        s.push_back(d.value);
      } else if (!generic) {
        return;
      } else if (!d.param.empty()) {
        auto it = named.find(d.param);
        if (it == named.end()) it = named.emplace(d.param, (next_standin += 2)).first;
        s.push_back(it->second);
      } else {
        s.push_back(next_standin += 2);
      }
    }
    shapes[v.name] = s;
  };
  for (const auto& v : graph.inputs) take_info(v);
  for (const auto& v : graph.value_info) take_info(v);
  auto get = [&](const std::string& v) -> const Shape* {
    auto it = shapes.find(v);
    return v.empty() || it == shapes.end() ? nullptr : &it->second;
  };
  for (const auto& node : graph.nodes) {
    if (node.outputs.empty() || node.outputs[0].empty() || node.inputs.empty()) continue;
    const Shape* x = get(node.inputs[0]);
    if (!x) continue;
    const std::string& op = node.op_type;
    Shape out;
    bool ok = false;
    if (kUnary.count(op)) {
      out = *x;
      ok = true;
    } else if (kBinary.count(op) && node.inputs.size() >= 2) {
      out = *x;
      ok = true;
      for (size_t i = 1; i < node.inputs.size() && ok; ++i) {
        const Shape* y = get(node.inputs[i]);
        Shape b;
        ok = y && broadcast(out, *y, &b);
        out = b;
      }
    } else if ((op == "Conv" || op == "FusedConv") && node.inputs.size() >= 2 && x->size() >= 3) {
      const Shape* w = get(node.inputs[1]);
      if (!w || w->size() != x->size()) continue;
      Shape in(x->begin() + 2, x->end()), k(w->begin() + 2, w->end()), o, pb, pe;
      ok = window_output(node, in, k, &o, &pb, &pe);
      out = {(*x)[0], (*w)[0]};
      out.insert(out.end(), o.begin(), o.end());
    } else if (op == "QConv" && node.domain == "quac" && node.inputs.size() >= 4 && x->size() == 4) {
      // INT8 convolution (int8_lowering.cc): logical NCHW shapes; channels-last storage is not tracked here.
      const Shape* w = get(node.inputs[3]);
      if (!w || w->size() != 4 || node.has("nhwc_inputs") || node.has("nhwc_output")) continue;
      Shape in(x->begin() + 2, x->end()), k(w->begin() + 2, w->end()), o, pb, pe;
      ok = window_output(node, in, k, &o, &pb, &pe);
      out = {(*x)[0], (*w)[0], o[0], o[1]};
    } else if (op == "QPool" && node.domain == "quac" && x->size() == 4 && !node.has("nhwc_inputs") &&
               !node.has("nhwc_output")) {
      std::string mode = node.attr_string("mode", "");
      Shape in(x->begin() + 2, x->end()), o = {1, 1}, pb, pe;
      ok = mode == "GlobalAveragePool" ||
           (mode == "MaxPool" && window_output(node, in, node.attr_ints("kernel_shape", {}), &o, &pb, &pe));
      out = {(*x)[0], (*x)[1], o.size() == 2 ? o[0] : 1, o.size() == 2 ? o[1] : 1};
    } else if ((op == "MaxPool" || op == "AveragePool") && x->size() >= 3) {
      Shape in(x->begin() + 2, x->end()), o, pb, pe;
      ok = window_output(node, in, node.attr_ints("kernel_shape", {}), &o, &pb, &pe);
      out = {(*x)[0], (*x)[1]};
      out.insert(out.end(), o.begin(), o.end());
    } else if ((op == "GlobalAveragePool" || op == "GlobalMaxPool") && x->size() >= 3) {
      out.assign(x->size(), 1);
      out[0] = (*x)[0];
      out[1] = (*x)[1];
      ok = true;
    } else if (op == "Flatten") {
      int64_t axis = node.attr_int("axis", 1), r = static_cast<int64_t>(x->size());
      if (axis < 0) axis += r;
      if (axis < 0 || axis > r) continue;
      int64_t a = 1, b = 1;
      for (int64_t i = 0; i < r; ++i) (i < axis ? a : b) *= (*x)[static_cast<size_t>(i)];
      out = {a, b};
      ok = true;
    }
    if (ok) shapes[node.outputs[0]] = out;
  }
  return shapes;
}

}  // namespace

std::map<std::string, Shape> infer_shapes(const ir::Graph& graph) { return infer(graph, false); }
std::map<std::string, Shape> infer_generic_shapes(const ir::Graph& graph) { return infer(graph, true); }

}  // namespace quac::passes
