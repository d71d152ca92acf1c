#include <cstdio>
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

int main(int argc, char** argv) {
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
