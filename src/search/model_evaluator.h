// SearchEvaluator over a real model: compiles the quantized model without the given groups (graph + a reduced
// scope; the graph itself is never copied or edited) and runs the Evaluator on the requested items.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include "quac/dataset.h"
#include "quac/metric.h"
#include "quac/model.h"
#include "quant/scope.h"
#include "search/accuracy_search.h"

namespace quac::search {

struct ModelEvaluatorOptions {
  size_t batch_size = 32;
  int num_threads = 0;
  // NNCF's restore_mode: "activations_and_weights" (a reverted group runs in FP32) or "only_activations" (its
  // weights stay INT8; only its activation quantizers are removed); quac's "int16_weights" is POT's GNA variant (the
  // group's weights go from INT8 to INT16, its 16-bit activations stay).
  std::string restore_mode = "activations_and_weights";
  // Re-derives what depends on which layers are quantized: given the reference FP32 graph with a variant's scope,
  // returns it with that variant's corrections (full BiasCorrection corrects each layer for the error of every
  // quantized layer above it, so its corrections go stale once those are reverted). Applied to the variants that
  // are evaluated on the whole set and returned, not to the ranking's subset evaluations (a ranking is a heuristic,
  // and one correction pass per ranked group would cost more than the ranking). Empty: the base algorithm's
  // corrections are kept.
  std::function<Model(const Model&)> requantize;
};

class ModelSearchEvaluator : public SearchEvaluator {
 public:
  ModelSearchEvaluator(Model reference, Model quantized, std::shared_ptr<const Dataset> data, Metric& metric,
                       ModelEvaluatorOptions options);
  size_t size() const override { return data_->size(); }
  std::vector<size_t> revertible_groups() const override;
  std::string group_label(size_t group) const override;
  size_t group_layers(size_t group) const override;
  std::map<std::string, MetricAttributes> metric_attributes() const override { return metric_.attributes(); }
  EvalResult evaluate(const EvalRequest& request) override;

  // The quantized model without `removed` (what the search returns); `refresh`: with the corrections re-derived for
  // it (options.requantize).
  Model variant(const std::set<size_t>& removed, bool refresh = true) const;
  // Inferences actually run (evaluations on the whole set are cached and repeat for free).
  size_t inferences() const { return inferences_; }
  // Reuse another evaluator's reference (FP32) evaluations: same reference model and data.
  void share_reference(const ModelSearchEvaluator& other);
  const Model& quantized() const { return quantized_; }

 private:
  struct Key {
    bool reference;
    std::set<size_t> removed;
    auto operator<=>(const Key&) const = default;
  };
  EvalResult run(const EvalRequest& request);
  Model reference_, quantized_;
  std::shared_ptr<const Dataset> data_;
  Metric& metric_;
  ModelEvaluatorOptions options_;
  std::shared_ptr<std::map<Key, EvalResult>> reference_cache_ = std::make_shared<std::map<Key, EvalResult>>();
  std::map<Key, EvalResult> cache_;  // whole-set evaluations
  // The last variant given re-derived corrections (each holds a copy of the graph, so only one is kept: the search
  // usually returns the variant it evaluated last).
  mutable std::optional<std::pair<std::set<size_t>, Model>> refreshed_;
  size_t inferences_ = 0;
};

// The scope without the given groups; in "only_activations" mode the groups' weight quantizers stay; in
// "int16_weights" mode nothing is removed: the groups' weight quantizers get 16 bits.
quant::QuantizationScope scope_without(const quant::QuantizationScope& scope, const std::set<size_t>& removed,
                                       const std::string& restore_mode);

}  // namespace quac::search
