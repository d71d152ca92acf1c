#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "commands.h"
#include "quac/error.h"

namespace quac::cli {

std::pair<std::string, std::string> parse_name_value(const std::string& value, const std::string& flag) {
  auto eq = value.rfind('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == value.size())
    QUAC_THROW(kInvalidArgument, flag, " expects NAME=VALUE, got '", value, "'");
  return {value.substr(0, eq), value.substr(eq + 1)};
}

std::pair<std::string, Shape> parse_shape_flag(const std::string& value, const std::string& flag) {
  auto [name, dims] = parse_name_value(value, flag);
  Shape shape;
  size_t pos = 0;
  while (pos <= dims.size()) {
    size_t x = dims.find('x', pos);
    std::string part = dims.substr(pos, x == std::string::npos ? std::string::npos : x - pos);
    if (part.empty() || part.size() > 12 || part.find_first_not_of("0123456789") != std::string::npos)
      QUAC_THROW(kInvalidArgument, flag, " expects NAME=D1xD2x..., got '", value, "'");
    shape.push_back(std::stoll(part));
    if (x == std::string::npos) break;
    pos = x + 1;
  }
  return {name, shape};
}

}  // namespace quac::cli

namespace {

// libgomp reads its wait policy when it loads, before main. Its default makes idle workers spin for a long time at
// every barrier, so a quac process whose cores are shared with other work runs several times slower (ResNet-18 on
// 2 threads next to two busy loops: 83-193 ms median against 50-60 ms with a short spin), while a short spin costs
// nothing measurable on an idle machine (bench/RESULTS.md, "OpenMP wait policy"). Unless the user chose a policy,
// quac re-runs itself once with a short spin; if that fails it carries on with libgomp's default.
void prefer_short_openmp_spin(char** argv) {
  if (std::getenv("GOMP_SPINCOUNT") || std::getenv("OMP_WAIT_POLICY")) return;
  if (setenv("GOMP_SPINCOUNT", "10000", 1) != 0) return;
  execv("/proc/self/exe", argv);  // returns only on failure
}

}  // namespace

int main(int argc, char** argv) {
  prefer_short_openmp_spin(argv);
  using namespace quac::cli;
  CLI::App app{"quac: post-training INT8 quantization with accuracy control, and the engine that measures it"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("quac 0.1.0"));
  app.footer(
      "Datasets (--data): npy:DIR, npz:DIR[,labels=FILE], images:DIR[,labels=FILE][,size=HxW,...], idx:DIR[,...],\n"
      "random[,n=N]; `quac evaluate --help` lists every option, docs/datasets.md describes the formats.");
  CommandFn fn;
  add_run_command(app, fn);
  add_benchmark_command(app, fn);
  add_inspect_command(app, fn);
  add_evaluate_command(app, fn);
  add_quantize_command(app, fn);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitBadInput;
  }
  try {
    return fn ? fn() : kExitBadInput;
  } catch (const quac::Error& e) {
    std::fprintf(stderr, "quac: error: %s\n", e.what());
    return e.code() == quac::ErrorCode::kInternal ? kExitInternal : kExitBadInput;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "quac: internal error: %s\n", e.what());
    return kExitInternal;
  }
}
