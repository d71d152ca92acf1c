// Algorithm registry: each algorithm registers itself by name (as POT names them) from its own file, parsing and
// validating its params in its factory.
#pragma once

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

}  // namespace quac::algorithms

#define QUAC_ALGO_CONCAT_INNER(a, b) a##b
#define QUAC_ALGO_CONCAT(a, b) QUAC_ALGO_CONCAT_INNER(a, b)
#define QUAC_REGISTER_ALGORITHM(name, factory) \
  static const ::quac::algorithms::AlgorithmRegistrar QUAC_ALGO_CONCAT(quac_algorithm_, __COUNTER__)(name, factory)
