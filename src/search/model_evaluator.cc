#include "search/model_evaluator.h"

#include <algorithm>

#include "ir/graph.h"
#include "quac/evaluator.h"
#include "quac/session.h"
#include "quant/calibrate.h"

namespace quac::search {

quant::QuantizationScope scope_without(const quant::QuantizationScope& scope, const std::set<size_t>& removed,
                                       const std::string& restore_mode) {
  if (restore_mode == "activations_and_weights") return scope.without_groups(removed);
  if (restore_mode == "int16_weights") {
    quant::QuantizationScope out = scope;
    quant::raise_weight_bits(out, removed, 16);
    return out;
  }
  QUAC_CHECK(restore_mode == "only_activations", kInvalidArgument, "restore_mode: '", restore_mode,
             "' is not one of activations_and_weights, only_activations, int16_weights");
  quant::QuantizationScope out;
  std::vector<long> remap(scope.quantizers.size(), -1);
  for (size_t q = 0; q < scope.quantizers.size(); ++q) {
    const quant::Quantizer& qz = scope.quantizers[q];
    if (!qz.is_weight && qz.group >= 0 && removed.count(static_cast<size_t>(qz.group))) continue;
    remap[q] = static_cast<long>(out.quantizers.size());
    out.quantizers.push_back(qz);
  }
  out.groups = scope.groups;
  for (auto& group : out.groups) {
    std::vector<size_t> kept;
    for (size_t q : group.quantizers)
      if (remap[q] >= 0) kept.push_back(static_cast<size_t>(remap[q]));
    group.quantizers = kept;
  }
  return out;
}

ModelSearchEvaluator::ModelSearchEvaluator(Model reference, Model quantized, std::shared_ptr<const Dataset> data,
                                           Metric& metric, ModelEvaluatorOptions options)
    : reference_(std::move(reference)),
      quantized_(std::move(quantized)),
      data_(std::move(data)),
      metric_(metric),
      options_(std::move(options)) {
  QUAC_CHECK(quantized_.quantized(), kInvalidArgument, "accuracy-aware search: the base algorithm gave no scope");
  scope_without(*quantized_.scope(), {}, options_.restore_mode);  // validates restore_mode
}

std::vector<size_t> ModelSearchEvaluator::revertible_groups() const {
  std::vector<size_t> groups;
  const auto& scope = *quantized_.scope();
  for (size_t g = 0; g < scope.groups.size(); ++g) {
    bool revertible = false;
    for (size_t q : scope.groups[g].quantizers) {
      const auto& qz = scope.quantizers[q];
      if (options_.restore_mode == "int16_weights")
        revertible = revertible || (qz.is_weight && qz.spec.bits < 16);  // GNA: INT8 weights can go to INT16
      else
        revertible = revertible || options_.restore_mode == "activations_and_weights" || !qz.is_weight;
    }
    if (revertible) groups.push_back(g);
  }
  return groups;
}

std::string ModelSearchEvaluator::group_label(size_t group) const {
  const auto& groups = quantized_.scope()->groups;
  if (group < groups.size() && !groups[group].label.empty()) return groups[group].label;
  return "group " + std::to_string(group);
}

size_t ModelSearchEvaluator::group_layers(size_t group) const {
  const auto& groups = quantized_.scope()->groups;
  return group < groups.size() ? std::max<size_t>(1, groups[group].nodes.size()) : 1;
}

Model ModelSearchEvaluator::variant(const std::set<size_t>& removed, bool refresh) const {
  if (removed.empty()) return quantized_;
  auto scope =
      std::make_shared<quant::QuantizationScope>(scope_without(*quantized_.scope(), removed, options_.restore_mode));
  if (refresh && options_.requantize) {
    if (!refreshed_ || refreshed_->first != removed)
      refreshed_.emplace(removed, options_.requantize(Model(reference_.ir_ptr()).with_scope(scope)));
    return refreshed_->second;
  }
  if (quantized_.ir_ptr() == reference_.ir_ptr() || options_.restore_mode == "only_activations")
    return quantized_.with_scope(scope);
  // The base algorithm changed the FP32 graph (bias correction rewrites biases in place): a reverted layer gets its
  // original FP32 parameters back, and so does the Add that carries a MatMul's bias, so that reverting every group
  // gives the FP32 model exactly. (GNA's int16_weights: the reference is the INT16 model, whose biases were
  // corrected for INT16 weights: a raised layer takes those, POT re-running bias correction after the change.)
  auto ir = std::make_shared<ir::Model>(quantized_.ir());
  const auto& ref = reference_.ir().graph.initializers;
  std::set<std::string> nodes;
  for (size_t g : removed)
    if (g < quantized_.scope()->groups.size())
      for (const auto& n : quantized_.scope()->groups[g].nodes) nodes.insert(n);
  std::set<std::string> outputs;
  for (const auto& n : ir->graph.nodes)
    if (nodes.count(n.name)) outputs.insert(n.outputs.begin(), n.outputs.end());
  for (const auto& n : ir->graph.nodes) {
    bool bias_add = n.op_type == "Add" && std::any_of(n.inputs.begin(), n.inputs.end(),
                                                      [&](const std::string& v) { return outputs.count(v) > 0; });
    if (!nodes.count(n.name) && !bias_add) continue;
    for (const auto& v : n.inputs) {
      auto it = ref.find(v);
      if (it != ref.end() && ir->graph.initializers.count(v)) ir->graph.initializers[v] = it->second;
    }
  }
  return Model(ir).with_scope(scope);
}

void ModelSearchEvaluator::share_reference(const ModelSearchEvaluator& other) {
  reference_cache_ = other.reference_cache_;
}

EvalResult ModelSearchEvaluator::evaluate(const EvalRequest& request) {
  // Whole-set evaluations are cached: the probe before convert_to_mixed_preset / tuning and the search itself
  // share them, and the reference model is shared between evaluators of different quantized variants.
  auto& cache = request.reference ? *reference_cache_ : cache_;
  Key key{request.reference, request.reference ? std::set<size_t>{} : request.removed};
  if (request.indices.empty()) {
    auto it = cache.find(key);
    if (it != cache.end() && (!request.keep_outputs || !it->second.outputs.empty() || it->second.items == 0))
      return it->second;
  }
  EvalResult out = run(request);
  if (request.indices.empty()) cache[key] = out;
  return out;
}

EvalResult ModelSearchEvaluator::run(const EvalRequest& request) {
  const bool whole_set = request.indices.empty() || request.indices.size() == data_->size();
  Model model = request.reference ? reference_ : variant(request.removed, whole_set);
  Session session(model, {.num_threads = options_.num_threads});
  EvaluationOptions eo;
  eo.batch_size = options_.batch_size;
  eo.indices = request.indices;
  eo.keep_outputs = request.keep_outputs;
  eo.progress_label = request.label;
  EvaluationResult r = quac::evaluate(session, *data_, metric_, eo);
  EvalResult out;
  out.metrics = std::move(r.metrics);
  out.per_sample = std::move(r.per_sample);
  out.outputs = std::move(r.outputs);
  out.items = r.items;
  out.seconds = r.seconds;
  inferences_ += r.items;
  return out;
}

}  // namespace quac::search
