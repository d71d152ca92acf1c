// oneDNN plumbing shared by quac's fast kernels: the CPU engine and stream, descriptor helpers, post-op mapping.
#pragma once

#include <algorithm>
#include <dnnl.hpp>
#include <string>
#include <vector>

#include "ops/kernel.h"
#include "quac/tensor.h"

namespace quac::kernels {

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

dnnl::engine& cpu_engine();
// One stream per thread: oneDNN streams are not meant to be shared between concurrently running threads.
dnnl::stream& cpu_stream();

inline dnnl::memory::dims to_dims(const Shape& s) { return dnnl::memory::dims(s.begin(), s.end()); }
// Plain row-major tag for a rank (1..6).
tag plain_tag(size_t rank);
inline dnnl::memory::desc plain_desc(const Shape& s) { return {to_dims(s), dt::f32, plain_tag(s.size())}; }

// Appends the oneDNN eltwise post-op(s) for a quac post-op name; false if unsupported.
bool append_eltwise(dnnl::post_ops& ops, const std::string& op, float alpha, float beta);
bool known_post_op(const std::string& op);

// One post-op of a fused node, as the fusion passes write them (attributes post_ops, post_alpha, post_beta).
struct PostOp {
  std::string op;
  float alpha = 0, beta = 0;
};
// Reads a fused node's post-ops; false (with `why`) when the three lists differ in length or hold more than one Sum.
// Each kernel then checks which ops it supports.
bool read_post_ops(const ir::Node& node, std::vector<PostOp>* out, std::string* why);

// Runs a reorder between two memories (cached by descriptors inside oneDNN's primitive cache).
void reorder(const dnnl::memory& from, const dnnl::memory& to);

// True when the input is known (declared or constant) to be float32, or unknown; false if known to be another type.
bool maybe_float(const KernelInfo& info, size_t index);
// True when declared or constant type is float32.
bool known_float(const KernelInfo& info, size_t index);

// The reference (priority 0) kernel for the node, for shapes or types a fast kernel cannot take at run time; nullptr
// when none is registered.
std::unique_ptr<Kernel> make_reference_kernel(const KernelInfo& info);
// The highest-priority kernel below `priority` that accepts the node (a fast kernel's delegate for what it leaves to
// the others); nullptr when none does.
std::unique_ptr<Kernel> make_kernel_below(const KernelInfo& info, int priority);

// A growable scratch buffer (64-byte aligned through Tensor) reused across runs.
class Scratch {
 public:
  void* get(size_t bytes) {
    if (buffer_.nbytes() < bytes) buffer_ = Tensor(DataType::kUInt8, {static_cast<int64_t>(bytes)});
    return buffer_.raw_data();
  }
  // A memory over this buffer for a primitive's scratchpad (user mode) of the given description.
  dnnl::memory scratchpad(const dnnl::memory::desc& desc) {
    return dnnl::memory(desc, cpu_engine(), get(std::max<size_t>(desc.get_size(), 1)));
  }

 private:
  Tensor buffer_;
};

}  // namespace quac::kernels
