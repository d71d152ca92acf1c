#include "quant/placement.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <regex>
#include <set>

#include "core/file_util.h"

namespace quac::quant {

const std::vector<std::pair<std::string, std::string>>& embedded_hardware_configs();  // generated (embed.cmake)

namespace {

bool ignored(const ir::Node& node, const IgnoredScope& scope, const std::vector<std::regex>& regexes) {
  for (const auto& n : scope.names)
    if (n == node.name) return true;
  for (const auto& t : scope.types)
    if (t == node.op_type) return true;
  for (const auto& r : regexes)
    if (std::regex_match(node.name, r)) return true;
  for (const auto& op : scope.operations)
    if (matches(node, op)) return true;
  return false;
}

bool same_number(double a, double b) {
  return a == b || std::fabs(a - b) <= 1e-6 * std::max(std::fabs(a), std::fabs(b));
}

// The channel axis of a constant weight as read by `node` input 1: the axis of output channels.
int64_t weight_axis(const ir::Node& node, const Tensor& w) {
  if (node.op_type == "Conv") return 0;
  if (node.op_type == "ConvTranspose") return 1;
  if (node.op_type == "Gemm") return node.attr_int("transB", 0) ? 0 : 1;
  return w.rank() - 1;  // MatMul: [.., K, N]
}

using Json = nlohmann::json;

[[noreturn]] void config_error(const std::string& source, const std::string& key, const std::string& what) {
  QUAC_THROW(kInvalidArgument, "hardware config ", source, ": ", key, ": ", what);
}

const Json& member(const Json& j, const std::string& name, const std::string& source, const std::string& key) {
  if (!j.is_object() || !j.contains(name)) config_error(source, key + (key.empty() ? "" : ".") + name, "missing");
  return j.at(name);
}

std::string text_of(const Json& j, const std::string& source, const std::string& key) {
  if (!j.is_string()) config_error(source, key, "expected a string, got " + j.dump());
  return j.get<std::string>();
}

std::set<std::string> names_of(const Json& j, const std::string& source, const std::string& key) {
  if (!j.is_array()) config_error(source, key, "expected a list of op types, got " + j.dump());
  std::set<std::string> out;
  for (size_t i = 0; i < j.size(); ++i) out.insert(text_of(j[i], source, key + "[" + std::to_string(i) + "]"));
  return out;
}

std::vector<size_t> indices_of(const Json& j, const std::string& source, const std::string& key) {
  if (!j.is_array()) config_error(source, key, "expected a list of input indices, got " + j.dump());
  std::vector<size_t> out;
  for (const auto& e : j) {
    if (!e.is_number_unsigned()) config_error(source, key, "expected non-negative input indices, got " + e.dump());
    out.push_back(e.get<size_t>());
  }
  return out;
}

void check_keys(const Json& j, const std::set<std::string>& known, const std::string& source, const std::string& key) {
  if (!j.is_object()) config_error(source, key.empty() ? "(top level)" : key, "expected an object, got " + j.dump());
  for (const auto& [name, v] : j.items())
    if (!known.count(name)) config_error(source, key + (key.empty() ? "" : ".") + name, "unknown key");
}

HwQuantizerConfig quantizer_config(const Json& j, const std::string& source, const std::string& key) {
  check_keys(j, {"bits", "mode", "granularity"}, source, key);
  HwQuantizerConfig c;
  const Json& bits = member(j, "bits", source, key);
  if (!bits.is_number_integer() || bits.get<int>() < 2 || bits.get<int>() > 16)
    config_error(source, key + ".bits", "expected an integer from 2 to 16, got " + bits.dump());
  c.bits = bits.get<int>();
  if (j.contains("mode")) c.mode = text_of(j["mode"], source, key + ".mode");
  if (c.mode != "symmetric" && c.mode != "asymmetric")
    config_error(source, key + ".mode", "'" + c.mode + "' is not symmetric or asymmetric");
  if (j.contains("granularity")) c.granularity = text_of(j["granularity"], source, key + ".granularity");
  if (c.granularity != "pertensor" && c.granularity != "perchannel")
    config_error(source, key + ".granularity", "'" + c.granularity + "' is not pertensor or perchannel");
  return c;
}

}  // namespace

HardwareConfig parse_hardware_config(const std::string& json_text, const std::string& source) {
  Json j;
  try {
    j = Json::parse(json_text);
  } catch (const Json::exception& e) {
    QUAC_THROW(kInvalidArgument, "hardware config ", source, ": not valid JSON: ", e.what());
  }
  check_keys(
      j,
      {"target_device", "comment", "inherits", "presets", "quantized", "agnostic", "unified_scales", "fused_patterns"},
      source, "");
  if (j.contains("inherits")) {
    // "inherits": a built-in device's config, whose top-level keys this one replaces where it has them.
    std::string base_device = text_of(j["inherits"], source, "inherits");
    const std::string* base_text = nullptr;
    for (const auto& [device, text] : embedded_hardware_configs())
      if (device == base_device) base_text = &text;
    if (!base_text) config_error(source, "inherits", "'" + base_device + "' is not a built-in device");
    Json base = Json::parse(*base_text);
    QUAC_CHECK(!base.contains("inherits"), kInternal, "built-in hardware config ", base_device, " inherits");
    for (const auto& [key, value] : j.items())
      if (key != "inherits") base[key] = value;
    j = std::move(base);
  }
  HardwareConfig c;
  c.source = source;
  c.target_device = text_of(member(j, "target_device", source, ""), source, "target_device");
  const Json& presets = member(j, "presets", source, "");
  if (!presets.is_object() || presets.empty()) config_error(source, "presets", "expected a non-empty object");
  for (const auto& [name, p] : presets.items()) {
    std::string key = "presets." + name;
    check_keys(p, {"activations", "weights"}, source, key);
    c.presets[name] = {quantizer_config(member(p, "activations", source, key), source, key + ".activations"),
                       quantizer_config(member(p, "weights", source, key), source, key + ".weights")};
  }
  const Json& quantized = member(j, "quantized", source, "");
  if (!quantized.is_array()) config_error(source, "quantized", "expected a list of ops");
  for (size_t i = 0; i < quantized.size(); ++i) {
    std::string key = "quantized[" + std::to_string(i) + "]";
    const Json& q = quantized[i];
    check_keys(q, {"type", "activations", "weights", "when"}, source, key);
    HwQuantizedOp op;
    op.type = text_of(member(q, "type", source, key), source, key + ".type");
    const Json& a = member(q, "activations", source, key);
    if (a.is_string()) {
      if (a.get<std::string>() != "all")
        config_error(source, key + ".activations", "expected a list of indices or \"all\"");
      op.all_inputs = true;
    } else {
      op.activations = indices_of(a, source, key + ".activations");
    }
    if (q.contains("weights")) op.weights = indices_of(q["weights"], source, key + ".weights");
    if (q.contains("when")) {
      std::string when = text_of(q["when"], source, key + ".when");
      if (when != "output_quantized") config_error(source, key + ".when", "'" + when + "' is not output_quantized");
      op.when_output_quantized = true;
    }
    if (!c.quantized.emplace(op.type, op).second)
      config_error(source, key + ".type", "'" + op.type + "' is listed twice");
  }
  if (j.contains("agnostic")) c.agnostic = names_of(j["agnostic"], source, "agnostic");
  if (j.contains("unified_scales")) c.unified_scales = names_of(j["unified_scales"], source, "unified_scales");
  for (const auto& t : c.unified_scales)
    if (!c.agnostic.count(t)) config_error(source, "unified_scales", "'" + t + "' is not listed in agnostic");
  if (j.contains("fused_patterns")) {
    const Json& patterns = j["fused_patterns"];
    if (!patterns.is_array()) config_error(source, "fused_patterns", "expected a list of patterns");
    for (size_t i = 0; i < patterns.size(); ++i) {
      std::string key = "fused_patterns[" + std::to_string(i) + "]";
      check_keys(patterns[i], {"name", "steps"}, source, key);
      HwPattern pattern;
      if (patterns[i].contains("name")) pattern.name = text_of(patterns[i]["name"], source, key + ".name");
      const Json& steps = member(patterns[i], "steps", source, key);
      if (!steps.is_array() || steps.empty()) config_error(source, key + ".steps", "expected a non-empty list");
      for (size_t k = 0; k < steps.size(); ++k) {
        std::string sk = key + ".steps[" + std::to_string(k) + "]";
        check_keys(steps[k], {"types", "gates", "input", "repeat"}, source, sk);
        HwPatternStep step;
        step.types = names_of(member(steps[k], "types", source, sk), source, sk + ".types");
        if (steps[k].contains("gates")) step.gates = names_of(steps[k]["gates"], source, sk + ".gates");
        if (steps[k].contains("input")) {
          step.input = text_of(steps[k]["input"], source, sk + ".input");
          if (step.input != "constant" && step.input != "activation")
            config_error(source, sk + ".input", "'" + step.input + "' is not constant or activation");
        }
        if (steps[k].contains("repeat")) {
          std::string r = text_of(steps[k]["repeat"], source, sk + ".repeat");
          if (r != "1" && r != "?" && r != "*") config_error(source, sk + ".repeat", "'" + r + "' is not 1, ? or *");
          step.repeat = r[0];
        }
        if (k == 0 && step.repeat != '1') config_error(source, sk + ".repeat", "the first step must occur once");
        pattern.steps.push_back(step);
      }
      c.patterns.push_back(pattern);
    }
  }
  return c;
}

HardwareConfig builtin_hardware_config(const std::string& target_device) {
  std::string names;
  for (const auto& [device, text] : embedded_hardware_configs()) {
    if (device == target_device) return parse_hardware_config(text, "built-in " + device);
    names += (names.empty() ? "" : ", ") + device;
  }
  QUAC_THROW(kInvalidArgument, "target_device '", target_device, "' is not one of ", names);
}

HardwareConfig load_hardware_config(const std::string& path) { return parse_hardware_config(read_file(path), path); }

bool matches(const ir::Node& node, const OperationPattern& pattern) {
  if (node.op_type != pattern.type) return false;
  for (const auto& [name, want] : pattern.attributes) {
    const ir::Attribute* a = node.find(name);
    if (!a) return false;
    using K = ir::Attribute::Kind;
    if (want.is_text) {
      if (a->kind != K::kString || a->s != want.text) return false;
      continue;
    }
    std::vector<double> have;
    if (a->kind == K::kInt)
      have = {static_cast<double>(a->i)};
    else if (a->kind == K::kFloat)
      have = {a->f};
    else if (a->kind == K::kInts)
      have.assign(a->ints.begin(), a->ints.end());
    else if (a->kind == K::kFloats)
      have.assign(a->floats.begin(), a->floats.end());
    else
      return false;
    if (have.size() != want.numbers.size()) return false;
    for (size_t i = 0; i < have.size(); ++i)
      if (!same_number(have[i], want.numbers[i])) return false;
  }
  return true;
}

namespace {

// A fused pattern matched in the graph: its nodes (the anchor first), the value it produces, and the residual
// steps' other inputs (node index, input index), quantized when the pattern's output is.
struct PatternMatch {
  std::vector<size_t> nodes;
  std::string output;
  std::vector<std::pair<size_t, size_t>> skips;
};

class Placer {
 public:
  Placer(const ir::Graph& graph, const PlacementOptions& options, HardwareConfig hw)
      : graph_(graph), options_(options), hw_(std::move(hw)) {
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
      const ir::Node& n = graph.nodes[i];
      for (size_t k = 0; k < n.inputs.size(); ++k)
        if (!n.inputs[k].empty()) consumers_[n.inputs[k]].push_back({i, k});
    }
    for (const auto& r : options.ignored.name_regexes) {
      try {
        regexes_.emplace_back(r);
      } catch (const std::regex_error&) {
        QUAC_THROW(kInvalidArgument, "ignored scope: '", r, "' is not a valid regular expression");
      }
    }
    ignored_.resize(graph.nodes.size());
    for (size_t i = 0; i < graph.nodes.size(); ++i)
      ignored_[i] = !graph.nodes[i].domain.empty() || ignored(graph.nodes[i], options.ignored, regexes_);
    in_pattern_.assign(graph.nodes.size(), -1);
  }

  // The fused patterns alone (node names, anchor first).
  std::vector<std::vector<std::string>> fused_patterns() {
    match_patterns();
    std::vector<std::vector<std::string>> out;
    for (const auto& m : matches_) {
      out.emplace_back();
      for (size_t n : m.nodes) out.back().push_back(graph_.nodes[n].name);
    }
    return out;
  }

  QuantizationScope run() {
    auto preset = hw_.presets.find(options_.preset);
    if (preset == hw_.presets.end()) {
      std::string names;
      for (const auto& [name, p] : hw_.presets) names += (names.empty() ? "" : ", ") + name;
      QUAC_THROW(kInvalidArgument, "hardware config ", hw_.source, " has no preset '", options_.preset, "' (it has ",
                 names, ")");
    }
    preset_ = preset->second;
    match_patterns();
    place_anchors();
    // Residual skips, Add / Mul whose output is quantized, and propagation through agnostic ops feed each other:
    // repeat until nothing changes.
    for (bool changed = true; changed;) {
      changed = false;
      for (const auto& m : matches_) {
        if (!quantized(m.output)) continue;
        for (auto [n, k] : m.skips)  // a device that runs the Add in floating point (VPU) quantizes no skip
          if (hw_.quantized.count(graph_.nodes[n].op_type)) changed |= add_activation(graph_.nodes[n].inputs[k], n, k);
      }
      for (size_t i = 0; i < graph_.nodes.size(); ++i) {
        const ir::Node& n = graph_.nodes[i];
        auto op = hw_.quantized.find(n.op_type);
        if (ignored_[i] || in_pattern_[i] >= 0 || op == hw_.quantized.end() || !op->second.when_output_quantized)
          continue;
        if (n.outputs.empty() || !quantized(n.outputs[0])) continue;
        // Only an op of two (or more) tensors: a Mul or Add with a constant is a scale or shift (inside a GELU, an
        // attention scaling) that runs with its neighbours, not an INT8 op of its own.
        size_t tensors = 0;
        for (const auto& in : n.inputs) tensors += is_float_activation(in);
        if (tensors < 2) continue;
        for (size_t k = 0; k < n.inputs.size(); ++k)
          if (wanted(op->second, k)) changed |= add_activation(n.inputs[k], i, k);
      }
      for (size_t i = 0; i < graph_.nodes.size(); ++i) changed |= propagate(i);
    }
    // Unified scales: sets of tied quantizers, numbered by their first member.
    for (size_t q = 0; q < scope_.quantizers.size(); ++q) {
      size_t root = find(q);
      bool shared = false;
      for (size_t o = 0; o < scope_.quantizers.size() && !shared; ++o) shared = o != q && find(o) == root;
      scope_.quantizers[q].unified_scale = shared ? static_cast<int>(root) : -1;
    }
    for (const auto& m : matches_) {
      scope_.fused.emplace_back();
      for (size_t n : m.nodes) scope_.fused.back().push_back(graph_.nodes[n].name);
    }
    scope_.rebuild_groups(graph_);
    return scope_;
  }

 private:
  bool is_float_activation(const std::string& v) const {
    if (v.empty() || graph_.initializer(v)) return false;
    const ir::ValueInfo* info = graph_.find_value_info(v);
    return !info || info->dtype == DataType::kFloat || info->dtype == DataType::kUndefined;
  }
  bool wanted(const HwQuantizedOp& op, size_t k) const {
    return op.all_inputs || std::find(op.activations.begin(), op.activations.end(), k) != op.activations.end();
  }
  bool quantized(const std::string& v) const {
    auto it = by_value_.find(v);
    return it != by_value_.end() && !scope_.quantizers[it->second].uses.empty();
  }
  size_t find(size_t q) {
    while (parent_[q] != q) q = parent_[q] = parent_[parent_[q]];
    return q;
  }
  void tie(size_t a, size_t b) { parent_[find(a)] = find(b); }

  // Quantizes `value` as read by input k of node n (once per value). Returns whether a use was added.
  bool add_activation(const std::string& value, size_t n, size_t k) {
    if (!is_float_activation(value) || ignored_[n]) return false;
    auto [it, fresh] = by_value_.emplace(value, scope_.quantizers.size());
    if (fresh) {
      Quantizer q;
      q.value = value;
      int bits = options_.activation_bits > 0 ? options_.activation_bits : preset_.activations.bits;
      q.spec.bits = bits;
      q.spec.symmetric = preset_.activations.mode == "symmetric";
      q.spec.level_low = -(int64_t{1} << (bits - 1));
      q.spec.level_high = (int64_t{1} << (bits - 1)) - 1;
      scope_.quantizers.push_back(q);
      parent_.push_back(parent_.size());
    }
    auto& uses = scope_.quantizers[it->second].uses;
    std::pair<std::string, size_t> use{graph_.nodes[n].name, k};
    if (std::find(uses.begin(), uses.end(), use) != uses.end()) return false;
    uses.push_back(use);
    return true;
  }

  // The fused patterns, matched greedily from their first op in graph order; a node belongs to one pattern at most.
  void match_patterns() {
    for (size_t i = 0; i < graph_.nodes.size(); ++i) {
      if (ignored_[i] || in_pattern_[i] >= 0 || graph_.nodes[i].outputs.empty()) continue;
      PatternMatch best;
      for (const auto& p : hw_.patterns) {
        if (!p.steps[0].types.count(graph_.nodes[i].op_type)) continue;
        PatternMatch m;
        m.nodes = {i};
        m.output = graph_.nodes[i].outputs[0];
        for (size_t s = 1; s < p.steps.size(); ++s) {
          size_t count = 0;
          while ((p.steps[s].repeat == '*' || count == 0) && step(p.steps[s], &m)) ++count;
          if (p.steps[s].repeat == '1' && count == 0) break;  // a required step missing: the pattern ends here
        }
        if (m.nodes.size() > best.nodes.size()) best = m;
      }
      if (best.nodes.size() < 2) continue;
      for (size_t n : best.nodes) in_pattern_[n] = static_cast<int>(matches_.size());
      matches_.push_back(best);
    }
  }

  // Extends `m` by one occurrence of `s` after its output value. The value must be read by the next op only.
  bool step(const HwPatternStep& s, PatternMatch* m) const {
    const std::string& y = m->output;
    if (graph_.is_output(y)) return false;
    auto it = consumers_.find(y);
    if (it == consumers_.end()) return false;
    const auto& uses = it->second;
    auto free_node = [&](size_t n) { return !ignored_[n] && in_pattern_[n] < 0 && !graph_.nodes[n].outputs.empty(); };
    if (!s.gates.empty() && uses.size() == 2) {  // y * Gate(y)
      for (int g = 0; g < 2; ++g) {
        size_t gate = uses[g].first, mul = uses[1 - g].first;
        const ir::Node& gn = graph_.nodes[gate];
        const ir::Node& mn = graph_.nodes[mul];
        if (!free_node(gate) || !free_node(mul) || !s.gates.count(gn.op_type) || gn.inputs[0] != y ||
            mn.op_type != "Mul" || mn.inputs.size() != 2 || graph_.is_output(gn.outputs[0]))
          continue;
        auto gc = consumers_.find(gn.outputs[0]);
        if (gc == consumers_.end() || gc->second.size() != 1 || gc->second[0].first != mul) continue;
        m->nodes.push_back(gate);
        m->nodes.push_back(mul);
        m->output = mn.outputs[0];
        return true;
      }
    }
    if (uses.size() != 1) return false;
    size_t n = uses[0].first, k = uses[0].second;
    const ir::Node& node = graph_.nodes[n];
    if (!free_node(n) || !s.types.count(node.op_type)) return false;
    for (size_t o = 1; o < node.outputs.size(); ++o)
      if (!node.outputs[o].empty()) return false;
    if (s.input.empty()) {
      if (k != 0) return false;
      for (size_t j = 1; j < node.inputs.size(); ++j)
        if (!node.inputs[j].empty() && !graph_.initializer(node.inputs[j])) return false;
    } else {
      if (node.inputs.size() != 2) return false;
      const std::string& other = node.inputs[1 - k];
      bool constant = graph_.initializer(other) != nullptr;
      if (other == y || constant != (s.input == "constant")) return false;
      if (!constant) m->skips.push_back({n, 1 - k});
    }
    m->nodes.push_back(n);
    m->output = node.outputs[0];
    return true;
  }

  // Ops quantized on their own inputs whatever their output (Conv, MatMul, pooling, ...), with their weights.
  void place_anchors() {
    bool fix_device = options_.target_device == "ANY" || options_.target_device == "CPU";
    std::set<std::string> model_inputs;
    for (const auto& in : graph_.inputs)
      if (!graph_.initializer(in.name)) model_inputs.insert(in.name);
    for (size_t i = 0; i < graph_.nodes.size(); ++i) {
      const ir::Node& node = graph_.nodes[i];
      auto it = hw_.quantized.find(node.op_type);
      if (ignored_[i] || it == hw_.quantized.end() || it->second.when_output_quantized) continue;
      if (in_pattern_[i] >= 0 && matches_[static_cast<size_t>(in_pattern_[i])].nodes[0] != i) continue;
      const HwQuantizedOp& op = it->second;
      if (node.inputs.empty() || node.inputs[0].empty()) continue;
      // Only float ops are quantized (integer MatMuls over indices are left alone).
      const ir::ValueInfo* info = graph_.find_value_info(node.inputs[0]);
      if (info && info->dtype != DataType::kFloat && info->dtype != DataType::kUndefined) continue;
      // A weighted op needs its weight input.
      bool weighted = !op.weights.empty();
      if (weighted && (node.inputs.size() <= op.weights[0] || node.inputs[op.weights[0]].empty())) continue;
      for (size_t k = 0; k < node.inputs.size(); ++k) {
        bool weight_input = std::find(op.weights.begin(), op.weights.end(), k) != op.weights.end();
        const Tensor* w = weight_input ? graph_.initializer(node.inputs[k]) : nullptr;
        if (w && w->dtype() == DataType::kFloat && w->rank() >= 2) {
          Quantizer q;
          q.value = node.inputs[k];
          q.is_weight = true;
          q.spec.per_channel = options_.per_channel_weights && preset_.weights.granularity == "perchannel";
          q.spec.axis = weight_axis(node, *w);
          q.spec.symmetric = preset_.weights.mode == "symmetric";
          // Symmetric weights use the narrow range [-127, 127] so the grid is symmetric around zero.
          int bits = options_.weight_bits > 0 ? options_.weight_bits : preset_.weights.bits;
          bool fix = fix_device && (options_.saturation_fix == "all" ||
                                    (options_.saturation_fix == "first_layer" && model_inputs.count(node.inputs[0])));
          if (fix) bits = std::min(bits, 7);
          q.spec.bits = bits;
          q.spec.level_high = (int64_t{1} << (bits - 1)) - 1;
          q.spec.level_low = -q.spec.level_high;
          q.uses.push_back({node.name, k});
          scope_.quantizers.push_back(q);
          parent_.push_back(parent_.size());
        } else if (weight_input || wanted(op, k)) {
          add_activation(node.inputs[k], i, k);  // e.g. MatMul of two activations (attention)
        }
      }
    }
  }

  // An agnostic op whose output is quantized for every reader: its data inputs get the same quantizer (tied scale),
  // so the op itself runs on 8-bit values.
  bool propagate(size_t i) {
    const ir::Node& n = graph_.nodes[i];
    if (ignored_[i] || in_pattern_[i] >= 0 || !hw_.agnostic.count(n.op_type) || n.outputs.empty()) return false;
    for (size_t o = 1; o < n.outputs.size(); ++o)
      if (!n.outputs[o].empty()) return false;
    const std::string& y = n.outputs[0];
    auto qi = by_value_.find(y);
    if (qi == by_value_.end() || graph_.is_output(y)) return false;
    const auto& uses = scope_.quantizers[qi->second].uses;
    for (const auto& [c, k] : consumers_.at(y))
      if (std::find(uses.begin(), uses.end(), std::make_pair(graph_.nodes[c].name, k)) == uses.end()) return false;
    bool unified = hw_.unified_scales.count(n.op_type) > 0;
    size_t data = unified ? n.inputs.size() : 1;
    if (!unified && n.op_type == "Concat") return false;  // inputs with scales of their own: nothing to propagate
    for (size_t k = 0; k < data; ++k)
      if (!is_float_activation(n.inputs[k])) return false;
    bool changed = false;
    for (size_t k = 0; k < data; ++k) {
      changed |= add_activation(n.inputs[k], i, k);
      size_t a = by_value_.at(n.inputs[k]), b = by_value_.at(y);
      if (find(a) != find(b)) {
        tie(a, b);
        changed = true;
      }
    }
    return changed;
  }

  const ir::Graph& graph_;
  const PlacementOptions& options_;
  HardwareConfig hw_;
  HwPreset preset_;
  std::vector<std::regex> regexes_;
  std::map<std::string, std::vector<std::pair<size_t, size_t>>> consumers_;  // value -> (node, input)
  std::vector<bool> ignored_;
  std::vector<int> in_pattern_;
  std::vector<PatternMatch> matches_;
  QuantizationScope scope_;
  std::map<std::string, size_t> by_value_;  // value -> activation quantizer
  std::vector<size_t> parent_;              // union-find of tied scales
};

}  // namespace

QuantizationScope place_quantizers(const ir::Graph& graph, const PlacementOptions& options) {
  static const std::vector<std::string> kFixes{"first_layer", "all", "no"};
  if (std::find(kFixes.begin(), kFixes.end(), options.saturation_fix) == kFixes.end())
    QUAC_THROW(kInvalidArgument, "saturation_fix '", options.saturation_fix, "' is not one of first_layer, all, no");
  HardwareConfig hw = builtin_hardware_config(options.target_device);  // also validates the device name
  if (!options.hardware_config.empty()) hw = load_hardware_config(options.hardware_config);
  return Placer(graph, options, std::move(hw)).run();
}

std::vector<std::vector<std::string>> match_fused_patterns(const ir::Graph& graph, const HardwareConfig& hw) {
  PlacementOptions options;
  options.target_device = hw.target_device;
  return Placer(graph, options, hw).fused_patterns();
}

}  // namespace quac::quant
