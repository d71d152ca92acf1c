// Accuracy-aware quantization: the fastest model within the user's accuracy budget. Quantizes with the base
// algorithm (DefaultQuantization) and, while some metric has dropped more than `maximal_drop`, returns the quantizer
// groups most responsible for the drop to floating point. Parameters and defaults are POT's AccuracyAwareQuantization
// (plus NNCF's restore_mode); it also runs as the pipeline algorithm "AccuracyAwareQuantization".
//
//   auto engine = std::make_shared<quac::Engine>(dataset, quac::create_metric("top1"));
//   quac::AccuracyAwareResult r = quac::accuracy_aware_quantization(model, *engine, {{"maximal_drop", 0.01}});
//   quac::save_model(r.model, "model_int8.onnx");
//   quac::write_accuracy_report(r.report, "report.json");  // and report.html beside it
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "quac/dataset.h"
#include "quac/model.h"
#include "quac/pipeline.h"

namespace quac {

struct AccuracyAwareOptions {
  // Calibration data for the base algorithm; null = the engine's (validation) dataset, as in POT.
  std::shared_ptr<const Dataset> calibration_data;
  // Where dump_intermediate_model writes iteration_K.onnx; empty = "intermediate_models" in the working directory.
  std::string intermediate_dir;
  // Latency of FP32, full INT8 and the result (batch 1) for the report: medians of runs interleaved between the three
  // models after a warm-up, so that a change of machine load hits all three alike. Cheap on small models.
  bool measure_latency = true;
  // Where latency comes from instead (e.g. the deployment target): milliseconds for `which` = "fp32", "int8" or
  // "result". Null = measured here.
  std::function<double(const Model& model, const std::string& which)> latency;
  // Progress and log lines (null = silent); errors are thrown, never logged.
  std::function<void(const std::string&)> log;
  // Also log every group's ranking score (the CLI's --log-level debug).
  bool verbose = false;
  // Warnings, e.g. that the result is not faster than FP32 (null = sent to `log`). They are in the report too.
  std::function<void(const std::string&)> warn;
};

struct AccuracyAwareResult {
  Model model;  // the best model found (within budget when budget_met)
  bool budget_met = false;
  // One line: "within budget: 3 of 41 groups reverted (4 of 52 layers), top1 0.9012 (drop 0.0061, allowed 0.0100)".
  std::string summary;
  nlohmann::json report;  // every evaluation, the rankings, the final comparison (see write_accuracy_report)
};

// Throws kInvalidArgument naming the parameter (with its path in `params_path`) on an unknown key or a bad value,
// kUnsupported for options quac does not implement, and dataset/metric errors as the Evaluator does. An unreachable
// budget is not an error: budget_met is false and the model is the best one found.
AccuracyAwareResult accuracy_aware_quantization(const Model& model, Engine& engine, const nlohmann::json& params,
                                                const AccuracyAwareOptions& options = {},
                                                const std::string& params_path = "params");

// Writes the report as JSON at `json_path` and its self-contained HTML twin (same name, .html) beside it, both
// atomically.
void write_accuracy_report(const nlohmann::json& report, const std::string& json_path);
// The HTML page for a report (inline SVG plots, no network access).
std::string accuracy_report_html(const nlohmann::json& report);
// The final table as plain text (what `quac quantize` prints): FP32, full INT8 and the result, with every metric, its
// drop, the groups reverted and the latency, then one line saying whether the result is faster than FP32.
std::string accuracy_report_table(const nlohmann::json& report);

}  // namespace quac
