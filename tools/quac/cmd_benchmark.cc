// quac benchmark MODEL [--shape NAME=1x3x224x224] [--batch N] [--threads T] [--iterations K] [--json]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>

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
};

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
  Session session(model, options);
  for (int i = 0; i < args.warmup; ++i) session.run(inputs);
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
                        {"throughput", throughput},
                        {"iterations", args.iterations},
                        {"threads", session.num_threads()},
                        {"batch", batch}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s: %d threads, batch %lld, %d iterations\n", args.model.c_str(), session.num_threads(),
                static_cast<long long>(batch), args.iterations);
    std::printf("median %.3f ms   p90 %.3f ms   throughput %.1f items/s\n", median, p90, throughput);
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
                "Print one JSON object: median_ms, p90_ms, throughput, iterations, threads, batch");
  cmd->add_flag("--reference", args->reference, "Use only the reference kernels");
  cmd->add_flag("-v,--verbose", args->verbose, "Report graph passes and kernel choices on stderr");
  cmd->callback([&fn, args] { fn = [args] { return benchmark(*args); }; });
}

}  // namespace quac::cli
