// Graph rewrites. A pass looks at a few op types, checks a condition, rewrites, and says whether it changed the graph.
// A pattern that does not fit is simply left alone. Passes register themselves with an order number; the Session
// runs every registered pass whose level is enabled, in order, on its own copy of the graph.
#pragma once

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace quac {

struct PassContext {
  const ir::Model& model;
  // Values that must survive unchanged: graph outputs and tapped values.
  std::set<std::string> protected_values;
  int optimization_level = 2;
  bool verbose = false;
};

class Pass {
 public:
  virtual ~Pass() = default;
  virtual const char* name() const = 0;
  // Returns true when the graph changed. The graph must stay topologically sorted.
  virtual bool apply(ir::Graph& graph, PassContext& ctx) = 0;
};

struct PassDef {
  std::string name;
  int order = 0;  // lower runs first
  int level = 1;  // runs when SessionOptions::optimization_level >= level
  std::function<std::unique_ptr<Pass>()> create;
};

class PassRegistry {
 public:
  static PassRegistry& instance();
  void add(PassDef def);
  const std::vector<PassDef>& passes() const { return defs_; }  // sorted by order

 private:
  std::vector<PassDef> defs_;
};

// Runs the registered passes on the graph (and nested subgraphs are left as they are).
void run_passes(ir::Graph& graph, PassContext& ctx);

namespace detail {
struct PassRegistrar {
  explicit PassRegistrar(PassDef def) { PassRegistry::instance().add(std::move(def)); }
};
}  // namespace detail

}  // namespace quac

#define QUAC_REGISTER_PASS(PassClass, order_value, level_value)                                   \
  static const ::quac::detail::PassRegistrar QUAC_PASS_CONCAT(quac_pass_registrar_, __COUNTER__)( \
      ::quac::PassDef{#PassClass, order_value, level_value, [] { return std::make_unique<PassClass>(); }})
#define QUAC_PASS_CONCAT_INNER(a, b) a##b
#define QUAC_PASS_CONCAT(a, b) QUAC_PASS_CONCAT_INNER(a, b)
