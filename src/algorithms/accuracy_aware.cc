// AccuracyAwareQuantization (POT's name and parameters, NNCF's restore_mode): the base algorithm quantizes, then the
// search in src/search/ reverts quantizer groups until every metric is within budget. This file reads the
// parameters, prepares the data (pseudo-labels when annotation_free), runs the optional preset retry and
// hyperparameter tuning, and assembles the result and its report.
#include "quac/accuracy_aware.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "algorithms/accuracy_aware_util.h"
#include "algorithms/algorithm.h"
#include "algorithms/default_quantization.h"
#include "kernels/cpu_features.h"
#include "quac/evaluator.h"
#include "quac/session.h"
#include "quant/scope.h"
#include "search/model_evaluator.h"

namespace quac {
namespace algorithms {
namespace {

using Clock = std::chrono::steady_clock;

// Keys of AccuracyAwareQuantization itself; everything else goes to the base algorithm.
const std::set<std::string> kOwnKeys = {"maximal_drop",
                                        "drop_type",
                                        "ranking_subset_size",
                                        "max_iter_num",
                                        "metric_subset_ratio",
                                        "use_prev_if_drop_increase",
                                        "base_algorithm",
                                        "convert_to_mixed_preset",
                                        "tune_hyperparams",
                                        "annotation_free",
                                        "annotation_conf_threshold",
                                        "metrics",
                                        "restore_mode",
                                        "num_ranking_workers",
                                        "dump_intermediate_model",
                                        "ranking_method"};

}  // namespace

AccuracyAwareParams read_accuracy_aware_params(config::ParamReader& r) {
  AccuracyAwareParams p;
  p.search.maximal_drop = r.get<double>("maximal_drop", 0.01);
  QUAC_CHECK(p.search.maximal_drop >= 0 && std::isfinite(p.search.maximal_drop), kInvalidArgument, r.path(),
             ".maximal_drop must be a non-negative number");
  p.search.drop_type = r.get<std::string>("drop_type", "absolute");
  QUAC_CHECK(p.search.drop_type == "absolute" || p.search.drop_type == "relative", kInvalidArgument, r.path(),
             ".drop_type: '", p.search.drop_type, "' is not one of absolute, relative");
  p.search.ranking_subset_size = r.get<size_t>("ranking_subset_size", 300);
  QUAC_CHECK(p.search.ranking_subset_size > 0, kInvalidArgument, r.path(), ".ranking_subset_size must be positive");
  p.search.max_iter_num = r.get<size_t>("max_iter_num", 0);
  p.search.metric_subset_ratio = r.get<double>("metric_subset_ratio", 0.5);
  QUAC_CHECK(p.search.metric_subset_ratio > 0 && p.search.metric_subset_ratio <= 1, kInvalidArgument, r.path(),
             ".metric_subset_ratio must be in (0, 1]");
  p.search.use_prev_if_drop_increase = r.get<bool>("use_prev_if_drop_increase", true);
  p.search.ranking = r.get<std::string>("ranking_method", "auto");
  const std::set<std::string> methods = {"auto", "metric", "cosine", "kl", "mse"};
  QUAC_CHECK(methods.count(p.search.ranking), kInvalidArgument, r.path(), ".ranking_method: '", p.search.ranking,
             "' is not one of auto, metric, cosine, kl, mse");
  p.base_algorithm = r.get<std::string>("base_algorithm", "DefaultQuantization");
  QUAC_CHECK(p.base_algorithm == "DefaultQuantization" || p.base_algorithm == "MinMaxQuantization", kInvalidArgument,
             r.path(), ".base_algorithm: '", p.base_algorithm,
             "' is not one of DefaultQuantization, MinMaxQuantization");
  p.convert_to_mixed_preset = r.get<bool>("convert_to_mixed_preset", false);
  p.tune_hyperparams = r.get<bool>("tune_hyperparams", false);
  p.annotation_free = r.get<bool>("annotation_free", false);
  p.annotation_conf_threshold = r.get<double>("annotation_conf_threshold", 0.6);
  QUAC_CHECK(p.annotation_conf_threshold >= 0 && p.annotation_conf_threshold <= 1, kInvalidArgument, r.path(),
             ".annotation_conf_threshold must be in [0, 1]");
  for (auto m : r.objects("metrics")) {
    std::string name = m.required<std::string>("name");
    p.search.baseline_values[name] = m.required<double>("baseline_value");
    QUAC_CHECK(std::isfinite(p.search.baseline_values[name]), kInvalidArgument, m.path(),
               ".baseline_value must be finite");
    m.finish();
  }
  p.restore_mode = r.get<std::string>("restore_mode", "activations_and_weights");
  QUAC_CHECK(p.restore_mode == "activations_and_weights" || p.restore_mode == "only_activations", kInvalidArgument,
             r.path(), ".restore_mode: '", p.restore_mode, "' is not one of activations_and_weights, only_activations");
  // Accepted for NNCF compatibility: quac ranks in one process; sharding is the evaluator's business.
  p.num_ranking_workers = r.get<size_t>("num_ranking_workers", 1);
  p.dump_intermediate_model = r.get<bool>("dump_intermediate_model", false);
  // The rest belongs to the base algorithm; its own reader rejects unknown keys, naming them with the same path.
  p.base_params = nlohmann::json::object();
  for (const auto& [key, value] : r.json().items())
    if (!kOwnKeys.count(key)) {
      p.base_params[key] = value;
      r.accept(key);
    }
  if (p.base_params.value("target_device", "ANY") == "GNA") {
    // POT's GNA variant turns these off: its baseline is already quantized and reverting changes bit widths.
    QUAC_CHECK(!p.annotation_free && !p.convert_to_mixed_preset && p.restore_mode == "activations_and_weights",
               kInvalidArgument, r.path(),
               ": annotation_free, convert_to_mixed_preset and restore_mode do not apply to target_device GNA "
               "(reverting raises a group's weights to INT16)");
  }
  make_base_algorithm(p.base_algorithm, p.base_params, r.path());  // validates the base parameters now
  return p;
}

std::unique_ptr<Algorithm> make_base_algorithm(const std::string& name, const nlohmann::json& params,
                                               const std::string& path) {
  const AlgorithmFactory* factory = find_algorithm(name);
  QUAC_CHECK(factory, kInternal, "base algorithm '", name, "' is not registered");
  config::ParamReader reader(params, path);
  auto algorithm = (*factory)(reader);
  reader.finish();
  return algorithm;
}

std::vector<double> measure_latencies_ms(const std::vector<Model>& models, const Dataset& data, int threads,
                                         size_t min_rounds, double budget_seconds, size_t* rounds, double* spread) {
  std::vector<std::unique_ptr<Session>> sessions;
  for (const Model& m : models)
    sessions.push_back(std::make_unique<Session>(m, SessionOptions{.num_threads = threads}));
  Batch b = make_batch(data, {0}, 0, 1);
  // Warm-up: first runs pay for page faults, primitive creation and caches.
  for (auto& s : sessions)
    for (int i = 0; i < 5; ++i) s->run(b.inputs);
  std::vector<std::vector<double>> times(models.size());
  auto end = Clock::now() + std::chrono::duration<double>(budget_seconds);
  size_t round = 0;
  for (; round < 200 && (round < min_rounds || Clock::now() < end); ++round)
    for (size_t k = 0; k < sessions.size(); ++k) {
      auto t0 = Clock::now();
      sessions[k]->run(b.inputs);
      times[k].push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
  if (rounds) *rounds = round;
  std::vector<double> medians;
  if (spread) *spread = 1;
  for (auto& t : times) {
    std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
    medians.push_back(t[t.size() / 2]);
    double fastest = *std::min_element(t.begin(), t.end());
    if (spread && fastest > 0) *spread = std::max(*spread, medians.back() / fastest);
  }
  return medians;
}

std::vector<std::string> latency_warnings(const LatencyTriple& l) {
  std::vector<std::string> out;
  if (!(l.fp32 > 0 && l.int8 > 0 && l.result > 0)) return out;
  char buf[400];
  if (l.spread > 2) {
    std::snprintf(buf, sizeof buf,
                  "warning: latency measurements are noisy (a median %.1fx the fastest run): the machine is busy, so "
                  "FP32, INT8 and the result may not compare; re-measure with quac benchmark on an idle machine",
                  l.spread);
    out.push_back(buf);
  }
  if (l.result >= l.fp32) {
    std::snprintf(buf, sizeof buf,
                  "warning: the result (%.3f ms) is not faster than FP32 (%.3f ms) at batch 1 (%s); full INT8 takes "
                  "%.3f ms",
                  l.result, l.fp32, l.method.c_str(), l.int8);
    out.push_back(buf);
  }
  if (l.int8 >= l.fp32) {
    std::snprintf(buf, sizeof buf,
                  "warning: full INT8 (%.3f ms) is not faster than FP32 (%.3f ms) either: INT8 does not pay off for "
                  "this model on this machine (%s)",
                  l.int8, l.fp32,
                  kernels::cpu_has_vnni()
                      ? "small layers spend their time outside the convolutions: try a larger batch"
                      : "this CPU has no VNNI, so layers with 8-bit weights run in float; 7-bit weights "
                        "(saturation_fix all) run in INT8");
    out.push_back(buf);
  }
  return out;
}

namespace {

class AccuracyAwareQuantization : public Algorithm {
 public:
  explicit AccuracyAwareQuantization(AccuracyAwareParams p) : p_(std::move(p)) {}
  Model run(const Model& model, Engine& engine) override {
    AccuracyAwareOptions options;
    if (engine.options().progress)
      options.log = [](const std::string& line) { std::fprintf(stderr, "[quac] %s\n", line.c_str()); };
    AccuracyAwareResult r = run_accuracy_aware(model, engine, p_, options);
    std::fprintf(stderr, "[quac] AccuracyAwareQuantization: %s\n", r.summary.c_str());
    return r.model;
  }

 private:
  AccuracyAwareParams p_;
};

QUAC_REGISTER_ALGORITHM("AccuracyAwareQuantization", [](config::ParamReader& r) -> std::unique_ptr<Algorithm> {
  return std::make_unique<AccuracyAwareQuantization>(read_accuracy_aware_params(r));
});

// How far over budget a fully quantized candidate is, in units of the allowed drop (<= 0: within budget).
double worst_excess(const search::SearchResult& reference, const std::map<std::string, double>& metrics) {
  double worst = -1e300;
  for (const auto& [name, base] : reference.baselines) {
    bool hw = reference.attributes.at(name).direction == "higher-worse";
    double drop = hw ? metrics.at(name) - base : base - metrics.at(name);
    double allowed = reference.allowed_drops.at(name);
    worst = std::max(worst, (drop - allowed) / (allowed > 0 ? allowed : 1.0));
  }
  return worst;
}

}  // namespace

AccuracyAwareResult run_accuracy_aware(const Model& model, Engine& engine, const AccuracyAwareParams& p,
                                       const AccuracyAwareOptions& options) {
  auto start = Clock::now();
  auto log = [&](const std::string& line) {
    if (options.log) options.log(line);
  };
  QUAC_CHECK(engine.metric() != nullptr, kInvalidArgument,
             "AccuracyAwareQuantization needs a metric (--metric, or engine.metric in the config)");
  QUAC_CHECK(model.loaded(), kInvalidArgument, "AccuracyAwareQuantization: no model");
  Model fp32(model.ir_ptr());
  std::shared_ptr<const Dataset> data = engine.dataset_ptr();
  QUAC_CHECK(data->size() > 0, kDatasetError, data->describe(), ": the validation dataset is empty");
  size_t inferences = 0;
  nlohmann::json notes = nlohmann::json::array();
  if (p.num_ranking_workers > 1)
    notes.push_back("num_ranking_workers " + std::to_string(p.num_ranking_workers) +
                    ": quac ranks in one process, each evaluation using every thread of the engine");
  QUAC_CHECK(data->has_annotations() || p.annotation_free, kDatasetError, data->describe(),
             ": has no annotations; the metric needs them (or set annotation_free)");
  if (!p.annotation_free) {
    // Fail fast, before calibrating: the FP32 model and the metric on the first batch catch items of the wrong
    // shape, missing annotations, NaN outputs and a metric that throws.
    EvaluationOptions first;
    for (size_t i = 0; i < std::min(data->size(), engine.options().batch_size); ++i) first.indices.push_back(i);
    first.batch_size = engine.options().batch_size;
    Session session(fp32, {.num_threads = engine.options().num_threads});
    inferences += quac::evaluate(session, *data, *engine.metric(), first).items;
  }
  if (p.annotation_free) {
    PseudoLabels pl = pseudo_label(fp32, data, p.annotation_conf_threshold, engine.options());
    inferences += data->size();
    data = pl.dataset;
    notes.push_back(pl.note);
    log(pl.note);
  }
  std::shared_ptr<const Dataset> calib = options.calibration_data ? options.calibration_data : engine.dataset_ptr();
  Engine calib_engine(calib, nullptr, engine.options());
  nlohmann::json tuning = nlohmann::json::array();
  nlohmann::json preset_retry;  // convert_to_mixed_preset: both fully quantized models' metrics

  log("quantizing with " + p.base_algorithm);
  nlohmann::json base_params = p.base_params;
  Model quantized = make_base_algorithm(p.base_algorithm, base_params, "base_algorithm")->run(fp32, calib_engine);
  // POT's GNA variant (AccuracyAwareGNA): the baseline is the INT16 model (the base algorithm with the accuracy
  // preset) and reverting a group raises its weights from INT8 to INT16 (GNA's activations are 16-bit already).
  bool gna = base_params.value("target_device", "ANY") == "GNA";
  // Reverted layers get their FP32 initializers back from the model the base algorithm quantized (after SmoothQuant
  // and ActivationChannelAlignment: the same function as the user's), never half of an aligned pair.
  Model reference = prepare_fp32_model(p.base_algorithm, base_params, fp32, calib_engine, "base_algorithm");
  if (gna) {
    nlohmann::json int16 = base_params;
    int16["preset"] = "accuracy";
    // INT16 weights whatever bits the INT8 model uses (explicit 8-bit levels do not carry over).
    int16["weights"]["bits"] = 16;
    int16["weights"].erase("level_low");
    int16["weights"].erase("level_high");
    notes.push_back(
        "target_device GNA: the baseline is the INT16 model (accuracy preset); a reverted group's weights "
        "go from INT8 to INT16");
    log(notes.back().get<std::string>());
    reference = make_base_algorithm(p.base_algorithm, int16, "base_algorithm")->run(fp32, calib_engine);
  }
  search::ModelEvaluatorOptions eo{.batch_size = engine.options().batch_size,
                                   .num_threads = engine.options().num_threads,
                                   .restore_mode = gna ? "int16_weights" : p.restore_mode};
  // Full BiasCorrection's corrections depend on which layers are quantized: each variant gets its own (not GNA's,
  // whose raised layers take the INT16 model's corrections).
  auto with_corrections = [&](const nlohmann::json& params) {
    search::ModelEvaluatorOptions o = eo;
    if (!gna) o.requantize = bias_correction_for_variants(p.base_algorithm, params, calib_engine, "base_algorithm");
    return o;
  };
  auto evaluator = std::make_unique<search::ModelSearchEvaluator>(reference, quantized, data, *engine.metric(),
                                                                  with_corrections(base_params));
  std::vector<std::unique_ptr<search::ModelSearchEvaluator>> retired;  // their inferences count too
  search::SearchOptions so = p.search;
  so.log = options.log;
  so.verbose = options.verbose;
  so.progress = engine.options().progress;

  // POT's order: the fully quantized model; if over budget, the mixed preset, from which everything after continues
  // (as in POT, whether or not it measured better: the note records both), then tuned hyperparameters, then the
  // search. Whole-set evaluations are cached, so the probes cost nothing twice.
  if (p.convert_to_mixed_preset || p.tune_hyperparams) {
    search::SearchOptions probe = so;
    probe.stop_after_quantized = true;
    probe.log = nullptr;
    search::SearchResult s0 = search::run_search(*evaluator, probe);
    bool already_mixed = base_params.value("preset", "performance") == "mixed" ||
                         (base_params.contains("activations") && base_params["activations"].is_object() &&
                          base_params["activations"].value("mode", "") == "asymmetric");
    if (!s0.budget_met && p.convert_to_mixed_preset && already_mixed) {
      notes.push_back(
          "convert_to_mixed_preset: the base algorithm already uses asymmetric activations; nothing to "
          "convert");
      log(notes.back().get<std::string>());
    } else if (!s0.budget_met && p.convert_to_mixed_preset) {
      nlohmann::json mixed = base_params;
      mixed["preset"] = "mixed";
      if (mixed.contains("activations") && mixed["activations"].contains("mode")) mixed["activations"].erase("mode");
      log("convert_to_mixed_preset: quantizing with the mixed preset (asymmetric activations)");
      Model q_mixed = make_base_algorithm(p.base_algorithm, mixed, "base_algorithm")->run(fp32, calib_engine);
      auto ev_mixed = std::make_unique<search::ModelSearchEvaluator>(reference, q_mixed, data, *engine.metric(),
                                                                     with_corrections(mixed));
      ev_mixed->share_reference(*evaluator);
      search::SearchResult s1 = search::run_search(*ev_mixed, probe);
      double perf = worst_excess(s0, s0.quantized_metrics), mix = worst_excess(s0, s1.quantized_metrics);
      char buf[300];
      std::snprintf(buf, sizeof buf,
                    "convert_to_mixed_preset: over budget by %.3gx (performance) vs %.3gx (mixed)%s; continuing "
                    "with mixed",
                    std::max(0.0, perf), std::max(0.0, mix), s1.budget_met ? ", mixed is within budget" : "");
      notes.push_back(buf);
      log(buf);
      preset_retry = {{"performance", s0.quantized_metrics}, {"mixed", s1.quantized_metrics}};
      base_params = mixed;
      retired.push_back(std::move(evaluator));
      evaluator = std::move(ev_mixed);
      s0 = s1;
    }
    if (!s0.budget_met && p.tune_hyperparams) {
      AccuracyAwareParams tp = p;
      tp.base_params = base_params;
      TuneResult t = tune_hyperparams(fp32, *evaluator, calib_engine, engine, data, tp);
      inferences += t.inferences;
      notes.push_back(t.note);
      tuning = t.candidates;
      log(t.note);
      if (t.params != base_params) {
        base_params = t.params;
        Model q_tuned = make_base_algorithm(p.base_algorithm, base_params, "base_algorithm")->run(fp32, calib_engine);
        auto ev_tuned = std::make_unique<search::ModelSearchEvaluator>(reference, q_tuned, data, *engine.metric(),
                                                                       with_corrections(base_params));
        ev_tuned->share_reference(*evaluator);
        retired.push_back(std::move(evaluator));
        evaluator = std::move(ev_tuned);
      }
    }
  }

  std::string dump_dir = options.intermediate_dir.empty() ? "intermediate_models" : options.intermediate_dir;
  if (p.dump_intermediate_model) {
    std::filesystem::create_directories(dump_dir);
    so.on_iteration = [&](int iteration, const std::set<size_t>& removed) {
      auto path = std::filesystem::path(dump_dir) / ("iteration_" + std::to_string(iteration) + ".onnx");
      Model m = evaluator->variant(removed);
      compress_model_weights(m);
      save_model(m, path.string());
    };
  }
  search::SearchResult sr = search::run_search(*evaluator, so);
  sr.inferences = inferences + evaluator->inferences();
  for (const auto& e : retired) sr.inferences += e->inferences();

  AccuracyAwareResult result;
  result.model = evaluator->variant(sr.removed);
  result.budget_met = sr.budget_met;
  LatencyTriple latency;
  if (options.measure_latency) {
    Model int8 = evaluator->variant({});
    if (options.latency) {
      latency.fp32 = options.latency(fp32, "fp32");
      latency.int8 = options.latency(int8, "int8");
      latency.result = options.latency(result.model, "result");
      latency.method = "given by the caller";
    } else {
      int threads = engine.options().num_threads;
      size_t rounds = 0;
      std::vector<double> ms =
          measure_latencies_ms({fp32, int8, result.model}, *data, threads, 21, 3, &rounds, &latency.spread);
      latency.fp32 = ms[0], latency.int8 = ms[1], latency.result = ms[2];
      latency.method = "median of " + std::to_string(rounds) + " interleaved runs after 5 warm-up runs, " +
                       (threads == 1  ? std::string("1 thread")
                        : threads > 0 ? std::to_string(threads) + " threads"
                                      : std::string("all threads"));
    }
    // Users have been burned by models that met the budget and got no faster: say so when it happens.
    for (const std::string& w : latency_warnings(latency)) {
      notes.push_back(w);
      if (options.warn)
        options.warn(w);
      else
        log(w);
    }
  }
  double wall = std::chrono::duration<double>(Clock::now() - start).count();
  result.summary = summary_line(sr, *evaluator);
  result.report = build_report(sr, *evaluator, p, *data, latency, wall, notes);
  result.report["base_params"] = base_params;
  if (!tuning.empty()) result.report["tuning"] = tuning;
  if (!preset_retry.is_null()) result.report["preset_retry"] = preset_retry;
  if (p.dump_intermediate_model) result.report["intermediate_models"] = dump_dir;
  return result;
}

}  // namespace algorithms

AccuracyAwareResult accuracy_aware_quantization(const Model& model, Engine& engine, const nlohmann::json& params,
                                                const AccuracyAwareOptions& options, const std::string& params_path) {
  config::ParamReader reader(params, params_path);
  algorithms::AccuracyAwareParams p = algorithms::read_accuracy_aware_params(reader);
  reader.finish();
  return algorithms::run_accuracy_aware(model, engine, p, options);
}

}  // namespace quac
