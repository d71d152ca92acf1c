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

}  // namespace quac::ops
