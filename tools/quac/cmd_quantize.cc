// quac quantize MODEL --data SPEC -o OUT.onnx [--preset performance|mixed] [--stat-subset-size N] [--ignore NAME|TYPE]
//                [--target-device D] [--config FILE.json]
// Runs DefaultQuantization (or the algorithms of a POT-style config) and writes a standard QDQ ONNX model.
#include <filesystem>
#include <fstream>
#include <memory>

#include "commands.h"
#include "config/params.h"
#include "core/progress.h"
#include "ir/graph.h"
#include "quac/pipeline.h"

namespace quac::cli {
namespace {

struct QuantizeArgs {
  std::string model, data, output, config, preset = "performance", target_device = "ANY", range_estimator = "default",
                                           bias_correction = "fast", saturation_fix = "first_layer", model_type;
  std::vector<std::string> ignore;
  size_t stat_subset_size = 300, stat_batch_size = 32;
  bool shuffle = false, no_compress = false, quiet = false;
  uint64_t seed = 0;
  int threads = 0;
};

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) QUAC_THROW(kIoError, path, ": cannot open");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    QUAC_THROW(kInvalidArgument, path, ": not valid JSON (", e.what(), ")");
  }
}

// Reads a POT-style config: model {model_name, model, weights}, engine {data, metric, batch_size},
// compression {target_device, algorithms: [{name, params}]}. Flags given on the command line win.
std::vector<AlgorithmSpec> read_config(QuantizeArgs& args) {
  nlohmann::json j = read_json(args.config);
  config::ParamReader root(j, args.config);
  auto dir = std::filesystem::path(args.config).parent_path();
  auto resolve = [&](const std::string& p) {
    return std::filesystem::path(p).is_absolute() || dir.empty() ? p : (dir / p).string();
  };
  auto model = root.object("model");
  model.accept("model_name");
  model.accept("weights");  // OpenVINO IR weights; an ONNX model carries its own
  if (auto m = model.optional<std::string>("model"); m && args.model.empty()) args.model = resolve(*m);
  model.finish();
  auto engine = root.object("engine");
  engine.accept("type");
  engine.accept("device");
  if (auto d = engine.optional<std::string>("data"); d && args.data.empty()) args.data = *d;
  engine.accept("metric");
  engine.accept("batch_size");
  engine.finish();
  auto compression = root.object("compression");
  std::string device = compression.get<std::string>("target_device", "ANY");
  std::vector<AlgorithmSpec> specs;
  for (auto a : compression.objects("algorithms")) {
    AlgorithmSpec spec{a.required<std::string>("name"), a.json().value("params", nlohmann::json::object())};
    a.accept("params");
    a.finish();
    if (!spec.params.contains("target_device")) spec.params["target_device"] = device;
    specs.push_back(spec);
  }
  compression.finish();
  root.finish();
  QUAC_CHECK(!specs.empty(), kInvalidArgument, args.config, ": compression.algorithms is empty");
  return specs;
}

int quantize_command(QuantizeArgs args) {
  Progress::set_quiet(args.quiet);
  std::vector<AlgorithmSpec> specs;
  if (!args.config.empty()) specs = read_config(args);
  QUAC_CHECK(!args.model.empty(), kInvalidArgument, "no model given (MODEL argument or model.model in --config)");
  QUAC_CHECK(!args.data.empty(), kInvalidArgument, "no calibration data given (--data or engine.data in --config)");
  Model model = load_model(args.model);
  if (specs.empty()) {
    nlohmann::json params = {{"preset", args.preset},
                             {"target_device", args.target_device},
                             {"stat_subset_size", args.stat_subset_size},
                             {"stat_batch_size", args.stat_batch_size},
                             {"shuffle_data", args.shuffle},
                             {"seed", args.seed},
                             {"use_fast_bias", args.bias_correction == "fast"},
                             {"activations", {{"range_estimator", {{"preset", args.range_estimator}}}}}};
    params["saturation_fix"] = args.saturation_fix;
    if (!args.model_type.empty()) params["model_type"] = args.model_type;
    // --ignore takes node names or op types.
    for (const auto& item : args.ignore) {
      bool is_type = false, is_name = false;
      for (const auto& n : model.ir().graph.nodes) {
        is_type = is_type || n.op_type == item;
        is_name = is_name || n.name == item;
      }
      QUAC_CHECK(is_type || is_name, kInvalidArgument, "--ignore: '", item,
                 "' is neither a node name nor an op type of ", args.model);
      if (is_name)
        params["ignored"]["scope"].push_back(item);
      else
        params["ignored"]["operations"].push_back({{"type", item}});
    }
    specs.push_back({"DefaultQuantization", params});
  }
  auto dataset = open_dataset(args.data, model);
  auto engine = std::make_shared<Engine>(
      dataset, nullptr, EngineOptions{.batch_size = 32, .num_threads = args.threads, .progress = !args.quiet});
  auto pipeline = create_pipeline(specs, engine);
  Model quantized = pipeline->run(model);
  if (!args.no_compress) compress_model_weights(quantized);
  save_model(quantized, args.output);
  std::printf("%s -> %s (%s)\n", args.model.c_str(), args.output.c_str(),
              quantized.quantized() ? "quantized" : "unchanged");
  return 0;
}

}  // namespace

void add_quantize_command(CLI::App& app, CommandFn& fn) {
  auto args = std::make_shared<QuantizeArgs>();
  CLI::App* cmd = app.add_subcommand("quantize", "Quantize a model to INT8 (standard QDQ ONNX) from calibration data");
  cmd->add_option("model", args->model, "FP32 ONNX model (or model.model in --config)");
  cmd->add_option("-d,--data", args->data, "Calibration data: npy:DIR, idx:DIR[,...], random[,n=N]");
  cmd->add_option("-o,--output", args->output, "Output QDQ ONNX file (written atomically)")->required();
  cmd->add_option("-c,--config", args->config,
                  "POT-style JSON config: model {model}, engine {data}, compression {target_device, algorithms}");
  cmd->add_option("--preset", args->preset, "performance (symmetric) or mixed (asymmetric activations)")
      ->check(CLI::IsMember({"performance", "mixed"}))
      ->capture_default_str();
  cmd->add_option("--range-estimator", args->range_estimator,
                  "Activation range preset: default (per-sample min/max, mean), quantile (1e-4 outliers cut), mse or "
                  "kl (histogram threshold)")
      ->check(CLI::IsMember({"default", "quantile", "mse", "kl"}))
      ->capture_default_str();
  cmd->add_option(
         "--bias-correction", args->bias_correction,
         "After MinMaxQuantization: fast (FastBiasCorrection, one pass) or full (BiasCorrection, layer by layer)")
      ->check(CLI::IsMember({"fast", "full"}))
      ->capture_default_str();
  cmd->add_option("--saturation-fix", args->saturation_fix,
                  "7-bit weights against int16 overflow on non-VNNI CPUs: first_layer, all or no")
      ->check(CLI::IsMember({"first_layer", "all", "no"}))
      ->capture_default_str();
  cmd->add_option("--model-type", args->model_type, "transformer: SmoothQuant (alpha 0.5) before quantization")
      ->check(CLI::IsMember({"transformer"}));
  cmd->add_option("--stat-subset-size", args->stat_subset_size, "Calibration samples")->capture_default_str();
  cmd->add_option("--stat-batch-size", args->stat_batch_size, "Calibration batch size")->capture_default_str();
  cmd->add_flag("--shuffle-data", args->shuffle, "Draw the calibration subset at random (see --seed)");
  cmd->add_option("--seed", args->seed, "Seed for --shuffle-data")->capture_default_str();
  cmd->add_option("--ignore", args->ignore, "Keep in FP32: a node name or an op type")->take_all();
  cmd->add_option("--target-device", args->target_device, "ANY, CPU, GPU, VPU or GNA")->capture_default_str();
  cmd->add_flag("--no-compress-weights", args->no_compress,
                "Keep FP32 weights behind QuantizeLinear (default: INT8 weight initializers)");
  cmd->add_option("-t,--threads", args->threads, "Intra-op threads (0 = all cores)")->capture_default_str();
  cmd->add_flag("-q,--quiet", args->quiet, "No progress output");
  cmd->callback([&fn, args] { fn = [args] { return quantize_command(*args); }; });
}

}  // namespace quac::cli
