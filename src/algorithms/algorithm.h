// Algorithm registry: each algorithm registers itself by name (as POT names them) from its own file, parsing and
// validating its params in its factory.
#pragma once

#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "config/params.h"
#include "quac/pipeline.h"

namespace quac::algorithms {

class Algorithm {
 public:
  virtual ~Algorithm() = default;
  virtual Model run(const Model& model, Engine& engine) = 0;
};

using AlgorithmFactory = std::function<std::unique_ptr<Algorithm>(config::ParamReader& params)>;

void register_algorithm(const std::string& name, AlgorithmFactory factory);
const AlgorithmFactory* find_algorithm(const std::string& name);

struct AlgorithmRegistrar {
  AlgorithmRegistrar(const std::string& name, AlgorithmFactory factory) {
    register_algorithm(name, std::move(factory));
  }
};

// An algorithm that rewrites the FP32 graph from activation statistics before quantization (SmoothQuant,
// ActivationChannelAlignment): `transform(model, dataset, options)` with the engine's dataset and thread count. A
// quantized input loses its scope, with a note on stderr.
template <typename Options>
class GraphTransformAlgorithm : public Algorithm {
 public:
  using Transform = Model (*)(const Model&, const Dataset&, const Options&);
  GraphTransformAlgorithm(std::string name, Options options, Transform transform)
      : name_(std::move(name)), options_(std::move(options)), transform_(transform) {}
  Model run(const Model& model, Engine& engine) override {
    if (model.quantized())
      std::fprintf(stderr, "[quac] %s: the input model's quantization scope is dropped (run it before %s)\n",
                   name_.c_str(), "MinMaxQuantization");
    Options o = options_;
    o.num_threads = engine.options().num_threads;
    return transform_(model, engine.dataset(), o);
  }

 private:
  std::string name_;
  Options options_;
  Transform transform_;
};

// POT's statistics parameters (stat_subset_size, stat_batch_size, shuffle_data, seed) into `o`.
template <typename Options>
void read_stat_params(config::ParamReader& r, Options& o) {
  o.stat_subset_size = r.get<size_t>("stat_subset_size", o.stat_subset_size);
  o.stat_batch_size = r.get<size_t>("stat_batch_size", o.stat_batch_size);
  o.shuffle_data = r.get<bool>("shuffle_data", o.shuffle_data);
  o.seed = r.get<uint64_t>("seed", o.seed);
  QUAC_CHECK(o.stat_subset_size > 0, kInvalidArgument, r.path(), ".stat_subset_size must be positive");
}

}  // namespace quac::algorithms

#define QUAC_ALGO_CONCAT_INNER(a, b) a##b
#define QUAC_ALGO_CONCAT(a, b) QUAC_ALGO_CONCAT_INNER(a, b)
#define QUAC_REGISTER_ALGORITHM(name, factory) \
  static const ::quac::algorithms::AlgorithmRegistrar QUAC_ALGO_CONCAT(quac_algorithm_, __COUNTER__)(name, factory)
