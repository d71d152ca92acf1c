// Kernel interface and registry. A kernel registers itself in its own file (op type, domain, opset range, priority);
// the Session picks, for each node, the highest-priority implementation that accepts it. Reference kernels have
// priority 0 and accept everything they implement: they are the oracle every fast kernel is tested against.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "quac/tensor.h"

namespace quac {

class KernelContext;

// Runs a compiled subgraph (If/Loop/Scan bodies). Values the body reads from enclosing graphs are looked up in the
// context of the node that runs it.
class SubgraphRunner {
 public:
  virtual ~SubgraphRunner() = default;
  virtual std::vector<Tensor> run(const std::vector<Tensor>& inputs, KernelContext& outer) = 0;
  virtual size_t num_inputs() const = 0;
  virtual size_t num_outputs() const = 0;
};

// What a kernel factory knows at compile time.
struct KernelInfo {
  const ir::Node& node;
  int64_t opset = 0;  // the model's version of the node's domain
  // constant_inputs[i] is the value of input i when it is an initializer (or folded constant), else nullptr.
  std::vector<const Tensor*> constant_inputs;
  // Declared type/shape of each input when known (from graph inputs, value_info or initializers), else nullptr.
  std::vector<const ir::ValueInfo*> input_infos;
  int num_threads = 1;
  // Compiles a subgraph attribute of this node.
  std::function<std::shared_ptr<SubgraphRunner>(const ir::Graph&)> compile_subgraph;
  std::string model_label;  // for messages
};

class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual void run(KernelContext& ctx) = 0;
  // The implementation the last run used, when a kernel chooses among several per input shape (e.g. the gemm
  // convolution handing other shapes to oneDNN's direct one); nullptr: the registered name says it.
  virtual const char* last_variant() const { return nullptr; }
};

// The view a kernel has of one node's execution.
class KernelContext {
 public:
  virtual ~KernelContext() = default;
  virtual const ir::Node& node() const = 0;
  virtual int64_t opset() const = 0;
  virtual size_t num_inputs() const = 0;
  // nullptr when the optional input is omitted (empty name or beyond the listed inputs).
  virtual const Tensor* input(size_t index) const = 0;
  virtual size_t num_outputs() const = 0;
  virtual bool output_wanted(size_t index) const = 0;
  // Allocates output `index` (uninitialised) from the session's buffer pool and returns it.
  virtual Tensor& allocate_output(size_t index, DataType type, const Shape& shape) = 0;
  // Hands over an existing tensor as output (e.g. a reshaped view of an input: kernels never write into inputs).
  virtual void set_output(size_t index, Tensor tensor) = 0;
  virtual int num_threads() const = 0;
  // True when the kernel may write into input `index` and hand it over as an output (set_output): this node is the
  // value's last reader, reads it through no other input, and no other tensor (a view, the caller's copy of a graph
  // input, an initializer) shares its storage. A residual Sum post-op then accumulates in place instead of copying.
  virtual bool input_reusable(size_t index) const {
    (void)index;
    return false;
  }
  // Value of a name visible at this node (for subgraph bodies reading outer-scope values); nullptr if unknown.
  virtual const Tensor* lookup(const std::string& value) const = 0;

  // The input, which must be present: throws kInvalidModel naming the node otherwise.
  const Tensor& in(size_t index) const;
  // Throws kInvalidModel (or kInvalidArgument for data-dependent problems) with the node named in front.
  [[noreturn]] void fail(const std::string& message) const;
};

using KernelFactory = std::function<std::unique_ptr<Kernel>(const KernelInfo& info, std::string* decline_reason)>;

struct KernelDef {
  std::string domain;  // "" for ai.onnx, "quac" for quac's fused ops
  std::string op_type;
  std::string impl;  // "reference", "onednn", ...
  int priority = 0;  // higher is tried first; reference kernels use 0
  int64_t min_opset = 1;
  int64_t max_opset = std::numeric_limits<int64_t>::max();
  KernelFactory factory;
};

class KernelRegistry {
 public:
  static KernelRegistry& instance();
  void add(KernelDef def);
  // Candidates for (domain, op_type, opset), highest priority first.
  std::vector<const KernelDef*> find(const std::string& domain, const std::string& op_type, int64_t opset) const;
  bool has_op(const std::string& domain, const std::string& op_type) const;
  std::vector<std::pair<std::string, std::string>> ops() const;  // (domain, op_type), sorted
  const std::vector<KernelDef>& defs() const { return defs_; }

 private:
  std::vector<KernelDef> defs_;
};

// A stateless kernel around a function; the function reads attributes from ctx.node().
class FunctionKernel : public Kernel {
 public:
  explicit FunctionKernel(std::function<void(KernelContext&)> fn) : fn_(std::move(fn)) {}
  void run(KernelContext& ctx) override { fn_(ctx); }

 private:
  std::function<void(KernelContext&)> fn_;
};

namespace detail {
struct KernelRegistrar {
  explicit KernelRegistrar(KernelDef def) { KernelRegistry::instance().add(std::move(def)); }
};
}  // namespace detail

}  // namespace quac

#define QUAC_CONCAT_INNER(a, b) a##b
#define QUAC_CONCAT(a, b) QUAC_CONCAT_INNER(a, b)

// Registers a full KernelDef: QUAC_REGISTER_KERNEL({.domain = "", .op_type = "Conv", ...});
#define QUAC_REGISTER_KERNEL(...)                                                  \
  static const ::quac::detail::KernelRegistrar QUAC_CONCAT(quac_kernel_registrar_, \
                                                           __COUNTER__)(::quac::KernelDef __VA_ARGS__)

// Registers a reference kernel for an ai.onnx op (all opsets) from a function void(KernelContext&).
#define QUAC_REGISTER_REFERENCE_OP(op, fn)                                                                          \
  QUAC_REGISTER_KERNEL({.domain = "",                                                                               \
                        .op_type = op,                                                                              \
                        .impl = "reference",                                                                        \
                        .priority = 0,                                                                              \
                        .factory = [](const ::quac::KernelInfo&, std::string*) -> std::unique_ptr<::quac::Kernel> { \
                          return std::make_unique<::quac::FunctionKernel>(fn);                                      \
                        }})
