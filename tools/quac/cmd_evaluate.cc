// quac evaluate MODEL --data SPEC --metric top1[,top5...] [--json]
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "core/progress.h"
#include "quac/evaluator.h"

namespace quac::cli {
namespace {

struct EvalArgs {
  std::string model, data, metric = "top1";
  int threads = 0;
  size_t batch = 32;
  bool json = false, quiet = false;
};

int evaluate_command(const EvalArgs& args) {
  Progress::set_quiet(args.quiet || args.json);
  Model model = load_model(args.model);
  auto dataset = open_dataset(args.data, model);
  auto metric = create_metric(args.metric);
  Session session(model, {.num_threads = args.threads});
  EvaluationOptions options;
  options.batch_size = args.batch;
  options.progress_label = "evaluate";
  EvaluationResult r = evaluate(session, *dataset, *metric, options);
  if (args.json) {
    nlohmann::json attributes = nlohmann::json::object();
    for (const auto& [name, a] : r.attributes)
      attributes[name] = {{"direction", a.direction}, {"type", a.type}, {"per_sample", a.per_sample}};
    nlohmann::json j = {{"metrics", r.metrics}, {"attributes", attributes}, {"items", r.items}, {"seconds", r.seconds}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s on %s\n", args.model.c_str(), dataset->describe().c_str());
    for (const auto& [name, value] : r.metrics) std::printf("  %-16s %.4f\n", name.c_str(), value);
    std::printf("  %zu items in %.2f s\n", r.items, r.seconds);
  }
  return 0;
}

}  // namespace

void add_evaluate_command(CLI::App& app, CommandFn& fn) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand("evaluate", "Measure a model's metric on a dataset");
  cmd->add_option("model", args->model, "ONNX model file")->required();
  cmd->add_option("-d,--data", args->data,
                  "Dataset spec: npy:DIR, npz:DIR[,labels=FILE], images:DIR[,labels=FILE,size=HxW,...], "
                  "idx:DIR[,...] or random[,n=N] (see below)")
      ->required();
  cmd->add_option("-m,--metric", args->metric, std::string("Metric: ") + metric_names_help())->capture_default_str();
  cmd->add_option("-b,--batch", args->batch, "Batch size")->capture_default_str();
  cmd->add_option("-t,--threads", args->threads, "Intra-op threads (0 = all cores)")->capture_default_str();
  cmd->add_flag("--json", args->json,
                "Print one JSON object: {\"metrics\": {...}, \"attributes\": {name: {direction, type, per_sample}}, "
                "\"items\": N, \"seconds\": t}");
  cmd->add_flag("-q,--quiet", args->quiet, "No progress output");
  cmd->footer(dataset_spec_help());
  cmd->callback([&fn, args] { fn = [args] { return evaluate_command(*args); }; });
}

}  // namespace quac::cli
