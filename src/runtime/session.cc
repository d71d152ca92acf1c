#include "quac/session.h"

#include <omp.h>

#include <set>

#include "ir/graph.h"
#include "passes/pass.h"
#include "runtime/plan.h"

namespace quac {

struct Session::Impl {
  std::shared_ptr<const ir::Model> model;
  SessionOptions options;
  std::shared_ptr<ir::Graph> graph;
  std::unique_ptr<ExecutionPlan> plan;
  std::vector<bool> tapped;
  std::vector<ValueDesc> inputs, outputs;
  int threads = 1;

  void check_input(const ValueDesc& desc, const Tensor& t) const {
    const std::string& label = model->model_path.empty() ? std::string("model") : model->model_path;
    if (!t.defined()) QUAC_THROW(kInvalidArgument, label, ": input '", desc.name, "' is empty");
    if (desc.dtype != DataType::kUndefined && t.dtype() != desc.dtype)
      QUAC_THROW(kInvalidArgument, label, ": input '", desc.name, "' must be ", dtype_name(desc.dtype), ", got ",
                 dtype_name(t.dtype()));
    if (!desc.has_shape) return;
    bool ok = t.rank() == static_cast<int64_t>(desc.shape.size());
    for (size_t i = 0; ok && i < desc.shape.size(); ++i)
      if (desc.shape[i] >= 0 && desc.shape[i] != t.shape()[i]) ok = false;
    if (!ok) {
      std::string want = "[";
      for (size_t i = 0; i < desc.shape.size(); ++i)
        want += (i ? "," : "") + (desc.shape[i] >= 0 ? std::to_string(desc.shape[i])
                                                     : (desc.dim_names[i].empty() ? "?" : desc.dim_names[i]));
      want += "]";
      QUAC_THROW(kInvalidArgument, label, ": input '", desc.name, "' must have shape ", want, ", got ",
                 shape_str(t.shape()));
    }
  }
};

Session::Session(const Model& model, SessionOptions options) : impl_(std::make_unique<Impl>()) {
  QUAC_CHECK(model.loaded(), kInvalidArgument, "Session: the model is empty (not loaded)");
  // A quantized model runs as its materialised QDQ graph, which the passes lower to INT8 kernels.
  impl_->model = model.executable();
  impl_->options = options;
  impl_->threads = options.num_threads > 0 ? options.num_threads : omp_get_num_procs();
  impl_->graph = std::make_shared<ir::Graph>(impl_->model->graph);
  impl_->inputs = model.inputs();
  impl_->outputs = model.outputs();

  PassContext pctx{*impl_->model, {}, options.optimization_level, options.verbose};
  for (const auto& v : impl_->graph->outputs) pctx.protected_values.insert(v.name);
  for (const auto& t : options.taps) pctx.protected_values.insert(t);
  if (options.optimization_level > 0) run_passes(*impl_->graph, pctx);

  PlanOptions popts;
  popts.model = impl_->model.get();
  popts.reference_kernels_only = options.reference_kernels_only;
  popts.num_threads = impl_->threads;
  popts.verbose = options.verbose;
  popts.pool = std::make_shared<BufferPool>();
  omp_set_num_threads(impl_->threads);
  impl_->plan = std::make_unique<ExecutionPlan>(impl_->graph, popts);
  if (options.profile) impl_->plan->enable_profile();
  for (const auto& name : options.taps) {
    int s = impl_->plan->slot_of(name);
    if (s < 0) QUAC_THROW(kInvalidArgument, impl_->model->model_path, ": tap '", name, "' is not a value of the model");
    if (impl_->tapped.size() <= static_cast<size_t>(s)) impl_->tapped.resize(static_cast<size_t>(s) + 1, false);
    impl_->tapped[static_cast<size_t>(s)] = true;
  }
}

Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

std::vector<Tensor> Session::run(const std::vector<Tensor>& inputs, const TapCallback& tap) {
  const auto& descs = impl_->inputs;
  if (inputs.size() != descs.size())
    QUAC_THROW(kInvalidArgument, impl_->model->model_path, ": model takes ", descs.size(), " inputs, got ",
               inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) impl_->check_input(descs[i], inputs[i]);
  omp_set_num_threads(impl_->threads);
  return impl_->plan->run(inputs, nullptr, tap ? &tap : nullptr, tap ? &impl_->tapped : nullptr);
}

std::map<std::string, Tensor> Session::run(const std::map<std::string, Tensor>& feeds, const TapCallback& tap) {
  std::vector<Tensor> ordered;
  for (const auto& d : impl_->inputs) {
    auto it = feeds.find(d.name);
    if (it == feeds.end()) QUAC_THROW(kInvalidArgument, impl_->model->model_path, ": input '", d.name, "' is missing");
    ordered.push_back(it->second);
  }
  for (const auto& feed : feeds) {
    const std::string& name = feed.first;  // not a structured binding: clang 14 cannot capture those in lambdas
    bool known =
        std::any_of(impl_->inputs.begin(), impl_->inputs.end(), [&](const ValueDesc& d) { return d.name == name; });
    if (!known) QUAC_THROW(kInvalidArgument, impl_->model->model_path, ": the model has no input named '", name, "'");
  }
  auto outs = run(ordered, tap);
  std::map<std::string, Tensor> result;
  for (size_t i = 0; i < outs.size(); ++i) result[impl_->outputs[i].name] = outs[i];
  return result;
}

const std::vector<ValueDesc>& Session::inputs() const { return impl_->inputs; }
const std::vector<ValueDesc>& Session::outputs() const { return impl_->outputs; }
int Session::num_threads() const { return impl_->threads; }

std::vector<NodeProfile> Session::profile() const { return impl_->plan->profile(); }

std::map<std::string, int> Session::kernel_counts() const {
  std::map<std::string, int> counts;
  for (const auto& impl : impl_->plan->kernel_impls()) counts[impl]++;
  return counts;
}

}  // namespace quac
