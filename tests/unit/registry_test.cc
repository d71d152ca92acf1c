// The kernel registry as a whole: no op is registered twice by the same implementation for overlapping opsets
// (which one ran would depend on link order), and every fast kernel has a reference kernel to be checked against.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "ops/kernel.h"

namespace quac {
namespace {

TEST(Registry, NoDuplicateImplementations) {
  const auto& defs = KernelRegistry::instance().defs();
  for (size_t i = 0; i < defs.size(); ++i)
    for (size_t j = i + 1; j < defs.size(); ++j) {
      const auto &a = defs[i], &b = defs[j];
      if (a.domain != b.domain || a.op_type != b.op_type || a.impl != b.impl) continue;
      bool overlap = a.min_opset <= b.max_opset && b.min_opset <= a.max_opset;
      EXPECT_FALSE(overlap) << a.domain << "." << a.op_type << " (" << a.impl << ") is registered twice";
    }
}

TEST(Registry, EveryFastKernelHasAReference) {
  std::set<std::pair<std::string, std::string>> reference;
  for (const auto& d : KernelRegistry::instance().defs())
    if (d.priority == 0) reference.insert({d.domain, d.op_type});
  for (const auto& d : KernelRegistry::instance().defs())
    if (d.priority > 0 && d.domain != "test")
      EXPECT_TRUE(reference.count({d.domain, d.op_type}))
          << d.domain << "." << d.op_type << " (" << d.impl << ") has no reference kernel";
}

TEST(Registry, CoversTheCoreOps) {
  for (const char* op : {"Conv", "MatMul", "Gemm", "Relu", "Add", "Reshape", "Softmax", "QuantizeLinear",
                         "DequantizeLinear", "If", "Loop", "LSTM", "Resize", "BatchNormalization"})
    EXPECT_TRUE(KernelRegistry::instance().has_op("", op)) << op;
}

}  // namespace
}  // namespace quac
