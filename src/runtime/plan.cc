#include "runtime/plan.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <set>

namespace quac {

// The KernelContext of one step of one run.
class StepContext : public KernelContext {
 public:
  StepContext(const ExecutionPlan& plan, const ExecutionPlan::Step& step, std::vector<Tensor>& slots,
              const OuterLookup& outer)
      : plan_(plan), step_(step), slots_(slots), outer_(outer), node_(plan.graph_->nodes[step.node_index]) {}

  const ir::Node& node() const override { return node_; }
  int64_t opset() const override { return plan_.options_.model ? plan_.options_.model->opset(node_.domain) : 0; }
  size_t num_inputs() const override { return step_.inputs.size(); }
  const Tensor* input(size_t i) const override {
    if (i >= step_.inputs.size() || step_.inputs[i] < 0) return nullptr;
    const Tensor& t = slots_[static_cast<size_t>(step_.inputs[i])];
    if (!t.defined()) return nullptr;
    return &t;
  }
  size_t num_outputs() const override { return step_.outputs.size(); }
  bool output_wanted(size_t i) const override { return i < step_.outputs.size() && step_.outputs[i] >= 0; }
  Tensor& allocate_output(size_t i, DataType type, const Shape& shape) override {
    Tensor& slot = output_slot(i);
    slot = plan_.options_.pool->allocate(type, shape);
    return slot;
  }
  void set_output(size_t i, Tensor tensor) override { output_slot(i) = std::move(tensor); }
  int num_threads() const override { return plan_.options_.num_threads; }
  bool input_reusable(size_t i) const override {
    if (i >= step_.inputs.size() || step_.inputs[i] < 0) return false;
    const int s = step_.inputs[i];
    if (std::find(step_.release.begin(), step_.release.end(), s) == step_.release.end()) return false;
    for (size_t k = 0; k < step_.inputs.size(); ++k)
      if (k != i && step_.inputs[k] == s) return false;
    const Tensor& t = slots_[static_cast<size_t>(s)];
    return t.defined() && t.storage() && t.storage().use_count() == 1;
  }
  const Tensor* lookup(const std::string& value) const override {
    int s = plan_.slot_of(value);
    if (s >= 0 && slots_[static_cast<size_t>(s)].defined()) return &slots_[static_cast<size_t>(s)];
    return outer_ ? outer_(value) : nullptr;
  }

 private:
  Tensor& output_slot(size_t i) {
    if (i >= step_.outputs.size()) fail("kernel wrote output " + std::to_string(i) + ", which the node does not have");
    if (step_.outputs[i] < 0) return scratch_;  // unwanted optional output: computed, then dropped
    return slots_[static_cast<size_t>(step_.outputs[i])];
  }

  const ExecutionPlan& plan_;
  const ExecutionPlan::Step& step_;
  std::vector<Tensor>& slots_;
  const OuterLookup& outer_;
  const ir::Node& node_;
  Tensor scratch_;
};

namespace {

class PlanSubgraphRunner : public SubgraphRunner {
 public:
  explicit PlanSubgraphRunner(std::shared_ptr<ExecutionPlan> plan) : plan_(std::move(plan)) {}
  std::vector<Tensor> run(const std::vector<Tensor>& inputs, KernelContext& outer) override {
    OuterLookup lookup = [&outer](const std::string& v) { return outer.lookup(v); };
    return plan_->run(inputs, lookup, nullptr, nullptr);
  }
  size_t num_inputs() const override { return plan_->graph().inputs.size(); }
  size_t num_outputs() const override { return plan_->graph().outputs.size(); }

 private:
  std::shared_ptr<ExecutionPlan> plan_;
};

}  // namespace

ExecutionPlan::ExecutionPlan(std::shared_ptr<const ir::Graph> graph, PlanOptions options)
    : graph_(std::move(graph)), options_(std::move(options)) {
  if (!options_.pool) options_.pool = std::make_shared<BufferPool>();
  const ir::Graph& g = *graph_;
  const std::string label =
      options_.model && !options_.model->model_path.empty() ? options_.model->model_path : "model";
  auto slot = [&](const std::string& name) {
    auto it = slots_.find(name);
    if (it != slots_.end()) return it->second;
    int s = static_cast<int>(slot_names_.size());
    slots_[name] = s;
    slot_names_.push_back(name);
    return s;
  };
  for (const auto& v : g.inputs) input_slots_.push_back(slot(v.name));
  for (const auto& [name, t] : g.initializers) constants_.push_back({slot(name), &t});
  std::set<std::string> defined;
  for (const auto& v : g.inputs) defined.insert(v.name);
  for (const auto& [name, t] : g.initializers) defined.insert(name);

  // Last reader of every value, for releasing buffers early.
  std::map<std::string, size_t> last_read;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (const auto& r : ir::node_reads(g.nodes[i])) last_read[r] = i;
  std::set<std::string> keep;
  for (const auto& v : g.outputs) keep.insert(v.name);
  for (const auto& [name, t] : g.initializers) keep.insert(name);

  const std::vector<const ir::ValueInfo*> no_infos;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& node = g.nodes[i];
    Step step;
    step.node_index = i;
    KernelInfo info{node, options_.model ? options_.model->opset(node.domain) : 0, {}, {}, options_.num_threads, {},
                    label};
    for (const auto& in : node.inputs) {
      if (in.empty()) {
        step.inputs.push_back(-1);
        info.constant_inputs.push_back(nullptr);
        info.input_infos.push_back(nullptr);
        continue;
      }
      if (!defined.count(in) && !slots_.count(in)) outer_slots_.push_back({slot(in), in});
      step.inputs.push_back(slot(in));
      info.constant_inputs.push_back(g.initializer(in));
      info.input_infos.push_back(g.find_value_info(in));
    }
    // Subgraph outer references that are not defined here are fetched from the enclosing scope too.
    for (const auto& r : ir::node_reads(node))
      if (!defined.count(r) && !slots_.count(r)) outer_slots_.push_back({slot(r), r});
    for (const auto& out : node.outputs) {
      if (out.empty()) {
        step.outputs.push_back(-1);
        continue;
      }
      step.outputs.push_back(slot(out));
      defined.insert(out);
    }
    PlanOptions sub_options = options_;
    info.compile_subgraph = [sub_options](const ir::Graph& sub) -> std::shared_ptr<SubgraphRunner> {
      // The subgraph is owned by the node's attribute, which outlives the plan's kernels.
      std::shared_ptr<const ir::Graph> alias(std::shared_ptr<const ir::Graph>(), &sub);
      return std::make_shared<PlanSubgraphRunner>(std::make_shared<ExecutionPlan>(alias, sub_options));
    };

    auto candidates = KernelRegistry::instance().find(node.domain, node.op_type, info.opset);
    if (candidates.empty()) {
      if (KernelRegistry::instance().has_op(node.domain, node.op_type))
        QUAC_THROW(kUnsupported, label, ": node ", node.describe(), ": opset ", info.opset, " of ",
                   node.domain.empty() ? "ai.onnx" : node.domain, " is not supported for ", node.op_type);
      QUAC_THROW(kUnsupported, label, ": node ", node.describe(), ": op ", node.op_type, " (domain '",
                 node.domain.empty() ? "ai.onnx" : node.domain, "') is not supported by quac");
    }
    std::string chosen;
    for (const KernelDef* def : candidates) {
      if (options_.reference_kernels_only && def->priority > 0) continue;
      std::string reason;
      try {
        step.kernel = def->factory(info, &reason);
      } catch (const Error& e) {
        if (std::string(e.what()).find(label) == 0) throw;
        throw Error(e.code(), label + ": " + e.what());
      }
      if (step.kernel) {
        chosen = def->impl;
        break;
      }
      if (options_.verbose)
        std::fprintf(stderr, "[quac] %s: %s kernel declined: %s\n", node.describe().c_str(), def->impl.c_str(),
                     reason.c_str());
    }
    if (!step.kernel)
      QUAC_THROW(kUnsupported, label, ": node ", node.describe(), ": no kernel accepts this node",
                 options_.reference_kernels_only ? " (reference kernels only)" : "");
    if (options_.verbose) std::fprintf(stderr, "[quac] %s -> %s\n", node.describe().c_str(), chosen.c_str());
    impls_.push_back(chosen);
    steps_.push_back(std::move(step));
  }
  for (const auto& v : g.outputs) {
    if (!defined.count(v.name) && !slots_.count(v.name)) outer_slots_.push_back({slot(v.name), v.name});
    output_slots_.push_back(slot(v.name));
  }
  // Release after the last reader; values nobody reads are released right after they are produced.
  for (size_t i = 0; i < steps_.size(); ++i) {
    for (const auto& out : g.nodes[i].outputs) {
      if (out.empty() || keep.count(out) || last_read.count(out)) continue;
      steps_[i].release.push_back(slots_[out]);
    }
  }
  for (const auto& [name, idx] : last_read) {
    if (keep.count(name)) continue;
    auto it = slots_.find(name);
    if (it == slots_.end()) continue;
    bool is_input = std::find(input_slots_.begin(), input_slots_.end(), it->second) != input_slots_.end();
    bool is_outer =
        std::any_of(outer_slots_.begin(), outer_slots_.end(), [&](const auto& o) { return o.first == it->second; });
    if (is_outer) continue;  // owned by the enclosing graph
    (void)is_input;          // inputs are released too: the caller keeps its own copy
    steps_[idx].release.push_back(it->second);
  }
}

namespace {

int64_t small_step_elements_from_env() {
  const char* v = std::getenv("QUAC_SMALL_STEP_ELEMENTS");
  if (!v || !*v) return 65536;
  char* end = nullptr;
  long long n = std::strtoll(v, &end, 10);
  return *end || n < 0 ? 65536 : static_cast<int64_t>(n);
}

std::atomic<int64_t> g_small_step_elements{small_step_elements_from_env()};

}  // namespace

void ExecutionPlan::set_small_step_elements(int64_t elements) { g_small_step_elements.store(elements); }
int64_t ExecutionPlan::small_step_elements() { return g_small_step_elements.load(); }

int64_t ExecutionPlan::estimated_macs(const ir::Node& node, const Tensor& a, const Tensor& b) {
  if (a.rank() < 1 || b.rank() < 2) return -1;
  const std::string& op = node.op_type;
  if (op == "Conv" || op == "FusedConv" || op == "QConv") {
    // Input pixels x weight elements: each output channel reads C_in / group input channels, which the weights'
    // element count already holds, so a depthwise conv is not group times less work.
    int64_t c_in = b.dim(1) * node.attr_int("group", 1);
    return c_in > 0 ? a.numel() / c_in * b.numel() : -1;
  }
  if (op == "MatMul" || op == "Gemm" || op == "MatMulAdd" || op == "QMatMul") {
    int64_t k = op == "Gemm" && node.attr_int("transA", 0) ? a.dim(0) : a.dim(a.rank() - 1);
    return k > 0 ? a.numel() / k * b.numel() : -1;
  }
  return -1;
}

bool ExecutionPlan::is_small_step(const Step& step, const std::vector<Tensor>& slots) const {
  const int64_t limit = small_step_elements();
  if (limit <= 0) return false;
  auto input = [&](size_t i) -> const Tensor* {
    if (i >= step.inputs.size() || step.inputs[i] < 0) return nullptr;
    const Tensor& t = slots[static_cast<size_t>(step.inputs[i])];
    return t.defined() ? &t : nullptr;
  };
  // Convolutions and matrix products: multiply-adds, estimated from the input and the weights. Limit x 64
  // multiply-adds is about 4 M, some 40 microseconds on one AVX2 core.
  const ir::Node& node = graph_->nodes[step.node_index];
  const bool int8 = node.domain == "quac" && (node.op_type == "QConv" || node.op_type == "QMatMul");
  const Tensor *a = input(0), *b = input(int8 ? 3 : 1);  // QConv / QMatMul: x, x scale, x zero point, weights, ...
  if (a && b) {
    int64_t macs = estimated_macs(node, *a, *b);
    // Weights of a megabyte or more (a classifier's Gemm at batch 1) are streamed from memory: two cores read them
    // faster than one, whatever the multiply-add count.
    if (macs >= 0) return macs < limit * 64 && b->nbytes() < static_cast<size_t>(limit) * 16;
  }
  int64_t elements = 0;
  for (size_t i = 0; i < step.inputs.size(); ++i)
    if (const Tensor* t = input(i)) elements += t->numel();
  return elements < limit;
}

int ExecutionPlan::slot_of(const std::string& value) const {
  auto it = slots_.find(value);
  return it == slots_.end() ? -1 : it->second;
}

std::vector<Tensor> ExecutionPlan::run(const std::vector<Tensor>& inputs, const OuterLookup& outer,
                                       const TapCallback* tap, const std::vector<bool>* tapped) const {
  const ir::Graph& g = *graph_;
  if (inputs.size() != input_slots_.size())
    QUAC_THROW(kInvalidArgument, "graph '", g.name, "' takes ", input_slots_.size(), " inputs, got ", inputs.size());
  std::vector<Tensor> slots(slot_names_.size());
  for (const auto& [s, t] : constants_) slots[static_cast<size_t>(s)] = *t;
  for (size_t i = 0; i < inputs.size(); ++i) slots[static_cast<size_t>(input_slots_[i])] = inputs[i];
  for (const auto& [s, name] : outer_slots_) {
    const Tensor* t = outer ? outer(name) : nullptr;
    if (!t) QUAC_THROW(kInvalidModel, "graph '", g.name, "' reads '", name, "', which no enclosing graph defines");
    slots[static_cast<size_t>(s)] = *t;
  }
  auto emit_tap = [&](int s) {
    if (tap && tapped && static_cast<size_t>(s) < tapped->size() && (*tapped)[static_cast<size_t>(s)] &&
        slots[static_cast<size_t>(s)].defined())
      (*tap)(slot_names_[static_cast<size_t>(s)], slots[static_cast<size_t>(s)]);
  };
  if (tap && tapped) {
    for (int s : input_slots_) emit_tap(s);
    for (const auto& [s, t] : constants_) emit_tap(s);
  }
  for (const Step& step : steps_) {
    StepContext ctx(*this, step, slots, outer);
    // A node whose inputs (weights included) hold few elements runs on one thread: its work is a few microseconds,
    // which a fork/join costs as much as it saves on an idle machine, and many times more when the other cores are
    // busy and a worker has to be woken or scheduled at every barrier. The choice depends only on shapes, so results
    // stay deterministic; oneDNN primitives created under it keep one thread.
    const int threads = omp_get_max_threads();  // the session's count, or 1 inside a small step's subgraph
    bool single = threads > 1 && is_small_step(step, slots);
    if (single) omp_set_num_threads(1);
    const bool timed = !step_ns_.empty();
    const auto start = timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    try {
      step.kernel->run(ctx);
    } catch (const Error&) {
      if (single) omp_set_num_threads(threads);
      throw;
    } catch (const std::exception& e) {
      if (single) omp_set_num_threads(threads);
      QUAC_THROW(kInternal, "node ", g.nodes[step.node_index].describe(), ": ", e.what());
    }
    if (single) omp_set_num_threads(threads);
    if (timed) {
      size_t k = static_cast<size_t>(&step - steps_.data());
      step_ns_[k] +=
          std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count();
      ++step_runs_[k];
    }
    for (size_t o = 0; o < step.outputs.size(); ++o) {
      int s = step.outputs[o];
      if (s < 0) continue;
      if (!slots[static_cast<size_t>(s)].defined())
        QUAC_THROW(kInternal, "node ", g.nodes[step.node_index].describe(), " did not produce output '",
                   slot_names_[static_cast<size_t>(s)], "'");
      emit_tap(s);
    }
    for (int s : step.release) slots[static_cast<size_t>(s)] = Tensor();
  }
  std::vector<Tensor> outputs;
  outputs.reserve(output_slots_.size());
  for (int s : output_slots_) {
    if (!slots[static_cast<size_t>(s)].defined())
      QUAC_THROW(kInvalidModel, "graph output '", slot_names_[static_cast<size_t>(s)], "' was not produced");
    outputs.push_back(slots[static_cast<size_t>(s)]);
  }
  return outputs;
}

std::vector<NodeProfile> ExecutionPlan::profile() const {
  std::vector<NodeProfile> out;
  for (size_t k = 0; k < step_ns_.size(); ++k) {
    const ir::Node& n = graph_->nodes[steps_[k].node_index];
    const char* variant = steps_[k].kernel->last_variant();
    out.push_back({n.name, n.domain.empty() ? n.op_type : n.domain + "." + n.op_type, variant ? variant : impls_[k],
                   static_cast<double>(step_ns_[k]) * 1e-6, step_runs_[k]});
  }
  return out;
}

}  // namespace quac
