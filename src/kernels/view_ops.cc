// Flatten as a zero-copy view (shape arithmetic only), so CNN heads never copy the pooled features.
#include "ops/kernel.h"

namespace quac::kernels {
namespace {

void flatten_view(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  int64_t axis = ctx.node().attr_int("axis", 1), r = x.rank();
  if (axis < 0) axis += r;
  if (axis < 0 || axis > r) ctx.fail("axis out of range");
  if (ctx.opset() < 11 && ctx.node().attr_int("axis", 1) < 0) ctx.fail("negative axis needs opset 11");
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < r; ++i) (i < axis ? outer : inner) *= x.dim(i);
  ctx.set_output(0, x.reshaped({outer, inner}));
}

QUAC_REGISTER_KERNEL({.domain = "",
                      .op_type = "Flatten",
                      .impl = "view",
                      .priority = 10,
                      .factory = [](const KernelInfo&, std::string*) -> std::unique_ptr<Kernel> {
                        return std::make_unique<FunctionKernel>(flatten_view);
                      }});

}  // namespace
}  // namespace quac::kernels
