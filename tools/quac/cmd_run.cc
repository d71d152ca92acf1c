// quac run MODEL --input NAME=FILE.npy ... [--output-dir DIR]
#include <cctype>
#include <filesystem>
#include <memory>

#include "commands.h"
#include "core/file_util.h"
#include "core/npy.h"
#include "quac/session.h"

namespace quac::cli {
namespace {

struct RunArgs {
  std::string model;
  std::vector<std::string> inputs;
  std::string output_dir = ".";
  int threads = 0;
  bool reference = false;
  bool verbose = false;
};

std::string sanitize(const std::string& name) {
  std::string out = name;
  for (char& c : out)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) c = '_';
  if (out.empty() || out == "." || out == "..") out = "_" + out;
  return out;
}

int run(const RunArgs& args) {
  Model model = load_model(args.model);
  std::map<std::string, Tensor> feeds;
  for (const auto& spec : args.inputs) {
    auto [name, path] = parse_name_value(spec, "--input");
    if (feeds.count(name)) QUAC_THROW(kInvalidArgument, "--input: '", name, "' is given twice");
    feeds[name] = read_npy(path);
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(args.output_dir, ec))
    QUAC_THROW(kIoError, "--output-dir: ", args.output_dir, " is not an existing folder");
  SessionOptions options;
  options.num_threads = args.threads;
  options.reference_kernels_only = args.reference;
  options.verbose = args.verbose;
  Session session(model, options);
  auto outputs = session.run(feeds);
  // Encode everything before writing anything, so a failure leaves no partial set of outputs.
  std::vector<std::pair<std::string, std::string>> files;
  for (const auto& [name, t] : outputs)
    files.push_back({(std::filesystem::path(args.output_dir) / (sanitize(name) + ".npy")).string(), encode_npy(t)});
  for (const auto& [path, bytes] : files) {
    write_file_atomic(path, bytes);
    std::printf("%s\n", path.c_str());
  }
  return 0;
}

}  // namespace

void add_run_command(CLI::App& app, CommandFn& fn) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand("run", "Run a model once on .npy inputs and write each output as a .npy file");
  cmd->add_option("model", args->model, "ONNX model file")->required();
  cmd->add_option("-i,--input", args->inputs, "NAME=FILE.npy for each model input")->take_all();
  cmd->add_option("-o,--output-dir", args->output_dir,
                  "Folder for the outputs, written as OUTPUT_NAME.npy (characters other than letters, digits, '.', "
                  "'_' and '-' become '_')")
      ->capture_default_str();
  cmd->add_option("-t,--threads", args->threads, "Intra-op threads (0 = all cores)")->capture_default_str();
  cmd->add_flag("--reference", args->reference, "Use only the reference kernels (slow; the numerical oracle)");
  cmd->add_flag("-v,--verbose", args->verbose, "Report graph passes and kernel choices on stderr");
  cmd->callback([&fn, args] { fn = [args] { return run(*args); }; });
}

}  // namespace quac::cli
