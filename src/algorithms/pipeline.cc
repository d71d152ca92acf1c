#include <map>

#include "algorithms/algorithm.h"
#include "quac/session.h"

namespace quac {
namespace algorithms {
namespace {
std::map<std::string, AlgorithmFactory>& registry() {
  static std::map<std::string, AlgorithmFactory> r;
  return r;
}
}  // namespace

void register_algorithm(const std::string& name, AlgorithmFactory factory) { registry()[name] = std::move(factory); }

const AlgorithmFactory* find_algorithm(const std::string& name) {
  auto it = registry().find(name);
  return it == registry().end() ? nullptr : &it->second;
}
}  // namespace algorithms

std::vector<std::string> algorithm_names() {
  std::vector<std::string> names;
  for (const auto& [name, f] : algorithms::registry()) names.push_back(name);
  return names;
}

Engine::Engine(std::shared_ptr<const Dataset> dataset, std::shared_ptr<Metric> metric, EngineOptions options)
    : dataset_(std::move(dataset)), metric_(std::move(metric)), options_(options) {
  QUAC_CHECK(dataset_ != nullptr, kInvalidArgument, "Engine: a dataset is required");
}

EvaluationResult Engine::evaluate(const Model& model, EvaluationOptions options) {
  QUAC_CHECK(metric_ != nullptr, kInvalidArgument, "Engine: evaluation needs a metric");
  Session session(model, {.num_threads = options_.num_threads});
  if (options.batch_size == EvaluationOptions{}.batch_size) options.batch_size = options_.batch_size;
  if (!options_.progress) options.progress_label.clear();
  return quac::evaluate(session, *dataset_, *metric_, options);
}

namespace {

class SequentialPipeline : public Pipeline {
 public:
  SequentialPipeline(std::vector<std::unique_ptr<algorithms::Algorithm>> algorithms, std::shared_ptr<Engine> engine)
      : algorithms_(std::move(algorithms)), engine_(std::move(engine)) {}
  Model run(const Model& model) override {
    Model current = model;
    for (auto& a : algorithms_) current = a->run(current, *engine_);
    return current;
  }
  std::map<std::string, double> evaluate(const Model& model) override {
    return engine_->evaluate(model, {.progress_label = "evaluate"}).metrics;
  }

 private:
  std::vector<std::unique_ptr<algorithms::Algorithm>> algorithms_;
  std::shared_ptr<Engine> engine_;
};

}  // namespace

std::unique_ptr<Pipeline> create_pipeline(const std::vector<AlgorithmSpec>& specs, std::shared_ptr<Engine> engine) {
  QUAC_CHECK(engine != nullptr, kInvalidArgument, "create_pipeline: an engine is required");
  QUAC_CHECK(!specs.empty(), kInvalidArgument, "create_pipeline: no algorithms given");
  std::vector<std::unique_ptr<algorithms::Algorithm>> list;
  for (size_t i = 0; i < specs.size(); ++i) {
    const auto* factory = algorithms::find_algorithm(specs[i].name);
    if (!factory) {
      std::string known;
      for (const auto& n : algorithm_names()) known += (known.empty() ? "" : ", ") + n;
      QUAC_THROW(kInvalidArgument, "algorithms[", i, "]: unknown algorithm '", specs[i].name, "' (known: ", known, ")");
    }
    config::ParamReader params(specs[i].params, "algorithms[" + std::to_string(i) + "].params");
    list.push_back((*factory)(params));
    params.finish();
  }
  return std::make_unique<SequentialPipeline>(std::move(list), std::move(engine));
}

}  // namespace quac
