// The POT workflow in C++: an Engine (dataset + metric) evaluates models; a Pipeline of algorithms, created from a
// list of {name, params} exactly as in POT's configs, turns an FP32 Model into a quantized one.
//
//   auto engine = std::make_shared<quac::Engine>(dataset, quac::create_metric("top1"));
//   auto pipeline = quac::create_pipeline({{"DefaultQuantization", {{"preset", "performance"}}}}, engine);
//   quac::Model int8 = pipeline->run(quac::load_model("model.onnx"));
//   quac::compress_model_weights(int8);
//   quac::save_model(int8, "model_int8.onnx");
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "quac/dataset.h"
#include "quac/evaluator.h"
#include "quac/metric.h"
#include "quac/model.h"

namespace quac {

struct EngineOptions {
  size_t batch_size = 32;
  int num_threads = 0;  // 0 = all cores
  bool progress = true;
};

class Engine {
 public:
  // `metric` may be null for calibration-only pipelines (DefaultQuantization).
  Engine(std::shared_ptr<const Dataset> dataset, std::shared_ptr<Metric> metric, EngineOptions options = {});
  // Compiles the model (FP32 or quantized) and evaluates the metric on the dataset or on `options.indices`.
  EvaluationResult evaluate(const Model& model, EvaluationOptions options = {});
  const Dataset& dataset() const { return *dataset_; }
  std::shared_ptr<const Dataset> dataset_ptr() const { return dataset_; }
  Metric* metric() const { return metric_.get(); }
  const EngineOptions& options() const { return options_; }

 private:
  std::shared_ptr<const Dataset> dataset_;
  std::shared_ptr<Metric> metric_;
  EngineOptions options_;
};

struct AlgorithmSpec {
  std::string name;
  nlohmann::json params = nlohmann::json::object();
};

class Pipeline {
 public:
  virtual ~Pipeline() = default;
  virtual Model run(const Model& model) = 0;
  // The engine's metric on the model, over the whole dataset.
  virtual std::map<std::string, double> evaluate(const Model& model) = 0;
};

// Throws kInvalidArgument naming the algorithm or the parameter (with its path) when a name or key is unknown or a
// value has the wrong type.
std::unique_ptr<Pipeline> create_pipeline(const std::vector<AlgorithmSpec>& algorithms, std::shared_ptr<Engine> engine);
// Names of the registered algorithms.
std::vector<std::string> algorithm_names();

}  // namespace quac
