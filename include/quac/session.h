// Session: a model compiled for execution. Compile once, run many times.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "quac/model.h"
#include "quac/tensor.h"

namespace quac {

struct SessionOptions {
  int num_threads = 0;                  // intra-op threads; 0 = all cores
  bool reference_kernels_only = false;  // use only the plain C++ reference kernels (the oracle)
  int optimization_level = 2;           // 0: none, 1: clean-ups (folding, identity removal), 2: + fusions and layouts
  std::vector<std::string> taps;        // intermediate values handed to the tap callback during run()
  bool verbose = false;                 // report passes and kernel choices (and why fast kernels declined) on stderr
  bool profile = false;                 // time every node of every run (see Session::profile)
};

// Where a session's time went, node by node (SessionOptions::profile): every run since the session was made.
struct NodeProfile {
  std::string node, op_type, impl;  // impl: the kernel that ran it ("onednn", "reference", ...)
  double total_ms = 0;
  int64_t runs = 0;
};

// Receives tapped values during run(). The tensor is only valid during the call: copy (clone) what you keep.
using TapCallback = std::function<void(const std::string& value, const Tensor& tensor)>;

class Session {
 public:
  explicit Session(const Model& model, SessionOptions options = {});
  ~Session();
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;

  // Runs with named inputs; returns every graph output by name. Inputs are checked against the declared types and
  // shapes (kInvalidArgument naming the input on mismatch).
  std::map<std::string, Tensor> run(const std::map<std::string, Tensor>& feeds, const TapCallback& tap = nullptr);
  // Runs with inputs in declaration order; returns outputs in declaration order.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs, const TapCallback& tap = nullptr);

  const std::vector<ValueDesc>& inputs() const;
  const std::vector<ValueDesc>& outputs() const;
  // For each node, the kernel implementation chosen ("reference", "onednn", ...), for tests and --verbose.
  std::map<std::string, int> kernel_counts() const;
  int num_threads() const;
  // The top-level graph's nodes in execution order with their accumulated time (empty unless profiling).
  std::vector<NodeProfile> profile() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace quac
