// ExecutionPlan: one graph compiled to a list of steps (kernel, input slots, output slots, buffers to release).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ops/kernel.h"
#include "quac/session.h"
#include "runtime/buffer_pool.h"

namespace quac {

struct PlanOptions {
  const ir::Model* model = nullptr;  // opset imports, label
  bool reference_kernels_only = false;
  int num_threads = 1;
  bool verbose = false;
  std::shared_ptr<BufferPool> pool;
};

using OuterLookup = std::function<const Tensor*(const std::string&)>;

class ExecutionPlan {
 public:
  // `graph` must be topologically sorted. Values it reads but does not define come from the outer lookup at run time.
  ExecutionPlan(std::shared_ptr<const ir::Graph> graph, PlanOptions options);

  // Inputs in the order of graph->inputs. Returns the graph outputs in order.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs, const OuterLookup& outer, const TapCallback* tap,
                          const std::vector<bool>* tapped) const;

  const ir::Graph& graph() const { return *graph_; }
  int slot_of(const std::string& value) const;  // -1 if unknown
  const std::vector<std::string>& kernel_impls() const { return impls_; }
  // Per-step timing of every later run (off by default: two clock reads a step).
  void enable_profile() {
    step_ns_.assign(steps_.size(), 0);
    step_runs_.assign(steps_.size(), 0);
  }
  std::vector<NodeProfile> profile() const;

  // Steps with little work run on one thread (see run()): convolutions and matrix products under 64 x this many
  // multiply-adds (estimated from the shapes) whose weights hold under 16 x this many bytes, other ops whose inputs
  // hold fewer elements than this. Default 65536,
  // or the environment variable QUAC_SMALL_STEP_ELEMENTS; 0 turns the rule off (tests of parallel kernels on small
  // shapes, A/B timing).
  static void set_small_step_elements(int64_t elements);
  static int64_t small_step_elements();
  // Multiply-adds of a Conv/FusedConv/MatMul/Gemm/MatMulAdd node from its data input `a` and weights `b`, estimated
  // from the shapes (input pixels for output pixels); -1 for other ops.
  static int64_t estimated_macs(const ir::Node& node, const Tensor& a, const Tensor& b);

 private:
  struct Step {
    size_t node_index;
    std::unique_ptr<Kernel> kernel;
    std::vector<int> inputs;   // -1: omitted
    std::vector<int> outputs;  // -1: not wanted
    std::vector<int> release;  // slots whose last reader is this step
  };
  friend class StepContext;
  bool is_small_step(const Step& step, const std::vector<Tensor>& slots) const;

  std::shared_ptr<const ir::Graph> graph_;
  PlanOptions options_;
  std::map<std::string, int> slots_;
  std::vector<std::string> slot_names_;
  std::vector<int> input_slots_, output_slots_;
  std::vector<std::pair<int, const Tensor*>> constants_;  // initializer slots
  std::vector<std::pair<int, std::string>> outer_slots_;  // values read from enclosing graphs
  std::vector<Step> steps_;
  std::vector<std::string> impls_;
  mutable std::vector<int64_t> step_ns_, step_runs_;  // profiling (enable_profile), else empty
};

}  // namespace quac
