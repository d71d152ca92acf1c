#include "ops/kernel.h"

#include <algorithm>
#include <set>

namespace quac {

const Tensor& KernelContext::in(size_t index) const {
  const Tensor* t = input(index);
  if (!t) fail("required input " + std::to_string(index) + " is missing");
  return *t;
}

void KernelContext::fail(const std::string& message) const {
  QUAC_THROW(kInvalidModel, "node ", node().describe(), ": ", message);
}

KernelRegistry& KernelRegistry::instance() {
  static KernelRegistry registry;
  return registry;
}

void KernelRegistry::add(KernelDef def) { defs_.push_back(std::move(def)); }

std::vector<const KernelDef*> KernelRegistry::find(const std::string& domain, const std::string& op_type,
                                                   int64_t opset) const {
  std::vector<const KernelDef*> out;
  for (const auto& d : defs_)
    if (d.domain == domain && d.op_type == op_type && opset >= d.min_opset && opset <= d.max_opset) out.push_back(&d);
  std::stable_sort(out.begin(), out.end(),
                   [](const KernelDef* a, const KernelDef* b) { return a->priority > b->priority; });
  return out;
}

bool KernelRegistry::has_op(const std::string& domain, const std::string& op_type) const {
  return std::any_of(defs_.begin(), defs_.end(),
                     [&](const KernelDef& d) { return d.domain == domain && d.op_type == op_type; });
}

std::vector<std::pair<std::string, std::string>> KernelRegistry::ops() const {
  std::set<std::pair<std::string, std::string>> s;
  for (const auto& d : defs_) s.insert({d.domain, d.op_type});
  return {s.begin(), s.end()};
}

}  // namespace quac
