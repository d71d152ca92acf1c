// quac quantize MODEL --data SPEC -o OUT.onnx [--preset performance|mixed|accuracy] [--stat-subset-size N]
//                [--ignore NAME|TYPE] [--target-device D] [--config FILE.json]
//                [--metric top1 --max-drop 0.01 [--drop-type relative] [--calib-data SPEC] [--report FILE.json]
//                 [--max-iter N] [--ranking-subset-size N] [--ranking-method M] [--log-level L]]
// Runs DefaultQuantization, AccuracyAwareQuantization (when --metric or --max-drop is given, or the config names it),
// or the algorithms of a POT-style config, and writes a standard QDQ ONNX model.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include "commands.h"
#include "config/params.h"
#include "core/progress.h"
#include "ir/graph.h"
#include "quac/accuracy_aware.h"
#include "quac/pipeline.h"

namespace quac::cli {
namespace {

struct AccuracyArgs {
  std::string metric, drop_type = "absolute", calib_data, report, log_level = "info", ranking_method;
  std::optional<double> max_drop;
  std::optional<size_t> max_iter, ranking_subset_size;
  size_t batch_size = 32;
  bool metric_given = false;
};

struct QuantizeArgs {
  std::string model, data, output, config, preset = "performance", target_device = "ANY", range_estimator = "default",
                                           bias_correction = "fast", saturation_fix = "first_layer", model_type;
  std::vector<std::string> ignore;
  size_t stat_subset_size = 300, stat_batch_size = 32;
  bool shuffle = false, no_compress = false, quiet = false;
  uint64_t seed = 0;
  int threads = 0;
  // Accuracy control (AccuracyAwareQuantization).
  AccuracyArgs accuracy;
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

// engine.metric: "top1", ["top1", "mse"] or [{"name": "top1"}, ...] (POT's accuracy-checker style, names only).
std::string read_metric_names(const nlohmann::json& m, const std::string& path) {
  if (m.is_string()) return m.get<std::string>();
  QUAC_CHECK(m.is_array() && !m.empty(), kInvalidArgument, path, ": expected a metric name or a list of names, got ",
             m.dump());
  std::string names;
  for (size_t i = 0; i < m.size(); ++i) {
    std::string name;
    if (m[i].is_string()) {
      name = m[i].get<std::string>();
    } else {
      config::ParamReader r(m[i], path + "[" + std::to_string(i) + "]");
      name = r.required<std::string>("name");
      r.accept("type");
      r.finish();
    }
    names += (names.empty() ? "" : ",") + name;
  }
  return names;
}

std::string number_text(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

// A list of numbers given as a number, an array or POT's "123.675, 116.28, 103.53" string, scaled and joined with
// commas (the dataset spec's list syntax).
std::string number_list(const nlohmann::json& v, double divide, const std::string& path) {
  std::vector<double> values;
  if (v.is_number()) {
    values.push_back(v.get<double>());
  } else if (v.is_array()) {
    for (const auto& e : v) {
      QUAC_CHECK(e.is_number(), kInvalidArgument, path, ": expected numbers, got ", v.dump());
      values.push_back(e.get<double>());
    }
  } else if (v.is_string()) {
    std::stringstream ss(v.get<std::string>());
    for (std::string part; std::getline(ss, part, ',');) {
      try {
        values.push_back(std::stod(part));
      } catch (const std::exception&) {
        QUAC_THROW(kInvalidArgument, path, ": '", v.get<std::string>(), "' is not a list of numbers");
      }
    }
  }
  QUAC_CHECK(!values.empty(), kInvalidArgument, path, ": expected a number or a list of numbers, got ", v.dump());
  std::string out;
  for (double x : values) out += (out.empty() ? "" : ",") + number_text(x / divide);
  return out;
}

// POT's engine {data_source, reader, preprocessing} (accuracy-checker names) as a quac dataset spec. The reader is a
// quac kind (idx, npy, npz, images) or accuracy checker's pillow_imread (images) / numpy_reader (npz), as a name or
// {type, OPTION: value...} with the kind's spec options (labels, split, limit, ...). Preprocessing: resize {size |
// dst_width, dst_height [, aspect_ratio_scale: greater]}, crop {size | dst_width, dst_height}, normalization {mean,
// std} in pixel units, as accuracy checker has them.
std::string dataset_spec_from_engine(config::ParamReader& engine, const std::string& data_source) {
  const nlohmann::json& reader_json = engine.json().at("reader");
  std::string kind;
  std::vector<std::string> options;
  if (reader_json.is_string()) {
    kind = reader_json.get<std::string>();
    engine.accept("reader");
  } else {
    auto reader = engine.object("reader");
    kind = reader.required<std::string>("type");
    for (const auto& [key, value] : reader.json().items()) {
      if (key == "type") continue;
      QUAC_CHECK(value.is_string() || value.is_number(), kInvalidArgument, reader.path(), ".", key,
                 ": expected a string or a number");
      options.push_back(key + "=" + (value.is_string() ? value.get<std::string>() : number_text(value.get<double>())));
      reader.accept(key);
    }
    reader.finish();
  }
  const std::map<std::string, std::string> aliases = {{"pillow_imread", "images"}, {"numpy_reader", "npz"}};
  if (aliases.count(kind)) kind = aliases.at(kind);
  QUAC_CHECK(kind == "idx" || kind == "npy" || kind == "npz" || kind == "images", kInvalidArgument, engine.path(),
             ".reader: '", kind, "' is not one of idx, npy, npz, images, pillow_imread, numpy_reader");
  size_t k = 0;
  for (auto step : engine.objects("preprocessing")) {
    std::string path = engine.path() + ".preprocessing[" + std::to_string(k++) + "]";
    std::string type = step.required<std::string>("type");
    auto size_of = [&]() {
      if (auto size = step.optional<double>("size")) return number_text(*size) + "x" + number_text(*size);
      double w = step.required<double>("dst_width"), h = step.required<double>("dst_height");
      return number_text(h) + "x" + number_text(w);
    };
    if (type == "resize") {
      QUAC_CHECK(kind == "images", kInvalidArgument, path, ": resize needs the images reader");
      std::string scale = step.get<std::string>("aspect_ratio_scale", "");
      QUAC_CHECK(scale.empty() || scale == "greater", kInvalidArgument, path, ".aspect_ratio_scale: '", scale,
                 "' is not supported (greater: the shorter side becomes size)");
      if (scale == "greater")
        options.push_back("shorter=" + number_text(step.required<double>("size")));
      else
        options.push_back("size=" + size_of());
    } else if (type == "crop") {
      QUAC_CHECK(kind == "images", kInvalidArgument, path, ": crop needs the images reader");
      options.push_back("crop=" + size_of());
    } else if (type == "normalization") {
      QUAC_CHECK(kind == "images" || kind == "idx", kInvalidArgument, path,
                 ": normalization needs the images or idx reader");
      // Pixel units: images read them with scale=1; idx takes [0, 1] units.
      double divide = kind == "idx" ? 255.0 : 1.0;
      if (kind == "images") options.push_back("scale=1");
      for (const char* key : {"mean", "std"})
        if (step.has(key)) {
          options.push_back(std::string(key) + "=" + number_list(step.json().at(key), divide, path + "." + key));
          step.accept(key);
        }
    } else {
      QUAC_THROW(kInvalidArgument, path, ".type: '", type, "' is not one of resize, crop, normalization");
    }
    step.finish();
  }
  std::string spec = kind + ":" + data_source;
  for (const auto& o : options) spec += "," + o;
  return spec;
}

// Reads a POT-style config: model {model_name, model, weights}, engine {data | data_source, reader, preprocessing,
// metric, batch_size},
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
  std::string data_source;
  for (const char* key : {"data", "data_source"})
    if (auto d = engine.optional<std::string>(key)) data_source = *d;
  if (engine.has("reader")) {
    std::string spec = dataset_spec_from_engine(engine, data_source);
    if (args.data.empty()) args.data = spec;
  } else {
    QUAC_CHECK(!engine.has("preprocessing"), kInvalidArgument, engine.path(),
               ".preprocessing needs engine.reader (or put the options in the data_source spec)");
    if (args.data.empty()) args.data = data_source;
  }
  if (auto c = engine.optional<std::string>("calibration_data"); c && args.accuracy.calib_data.empty())
    args.accuracy.calib_data = *c;
  if (engine.has("metric") && !args.accuracy.metric_given)
    args.accuracy.metric = read_metric_names(engine.json().at("metric"), engine.path() + ".metric");
  engine.accept("metric");
  if (auto b = engine.optional<size_t>("batch_size")) args.accuracy.batch_size = *b;
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

// DefaultQuantization's parameters from the flags.
nlohmann::json default_params_from_flags(const QuantizeArgs& args, const Model& model) {
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
    QUAC_CHECK(is_type || is_name, kInvalidArgument, "--ignore: '", item, "' is neither a node name nor an op type of ",
               args.model);
    if (is_name)
      params["ignored"]["scope"].push_back(item);
    else
      params["ignored"]["operations"].push_back({{"type", item}});
  }
  return params;
}

// Several metrics at once ("top1,mse") are a CompositeMetric, which refuses a name reported twice.
std::shared_ptr<Metric> make_metric(const std::string& names) { return std::shared_ptr<Metric>(create_metric(names)); }

// Fails before any work when an output cannot be written: a search may take hours, and its result must not be lost
// to a mistyped folder at the end.
void check_output_path(const std::string& path, const std::string& what) {
  std::filesystem::path p(path);
  std::filesystem::path dir = p.has_parent_path() ? p.parent_path() : std::filesystem::path(".");
  std::error_code ec;
  QUAC_CHECK(std::filesystem::is_directory(dir, ec), kIoError, what, " ", path, ": folder ", dir.string(),
             " does not exist");
  QUAC_CHECK(::access(dir.c_str(), W_OK) == 0, kIoError, what, " ", path, ": folder ", dir.string(),
             " is not writable");
  QUAC_CHECK(!std::filesystem::is_directory(p, ec), kIoError, what, " ", path, " is a folder");
}

// Removes the files of a failed run so that nothing half-done is left behind.
struct OutputGuard {
  std::vector<std::string> paths;
  bool committed = false;
  ~OutputGuard() {
    if (committed) return;
    std::error_code ec;
    for (const auto& p : paths) std::filesystem::remove(p, ec);
  }
};

int run_accuracy_aware(const QuantizeArgs& args, const Model& model, const nlohmann::json& params,
                       const std::string& params_path) {
  const AccuracyArgs& a = args.accuracy;
  QUAC_CHECK(!a.metric.empty(), kInvalidArgument,
             "accuracy-aware quantization needs a metric (--metric, or engine.metric in --config)");
  QUAC_CHECK(a.report.empty() || std::filesystem::path(a.report).extension() != ".html", kInvalidArgument,
             "--report takes the JSON path; the HTML twin is written beside it");
  bool info = a.log_level == "info" || a.log_level == "debug";
  if (!a.report.empty()) check_output_path(a.report, "--report");
  auto dataset = open_dataset(args.data, model);
  QUAC_CHECK(dataset->size() > 0, kDatasetError, dataset->describe(), ": the validation dataset is empty");
  QUAC_CHECK(dataset->has_annotations() || params.value("annotation_free", false), kDatasetError, dataset->describe(),
             ": has no annotations; the metric needs them (or set annotation_free in the algorithm's params)");
  AccuracyAwareOptions options;
  if (!a.calib_data.empty()) options.calibration_data = open_dataset(a.calib_data, model);
  std::filesystem::path out(args.output);
  options.intermediate_dir = (out.parent_path() / (out.stem().string() + "_intermediate")).string();
  if (info && !args.quiet)
    options.log = [](const std::string& line) { std::fprintf(stderr, "[quac] %s\n", line.c_str()); };
  options.verbose = a.log_level == "debug";
  // Warnings (the result is not faster than FP32) at every level but error; --quiet leaves only errors and the
  // budget line.
  if (a.log_level != "error" && !args.quiet)
    options.warn = [](const std::string& line) { std::fprintf(stderr, "[quac] %s\n", line.c_str()); };
  else
    options.warn = [](const std::string&) {};
  auto engine = std::make_shared<Engine>(
      dataset, make_metric(a.metric),
      EngineOptions{.batch_size = a.batch_size, .num_threads = args.threads, .progress = !args.quiet});
  AccuracyAwareResult r = accuracy_aware_quantization(model, *engine, params, options, params_path);
  OutputGuard guard;
  if (!args.no_compress) compress_model_weights(r.model);
  guard.paths.push_back(args.output);
  save_model(r.model, args.output);
  if (!a.report.empty()) {
    guard.paths.push_back(a.report);
    guard.paths.push_back(std::filesystem::path(a.report).replace_extension(".html").string());
    write_accuracy_report(r.report, a.report);
  }
  guard.committed = true;
  std::printf("%s -> %s: %s\n\n%s", args.model.c_str(), args.output.c_str(), r.summary.c_str(),
              accuracy_report_table(r.report).c_str());
  if (!r.budget_met) {
    std::fprintf(stderr, "quac: accuracy budget not met: %s; the best model found was written to %s\n",
                 r.summary.c_str(), args.output.c_str());
    return kExitBudgetNotMet;
  }
  return 0;
}

int quantize_command(QuantizeArgs args) {
  Progress::set_quiet(args.quiet);
  std::vector<AlgorithmSpec> specs;
  if (!args.config.empty()) specs = read_config(args);
  QUAC_CHECK(!args.model.empty(), kInvalidArgument, "no model given (MODEL argument or model.model in --config)");
  QUAC_CHECK(!args.data.empty(), kInvalidArgument, "no data given (--data or engine.data in --config)");
  check_output_path(args.output, "-o");
  Model model = load_model(args.model);
  const AccuracyArgs& a = args.accuracy;
  bool flag_accuracy = a.max_drop.has_value() || a.metric_given;
  if (specs.empty()) {
    nlohmann::json params = default_params_from_flags(args, model);
    if (!flag_accuracy) {
      specs.push_back({"DefaultQuantization", params});
    } else {
      params["maximal_drop"] = a.max_drop.value_or(0.01);
      params["drop_type"] = a.drop_type;
      if (a.max_iter) params["max_iter_num"] = *a.max_iter;
      if (a.ranking_subset_size) params["ranking_subset_size"] = *a.ranking_subset_size;
      if (!a.ranking_method.empty()) params["ranking_method"] = a.ranking_method;
      return run_accuracy_aware(args, model, params, "flags");
    }
  } else {
    for (size_t i = 0; i < specs.size(); ++i)
      if (specs[i].name == "AccuracyAwareQuantization") {
        QUAC_CHECK(specs.size() == 1, kInvalidArgument, args.config,
                   ": AccuracyAwareQuantization must be the only algorithm in compression.algorithms");
        auto& p = specs[i].params;
        if (a.max_drop) p["maximal_drop"] = *a.max_drop;
        if (a.drop_type != "absolute") p["drop_type"] = a.drop_type;
        if (!a.ranking_method.empty()) p["ranking_method"] = a.ranking_method;
        return run_accuracy_aware(args, model, p, "compression.algorithms[0].params");
      }
    QUAC_CHECK(!flag_accuracy, kInvalidArgument, args.config,
               ": --metric/--max-drop need AccuracyAwareQuantization in compression.algorithms");
  }
  auto dataset = open_dataset(a.calib_data.empty() ? args.data : a.calib_data, model);
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

void add_accuracy_options(CLI::App* cmd, AccuracyArgs& a) {
  const char* group = "Accuracy control (AccuracyAwareQuantization; selected by --metric or --max-drop)";
  cmd->add_option_function<std::string>(
         "-m,--metric",
         [&a](const std::string& v) {
           a.metric = v;
           a.metric_given = true;
         },
         "Metric(s) on --data, comma-separated: top1, top5, topK, mean_iou, pixel_accuracy, map, map_voc, map_coco, "
         "f1, mse, mae")
      ->group(group);
  cmd->add_option_function<double>(
         "--max-drop", [&a](const double& v) { a.max_drop = v; },
         "Largest allowed drop of every metric (POT's maximal_drop; default 0.01)")
      ->group(group);
  cmd->add_option("--drop-type", a.drop_type, "absolute, or relative (allowed drop = baseline x max-drop)")
      ->check(CLI::IsMember({"absolute", "relative"}))
      ->capture_default_str()
      ->group(group);
  cmd->add_option("--calib-data", a.calib_data, "Calibration data (default: --data); same spec syntax")->group(group);
  cmd->add_option("--report", a.report,
                  "Write the search report as JSON here, and an HTML twin (same name, .html) beside it")
      ->group(group);
  cmd->add_option_function<size_t>(
         "--max-iter", [&a](const size_t& v) { a.max_iter = v; },
         "Most revert iterations (POT's max_iter_num; default unlimited)")
      ->group(group);
  cmd->add_option_function<size_t>(
         "--ranking-subset-size", [&a](const size_t& v) { a.ranking_subset_size = v; },
         "Items used to rank groups (default 300)")
      ->group(group);
  cmd->add_option("--ranking-method", a.ranking_method,
                  "How groups are ranked: auto (the metric on the worst items, or cosine output distance for metrics "
                  "without per-sample meaning), metric, cosine, kl (of softmaxes) or mse")
      ->check(CLI::IsMember({"auto", "metric", "cosine", "kl", "mse"}))
      ->group(group);
  cmd->add_option("--batch-size", a.batch_size, "Evaluation batch size")->capture_default_str()->group(group);
  cmd->add_option("--log-level", a.log_level,
                  "error (errors only), warning (also warnings, e.g. a result not faster than FP32), info (also one "
                  "line per search event) or debug (also every group's ranking score); progress lines: see --quiet")
      ->check(CLI::IsMember({"error", "warning", "info", "debug"}))
      ->capture_default_str()
      ->group(group);
}

}  // namespace

void add_quantize_command(CLI::App& app, CommandFn& fn) {
  auto args = std::make_shared<QuantizeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "quantize",
      "Quantize a model to INT8 (standard QDQ ONNX) from calibration data; with --metric/--max-drop (or "
      "AccuracyAwareQuantization in --config), keep every metric within the accuracy budget by returning the most "
      "harmful layers to FP32. Exit codes: 0 ok, 2 bad input, 3 budget not met (best model still written), 1 "
      "internal error");
  cmd->add_option("model", args->model, "FP32 ONNX model (or model.model in --config)");
  cmd->add_option("-d,--data", args->data,
                  "Calibration data, and validation data for accuracy control: npy:DIR, idx:DIR[,...,limit=N], "
                  "random[,n=N]");
  cmd->add_option("-o,--output", args->output, "Output QDQ ONNX file (written atomically)")->required();
  cmd->add_option(
      "-c,--config", args->config,
      "POT-style JSON config: model {model}, engine {data_source, metric, batch_size}, compression {target_device, "
      "algorithms: [{name, params}]} (AccuracyAwareQuantization selects accuracy control)");
  cmd->add_option("--preset", args->preset,
                  "performance (symmetric), mixed (asymmetric activations) or accuracy (asymmetric weights and "
                  "activations; 16-bit weights on GNA)")
      ->check(CLI::IsMember({"performance", "mixed", "accuracy"}))
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
  cmd->add_option("--model-type", args->model_type,
                  "transformer: SmoothQuant (alpha 0.5) before quantization, NNCF's transformer ignored scope")
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
  add_accuracy_options(cmd, args->accuracy);
  cmd->callback([&fn, args] { fn = [args] { return quantize_command(*args); }; });
}

}  // namespace quac::cli
