// Shared by quac's fused reference kernels and the fast kernels that read the blocked layout.
#pragma once

#include <string>

#include "ops/kernel.h"

namespace quac::ops {

// One fused activation (names as in quac.FusedConv's post_ops attribute, "Sum" excluded).
float apply_post_op(const std::string& op, float alpha, float beta, float x);
// True when input `index` of the node is stored in the blocked layout (attribute blocked_inputs).
bool is_blocked_input(const ir::Node& node, size_t index);
// Input `index` as a plain tensor (converted from the blocked layout when needed, with `channels` channels).
Tensor plain_input(const KernelContext& ctx, size_t index, int64_t channels);
// Sets output 0 from a plain tensor, converting to the blocked layout when the node's blocked_output says so.
void write_output(KernelContext& ctx, const Tensor& plain);
// Plain float convolution of x (NC...) with w (M, C/group, k...) plus bias, reading the window attributes of the
// context's node (the part of quac.FusedConv before post-ops; also the core of quac.QConv's reference).
Tensor conv_forward_ref(const KernelContext& ctx, const Tensor& x, const Tensor& w, const Tensor* bias);
// Plain float pool of x (NC...) by mode MaxPool / AveragePool / GlobalAveragePool / GlobalMaxPool, reading the
// window attributes of the context's node.
Tensor pool_forward_ref(const KernelContext& ctx, const Tensor& x, const std::string& mode);

}  // namespace quac::ops

// Registers the plain C++ reference kernel of a quac-domain op. quac ops exist at every opset (a model usually does
// not import the "quac" domain: opset 0).
#define QUAC_REGISTER_QUAC_REFERENCE(op, fn)                                                        \
  QUAC_REGISTER_KERNEL({.domain = "quac",                                                           \
                        .op_type = op,                                                              \
                        .impl = "reference",                                                        \
                        .priority = 0,                                                              \
                        .min_opset = 0,                                                             \
                        .factory = [](const KernelInfo&, std::string*) -> std::unique_ptr<Kernel> { \
                          return std::make_unique<FunctionKernel>(fn);                              \
                        }})
