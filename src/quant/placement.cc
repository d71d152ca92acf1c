#include "quant/placement.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <regex>
#include <set>

namespace quac::quant {
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

}  // namespace

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

QuantizationScope place_quantizers(const ir::Graph& graph, const PlacementOptions& options) {
  static const std::vector<std::string> kDevices{"ANY", "CPU", "GPU", "VPU", "GNA"};
  if (std::find(kDevices.begin(), kDevices.end(), options.target_device) == kDevices.end())
    QUAC_THROW(kInvalidArgument, "target_device '", options.target_device, "' is not one of ANY, CPU, GPU, VPU, GNA");
  std::vector<std::regex> regexes;
  for (const auto& r : options.ignored.name_regexes) {
    try {
      regexes.emplace_back(r);
    } catch (const std::regex_error&) {
      QUAC_THROW(kInvalidArgument, "ignored scope: '", r, "' is not a valid regular expression");
    }
  }
  static const std::vector<std::string> kFixes{"first_layer", "all", "no"};
  if (std::find(kFixes.begin(), kFixes.end(), options.saturation_fix) == kFixes.end())
    QUAC_THROW(kInvalidArgument, "saturation_fix '", options.saturation_fix, "' is not one of first_layer, all, no");
  bool fix_device = options.target_device == "ANY" || options.target_device == "CPU";
  std::set<std::string> model_inputs;
  for (const auto& in : graph.inputs)
    if (!graph.initializer(in.name)) model_inputs.insert(in.name);
  QuantizationScope scope;
  std::map<std::string, size_t> by_value;  // value -> activation quantizer
  auto activation = [&](const std::string& value, const ir::Node& node, size_t input) {
    auto [it, fresh] = by_value.emplace(value, scope.quantizers.size());
    if (fresh) {
      Quantizer q;
      q.value = value;
      q.spec.bits = options.activation_bits;
      q.spec.level_low = -(int64_t{1} << (options.activation_bits - 1));
      q.spec.level_high = (int64_t{1} << (options.activation_bits - 1)) - 1;
      scope.quantizers.push_back(q);
    }
    scope.quantizers[it->second].uses.push_back({node.name, input});
  };
  for (const auto& node : graph.nodes) {
    const std::string& op = node.op_type;
    if (!node.domain.empty()) continue;
    bool weighted = op == "Conv" || op == "ConvTranspose" || op == "Gemm" || op == "MatMul";
    if (!weighted || ignored(node, options.ignored, regexes)) continue;
    if (node.inputs.size() < 2 || node.inputs[0].empty() || node.inputs[1].empty()) continue;
    // Only float ops are quantized (integer MatMuls over indices are left alone).
    const ir::ValueInfo* info = graph.find_value_info(node.inputs[0]);
    if (info && info->dtype != DataType::kFloat && info->dtype != DataType::kUndefined) continue;
    activation(node.inputs[0], node, 0);
    const Tensor* w = graph.initializer(node.inputs[1]);
    if (w && w->dtype() == DataType::kFloat && w->rank() >= 2) {
      Quantizer q;
      q.value = node.inputs[1];
      q.is_weight = true;
      q.spec.per_channel = options.per_channel_weights;
      q.spec.axis = weight_axis(node, *w);
      // Symmetric weights use the narrow range [-127, 127] so the grid is symmetric around zero.
      int bits = options.weight_bits;
      bool fix = fix_device && (options.saturation_fix == "all" ||
                                (options.saturation_fix == "first_layer" && model_inputs.count(node.inputs[0])));
      if (fix) bits = std::min(bits, 7);
      q.spec.bits = bits;
      q.spec.level_high = (int64_t{1} << (bits - 1)) - 1;
      q.spec.level_low = -q.spec.level_high;
      q.uses.push_back({node.name, 1});
      scope.quantizers.push_back(q);
    } else {
      activation(node.inputs[1], node, 1);  // MatMul of two activations (attention)
    }
  }
  scope.rebuild_groups(graph);
  return scope;
}

}  // namespace quac::quant
