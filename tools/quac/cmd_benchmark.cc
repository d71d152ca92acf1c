// quac benchmark MODEL [--shape NAME=1x3x224x224] [--batch N] [--threads T] [--iterations K] [--json] [--profile]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "commands.h"
#include "core/random.h"
#include "quac/session.h"

namespace quac::cli {
namespace {

struct BenchArgs {
  std::string model;
  std::vector<std::string> shapes;
  int64_t batch = 0;
  int threads = 0;
  int iterations = 100;
  int warmup = 10;
  bool json = false;
  bool reference = false;
  bool verbose = false;
  bool profile = false;
};

// Time per run of each node over the timed runs (the profile after them minus the one after warm-up), by op type
// (with the kernels that ran it), the slowest nodes, and every node in the order they ran.
nlohmann::json profile_of(const std::vector<NodeProfile>& before, const std::vector<NodeProfile>& after, int runs) {
  struct Op {
    double ms = 0;
    int64_t nodes = 0;
    std::set<std::string> impls;
  };
  std::map<std::string, Op> by_op;
  std::vector<std::pair<double, size_t>> slowest;
  nlohmann::json ops = nlohmann::json::array(), nodes = nlohmann::json::array(), all = nlohmann::json::array();
  double total = 0;
  for (size_t i = 0; i < after.size(); ++i) {
    double ms = (after[i].total_ms - (i < before.size() ? before[i].total_ms : 0)) / runs;
    Op& op = by_op[after[i].op_type];
    op.ms += ms;
    op.nodes += 1;
    op.impls.insert(after[i].impl);
    slowest.push_back({ms, i});
    all.push_back({{"node", after[i].node}, {"op", after[i].op_type}, {"kernel", after[i].impl}, {"ms_per_run", ms}});
    total += ms;
  }
  std::vector<std::pair<double, std::string>> order;
  for (const auto& [name, op] : by_op) order.push_back({op.ms, name});
  std::sort(order.rbegin(), order.rend());
  for (const auto& [ms, name] : order) {
    const Op& op = by_op[name];
    ops.push_back({{"op", name},
                   {"ms_per_run", ms},
                   {"share", total > 0 ? ms / total : 0},
                   {"nodes", op.nodes},
                   {"kernels", op.impls}});
  }
  std::sort(slowest.rbegin(), slowest.rend());
  for (size_t k = 0; k < std::min<size_t>(slowest.size(), 15); ++k) nodes.push_back(all[slowest[k].second]);
  return {{"total_ms_per_run", total}, {"by_op", ops}, {"slowest_nodes", nodes}, {"nodes", all}};
}

void print_profile(const nlohmann::json& p) {
  std::printf("\nprofile: %.3f ms a run inside the nodes\n%-28s %10s %7s %6s  %s\n",
              p["total_ms_per_run"].get<double>(), "op", "ms/run", "share", "nodes", "kernels");
  for (const auto& op : p["by_op"]) {
    std::string kernels;
    for (const auto& k : op["kernels"]) kernels += (kernels.empty() ? "" : ", ") + k.get<std::string>();
    std::printf("%-28s %10.3f %6.1f%% %6lld  %s\n", op["op"].get<std::string>().c_str(), op["ms_per_run"].get<double>(),
                100 * op["share"].get<double>(), static_cast<long long>(op["nodes"].get<int64_t>()), kernels.c_str());
  }
  std::printf("\nslowest nodes\n");
  for (const auto& n : p["slowest_nodes"])
    std::printf("  %10.3f ms  %-20s %-10s %s\n", n["ms_per_run"].get<double>(), n["op"].get<std::string>().c_str(),
                n["kernel"].get<std::string>().c_str(), n["node"].get<std::string>().c_str());
}

int benchmark(const BenchArgs& args) {
  QUAC_CHECK(args.iterations > 0, kInvalidArgument, "--iterations must be positive");
  QUAC_CHECK(args.warmup >= 0, kInvalidArgument, "--warmup must not be negative");
  QUAC_CHECK(args.batch >= 0, kInvalidArgument, "--batch must not be negative");
  Model model = load_model(args.model);
  std::map<std::string, Shape> overrides;
  for (const auto& s : args.shapes) {
    auto [name, shape] = parse_shape_flag(s, "--shape");
    overrides[name] = shape;
  }
  std::vector<Tensor> inputs;
  int64_t batch = 1;
  uint64_t seed = 1;
  for (const auto& in : model.inputs()) {
    Shape shape;
    if (auto it = overrides.find(in.name); it != overrides.end()) {
      shape = it->second;
      overrides.erase(it);
    } else {
      QUAC_CHECK(in.has_shape, kInvalidArgument, "input '", in.name, "' has no declared shape; give --shape ", in.name,
                 "=...");
      shape = in.shape;
      for (size_t i = 0; i < shape.size(); ++i) {
        if (shape[i] < 0)
          shape[i] = (i == 0 && args.batch > 0) ? args.batch : 1;
        else if (i == 0 && args.batch > 0)
          shape[i] = args.batch;
      }
    }
    if (!shape.empty()) batch = shape[0];
    inputs.push_back(random_tensor(in.dtype == DataType::kUndefined ? DataType::kFloat : in.dtype, shape, seed++));
  }
  if (!overrides.empty())
    QUAC_THROW(kInvalidArgument, "--shape: the model has no input named '", overrides.begin()->first, "'");
  SessionOptions options;
  options.num_threads = args.threads;
  options.reference_kernels_only = args.reference;
  options.verbose = args.verbose;
  options.profile = args.profile;
  Session session(model, options);
  for (int i = 0; i < args.warmup; ++i) session.run(inputs);
  const std::vector<NodeProfile> warm = session.profile();
  std::vector<double> ms;
  ms.reserve(static_cast<size_t>(args.iterations));
  for (int i = 0; i < args.iterations; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    session.run(inputs);
    auto t1 = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double p) {
    double pos = p * static_cast<double>(ms.size() - 1);
    size_t lo = static_cast<size_t>(std::floor(pos)), hi = std::min(lo + 1, ms.size() - 1);
    return ms[lo] + (ms[hi] - ms[lo]) * (pos - static_cast<double>(lo));
  };
  double median = pct(0.5), p90 = pct(0.9);
  double throughput = static_cast<double>(batch) * 1000.0 / median;
  if (args.json) {
    nlohmann::json j = {{"median_ms", median},
                        {"p90_ms", p90},
                        {"min_ms", ms.front()},
                        {"throughput", throughput},
                        {"iterations", args.iterations},
                        {"threads", session.num_threads()},
                        {"batch", batch}};
    if (args.profile) j["profile"] = profile_of(warm, session.profile(), args.iterations);
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s: %d threads, batch %lld, %d iterations\n", args.model.c_str(), session.num_threads(),
                static_cast<long long>(batch), args.iterations);
    std::printf("median %.3f ms   p90 %.3f ms   min %.3f ms   throughput %.1f items/s\n", median, p90, ms.front(),
                throughput);
    if (args.profile) print_profile(profile_of(warm, session.profile(), args.iterations));
  }
  return 0;
}

}  // namespace

void add_benchmark_command(CLI::App& app, CommandFn& fn) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand("benchmark", "Measure a model's latency on random inputs");
  cmd->add_option("model", args->model, "ONNX model file")->required();
  cmd->add_option("-s,--shape", args->shapes, "NAME=D1xD2x... for inputs (dynamic dimensions default to 1)")
      ->take_all();
  cmd->add_option("-b,--batch", args->batch, "Batch size: sets the first dimension of every input (0 = as declared)");
  cmd->add_option("-t,--threads", args->threads, "Intra-op threads (0 = all cores)")->capture_default_str();
  cmd->add_option("-n,--iterations", args->iterations, "Timed runs")->capture_default_str();
  cmd->add_option("-w,--warmup", args->warmup, "Untimed runs first")->capture_default_str();
  cmd->add_flag("--json", args->json,
                "Print one JSON object: median_ms, p90_ms, min_ms, throughput, iterations, threads, batch");
  cmd->add_flag("--reference", args->reference, "Use only the reference kernels");
  cmd->add_flag("-v,--verbose", args->verbose, "Report graph passes and kernel choices on stderr");
  cmd->add_flag("--profile", args->profile,
                "Time every node over the timed runs: milliseconds a run by op type (with the kernels that ran it) "
                "and the slowest nodes (with --json: a \"profile\" object that also lists every node in the order they "
                "ran); the timed runs pay two clock reads a node");
  cmd->callback([&fn, args] { fn = [args] { return benchmark(*args); }; });
}

}  // namespace quac::cli
