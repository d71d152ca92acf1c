// The quac command-line tool: one file per subcommand, each adding itself to the app.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "quac/tensor.h"

namespace quac::cli {

// Exit codes: 0 success, 1 internal failure, 2 bad input or usage, 3 accuracy budget not reached.
constexpr int kExitInternal = 1;
constexpr int kExitBadInput = 2;
constexpr int kExitBudgetNotMet = 3;

// Each subcommand registers a callback that returns the process exit code.
using CommandFn = std::function<int()>;
void add_run_command(CLI::App& app, CommandFn& fn);
void add_benchmark_command(CLI::App& app, CommandFn& fn);
void add_inspect_command(CLI::App& app, CommandFn& fn);
void add_evaluate_command(CLI::App& app, CommandFn& fn);
void add_quantize_command(CLI::App& app, CommandFn& fn);

// "NAME=1x3x224x224" -> (NAME, shape); throws kInvalidArgument naming the flag on a malformed value.
std::pair<std::string, Shape> parse_shape_flag(const std::string& value, const std::string& flag);
// "NAME=PATH" -> (NAME, PATH).
std::pair<std::string, std::string> parse_name_value(const std::string& value, const std::string& flag);

}  // namespace quac::cli
