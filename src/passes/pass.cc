#include "passes/pass.h"

#include <algorithm>
#include <cstdio>

namespace quac {

PassRegistry& PassRegistry::instance() {
  static PassRegistry registry;
  return registry;
}

void PassRegistry::add(PassDef def) {
  defs_.push_back(std::move(def));
  std::stable_sort(defs_.begin(), defs_.end(), [](const PassDef& a, const PassDef& b) { return a.order < b.order; });
}

void run_passes(ir::Graph& graph, PassContext& ctx) {
  for (const auto& def : PassRegistry::instance().passes()) {
    if (def.level > ctx.optimization_level) continue;
    auto pass = def.create();
    bool changed = pass->apply(graph, ctx);
    if (ctx.verbose && changed) std::fprintf(stderr, "[quac] pass %s changed the graph\n", def.name.c_str());
  }
}

}  // namespace quac
