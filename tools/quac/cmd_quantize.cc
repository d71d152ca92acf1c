// quac quantize MODEL --data SPEC -o OUT.onnx [--preset performance|mixed] [--stat-subset-size N] [--ignore NAME|TYPE]
//                [--target-device D]
// DefaultQuantization's first stage: quantizer placement, min/max statistics through taps, QDQ export.
#include <filesystem>
#include <memory>
#include <regex>

#include "commands.h"
#include "core/progress.h"
#include "ir/graph.h"
#include "ir/onnx/onnx_io.h"
#include "quac/dataset.h"
#include "quant/calibrate.h"
#include "quant/placement.h"
#include "quant/qdq.h"

namespace quac::cli {
namespace {

struct QuantizeArgs {
  std::string model, data, output, preset = "performance", target_device = "CPU", range_estimator = "default";
  std::vector<std::string> ignore;
  size_t stat_subset_size = 300, stat_batch_size = 32;
  bool shuffle = false, no_compress = false, quiet = false;
  uint64_t seed = 0;
  int threads = 0;
};

int quantize_command(const QuantizeArgs& args) {
  Progress::set_quiet(args.quiet);
  Model model = load_model(args.model);
  auto dataset = open_dataset(args.data, model);
  quant::PlacementOptions placement;
  placement.target_device = args.target_device;
  placement.per_channel_weights = model.opset() >= 13;
  // --ignore takes node names, op types (a capitalised word naming a known op type) or regexes (re:...).
  for (const auto& item : args.ignore) {
    if (item.rfind("re:", 0) == 0)
      placement.ignored.name_regexes.push_back(item.substr(3));
    else {
      bool is_type = false;
      for (const auto& n : model.ir().graph.nodes) is_type = is_type || n.op_type == item;
      bool is_name = false;
      for (const auto& n : model.ir().graph.nodes) is_name = is_name || n.name == item;
      QUAC_CHECK(is_type || is_name, kInvalidArgument, "--ignore: '", item,
                 "' is neither a node name nor an op type of ", args.model);
      (is_name ? placement.ignored.names : placement.ignored.types).push_back(item);
    }
  }
  quant::QuantizationScope scope = quant::place_quantizers(model.ir().graph, placement);
  quant::CalibrationOptions calib;
  calib.stat_subset_size = args.stat_subset_size;
  calib.stat_batch_size = args.stat_batch_size;
  calib.shuffle_data = args.shuffle;
  calib.seed = args.seed;
  calib.num_threads = args.threads;
  calib.activation_range = quant::range_estimator_preset(args.range_estimator);
  quant::collect_activation_ranges(model, *dataset, scope, calib);
  quant::compute_weight_ranges(model.ir().graph, scope);
  quant::compute_parameters(scope, args.preset);
  auto qdq = quant::materialize_qdq(model.ir(), scope, {.compress_weights = !args.no_compress});
  onnx_io::save_model_file(*qdq, args.output);
  size_t weights = 0;
  for (const auto& q : scope.quantizers) weights += q.is_weight;
  std::printf("%s: %zu quantizers (%zu weights, %zu activations) in %zu groups, preset %s -> %s\n", args.model.c_str(),
              scope.quantizers.size(), weights, scope.quantizers.size() - weights, scope.groups.size(),
              args.preset.c_str(), args.output.c_str());
  return 0;
}

}  // namespace

void add_quantize_command(CLI::App& app, CommandFn& fn) {
  auto args = std::make_shared<QuantizeArgs>();
  CLI::App* cmd = app.add_subcommand("quantize", "Quantize a model to INT8 (QDQ ONNX) from calibration data");
  cmd->add_option("model", args->model, "FP32 ONNX model")->required();
  cmd->add_option("-d,--data", args->data, "Calibration data: npy:DIR, idx:DIR[,...], random[,n=N]")->required();
  cmd->add_option("-o,--output", args->output, "Output QDQ ONNX file (written atomically)")->required();
  cmd->add_option("--preset", args->preset, "performance (symmetric) or mixed (asymmetric activations)")
      ->check(CLI::IsMember({"performance", "mixed"}))
      ->capture_default_str();
  cmd->add_option("--range-estimator", args->range_estimator,
                  "Activation range preset: default (per-sample min/max, mean) or quantile (1e-4 outliers cut)")
      ->check(CLI::IsMember({"default", "quantile"}))
      ->capture_default_str();
  cmd->add_option("--stat-subset-size", args->stat_subset_size, "Calibration samples")->capture_default_str();
  cmd->add_option("--stat-batch-size", args->stat_batch_size, "Calibration batch size")->capture_default_str();
  cmd->add_flag("--shuffle-data", args->shuffle, "Draw the calibration subset at random (see --seed)");
  cmd->add_option("--seed", args->seed, "Seed for --shuffle-data")->capture_default_str();
  cmd->add_option("--ignore", args->ignore, "Keep in FP32: a node name, an op type, or re:REGEX over node names")
      ->take_all();
  cmd->add_option("--target-device", args->target_device, "ANY, CPU, GPU, VPU or GNA")->capture_default_str();
  cmd->add_flag("--no-compress-weights", args->no_compress,
                "Keep FP32 weights behind QuantizeLinear (default: INT8 weight initializers)");
  cmd->add_option("-t,--threads", args->threads, "Intra-op threads (0 = all cores)")->capture_default_str();
  cmd->add_flag("-q,--quiet", args->quiet, "No progress output");
  cmd->callback([&fn, args] { fn = [args] { return quantize_command(*args); }; });
}

}  // namespace quac::cli
