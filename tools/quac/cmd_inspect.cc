// quac inspect MODEL [--json]
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "commands.h"
#include "ir/graph.h"
#include "quac/model.h"
#include "quant/scope.h"

namespace quac::cli {
namespace {

std::string dims_str(const ValueDesc& v) {
  if (!v.has_shape) return "?";
  std::string s = "[";
  for (size_t i = 0; i < v.shape.size(); ++i)
    s += (i ? "," : "") +
         (v.shape[i] >= 0 ? std::to_string(v.shape[i]) : (v.dim_names[i].empty() ? "?" : v.dim_names[i]));
  return s + "]";
}

int inspect(const std::string& path, bool json) {
  Model model = load_model(path);
  auto file = model.executable();  // what the file holds (a QDQ file's nodes, not its recovered FP32 graph)
  const ir::Model& m = *file;
  // A QDQ file's quantization scope, recovered at load (quant/recover.h).
  size_t quantizers = 0, weights = 0, groups = 0;
  std::set<int> bits;
  if (const auto* scope = model.scope()) {
    quantizers = scope->quantizers.size();
    groups = scope->active_groups();
    for (const auto& q : scope->quantizers) {
      weights += q.is_weight;
      bits.insert(q.spec.bits);
    }
  }
  if (json) {
    nlohmann::json j;
    j["path"] = path;
    j["ir_version"] = m.ir_version;
    j["producer"] = m.producer_name + (m.producer_version.empty() ? "" : " " + m.producer_version);
    for (const auto& [d, v] : m.opset_imports) j["opset_imports"][d.empty() ? "ai.onnx" : d] = v;
    for (const auto* list : {&m.graph.inputs, &m.graph.outputs}) {
      auto& arr = j[list == &m.graph.inputs ? "inputs" : "outputs"];
      arr = nlohmann::json::array();
      for (const auto& v : (list == &m.graph.inputs ? model.inputs() : model.outputs()))
        arr.push_back({{"name", v.name}, {"dtype", dtype_name(v.dtype)}, {"shape", dims_str(v)}});
    }
    j["op_counts"] = model.op_counts();
    j["nodes"] = m.graph.nodes.size();
    j["initializers"] = m.graph.initializers.size();
    if (model.quantized())
      j["quantization"] = {{"quantizers", quantizers}, {"weights", weights}, {"groups", groups}, {"bits", bits}};
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("model      %s\n", path.c_str());
  std::printf("ir         %lld   producer %s %s\n", static_cast<long long>(m.ir_version), m.producer_name.c_str(),
              m.producer_version.c_str());
  std::printf("opsets    ");
  for (const auto& [d, v] : m.opset_imports)
    std::printf(" %s:%lld", d.empty() ? "ai.onnx" : d.c_str(), static_cast<long long>(v));
  std::printf("\ninputs\n");
  for (const auto& v : model.inputs())
    std::printf("  %-24s %-8s %s\n", v.name.c_str(), dtype_name(v.dtype), dims_str(v).c_str());
  std::printf("outputs\n");
  for (const auto& v : model.outputs())
    std::printf("  %-24s %-8s %s\n", v.name.c_str(), dtype_name(v.dtype), dims_str(v).c_str());
  size_t params = 0;
  for (const auto& [n, t] : m.graph.initializers) params += static_cast<size_t>(t.numel());
  std::printf("nodes      %zu   initializers %zu (%zu values)\nops\n", m.graph.nodes.size(),
              m.graph.initializers.size(), params);
  for (const auto& [op, count] : model.op_counts())
    std::printf("  %-24s %lld\n", op.c_str(), static_cast<long long>(count));
  if (model.quantized()) {
    std::string b;
    for (int v : bits) b += (b.empty() ? "" : "/") + std::to_string(v);
    std::printf("quantized  %zu quantizers (%zu on weights, %s-bit) in %zu groups\n", quantizers, weights, b.c_str(),
                groups);
  }
  return 0;
}

}  // namespace

void add_inspect_command(CLI::App& app, CommandFn& fn) {
  auto path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("inspect", "Print a model's inputs, outputs, opsets and op counts");
  cmd->add_option("model", *path, "ONNX model file")->required();
  cmd->add_flag("--json", *json, "Print one JSON object");
  cmd->callback([&fn, path, json] { fn = [path, json] { return inspect(*path, *json); }; });
}

}  // namespace quac::cli
