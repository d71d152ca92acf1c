// Runs the ONNX backend test cases shipped by Debian's libonnx-testdata and compares quac's outputs with the expected
// ones. Each case runs in a forked child with a time limit, so a crash or hang in one kernel is reported as that case's
// failure instead of ending the run.
//
// quac_conformance --data DIR [--skip FILE] [--category node,...] [--filter REGEX] [--min node=760 ...]
//                  [--reference] [--threads N] [--verbose] [--json FILE]
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>

#include "ir/graph.h"
#include "ir/onnx/onnx_io.h"
#include "quac/session.h"

namespace fs = std::filesystem;
using namespace quac;

namespace {

struct SkipRule {
  std::regex pattern;
  std::string text, reason;
};

std::vector<SkipRule> read_skip_list(const std::string& path) {
  std::vector<SkipRule> rules;
  if (path.empty()) return rules;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open skip list " + path);
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    auto hash = line.find('#');
    if (hash == 0) continue;
    auto bar = line.find('|');
    std::string pat = line.substr(0, bar), reason = bar == std::string::npos ? "" : line.substr(bar + 1);
    auto trim = [](std::string s) {
      s.erase(0, s.find_first_not_of(" \t"));
      s.erase(s.find_last_not_of(" \t\r") + 1);
      return s;
    };
    pat = trim(pat);
    reason = trim(reason);
    if (pat.empty()) continue;
    if (reason.empty())
      throw std::runtime_error(path + ":" + std::to_string(lineno) + ": skip entry '" + pat + "' gives no reason");
    rules.push_back({std::regex(pat), pat, reason});
  }
  return rules;
}

// Numeric: every graph input and output is a tensor of a numeric (non-string) type.
bool is_numeric_case(const fs::path& dir) {
  try {
    auto model = onnx_io::load_model_file((dir / "model.onnx").string());
    for (const auto* list : {&model->graph.inputs, &model->graph.outputs})
      for (const auto& v : *list)
        if (!v.non_tensor_type.empty() || v.dtype == DataType::kString) return false;
    return true;
  } catch (const std::exception&) {
    return true;  // unreadable models count as numeric failures
  }
}

bool close_enough(const Tensor& expected, const Tensor& actual, double rtol, double atol, std::string& why) {
  if (expected.dtype() != actual.dtype()) {
    why = std::string("type ") + dtype_name(actual.dtype()) + ", expected " + dtype_name(expected.dtype());
    return false;
  }
  if (expected.shape() != actual.shape()) {
    why = "shape " + shape_str(actual.shape()) + ", expected " + shape_str(expected.shape());
    return false;
  }
  if (expected.dtype() == DataType::kString) {
    for (int64_t i = 0; i < expected.numel(); ++i)
      if (expected.data<std::string>()[i] != actual.data<std::string>()[i]) {
        why = "string element " + std::to_string(i) + " differs";
        return false;
      }
    return true;
  }
  bool is_float = dtype_is_float(expected.dtype());
  for (int64_t i = 0; i < expected.numel(); ++i) {
    double e = expected.scalar_as_double(i), a = actual.scalar_as_double(i);
    bool ok;
    if (is_float) {
      if (std::isnan(e) || std::isnan(a))
        ok = std::isnan(e) && std::isnan(a);
      else if (std::isinf(e) || std::isinf(a))
        ok = e == a;
      else
        ok = std::fabs(a - e) <= atol + rtol * std::fabs(e);
    } else {
      ok = expected.dtype() == DataType::kInt64 || expected.dtype() == DataType::kUInt64
               ? expected.scalar_as_int(i) == actual.scalar_as_int(i)
               : e == a;
    }
    if (!ok) {
      why = "element " + std::to_string(i) + ": got " + std::to_string(a) + ", expected " + std::to_string(e);
      return false;
    }
  }
  return true;
}

// Runs one case in this process; returns "" on success or the failure message.
std::string run_case(const fs::path& dir, const SessionOptions& options) {
  try {
    Model model = load_model((dir / "model.onnx").string());
    Session session(model, options);
    std::vector<fs::path> sets;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0) sets.push_back(e.path());
    std::sort(sets.begin(), sets.end());
    if (sets.empty()) return "no test data sets";
    for (const auto& set : sets) {
      std::vector<Tensor> inputs, expected;
      for (size_t i = 0;; ++i) {
        fs::path p = set / ("input_" + std::to_string(i) + ".pb");
        if (!fs::exists(p)) break;
        inputs.push_back(onnx_io::load_tensor_file(p.string()));
      }
      for (size_t i = 0;; ++i) {
        fs::path p = set / ("output_" + std::to_string(i) + ".pb");
        if (!fs::exists(p)) break;
        expected.push_back(onnx_io::load_tensor_file(p.string()));
      }
      // ONNX 1.12's test data stores bfloat16 tensors with data_type UINT16: reinterpret them as the model declares.
      auto as_bfloat16 = [](const Tensor& t) {
        return Tensor::wrap(DataType::kBFloat16, t.shape(), const_cast<void*>(t.raw_data()), t.storage());
      };
      auto declared = session.inputs();
      for (size_t i = 0; i < inputs.size() && i < declared.size(); ++i)
        if (declared[i].dtype == DataType::kBFloat16 && inputs[i].dtype() == DataType::kUInt16)
          inputs[i] = as_bfloat16(inputs[i]);
      auto declared_out = session.outputs();
      for (size_t i = 0; i < expected.size() && i < declared_out.size(); ++i)
        if (declared_out[i].dtype == DataType::kBFloat16 && expected[i].dtype() == DataType::kUInt16)
          expected[i] = as_bfloat16(expected[i]);
      if (inputs.size() != declared.size())
        return "data set has " + std::to_string(inputs.size()) + " inputs, model " + std::to_string(declared.size());
      auto outputs = session.run(inputs);
      if (outputs.size() < expected.size()) return "fewer outputs than expected";
      for (size_t i = 0; i < expected.size(); ++i) {
        std::string why;
        if (!close_enough(expected[i], outputs[i], 1e-3, 1e-5, why))
          return set.filename().string() + " output " + std::to_string(i) + ": " + why;
      }
    }
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

struct Outcome {
  std::string status;  // pass, fail, skip
  std::string message;
  bool numeric = true;
};

Outcome run_case_isolated(const fs::path& dir, const SessionOptions& options, int timeout_s) {
  int fds[2];
  if (pipe(fds) != 0) return {"fail", "pipe failed"};
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    alarm(static_cast<unsigned>(timeout_s));
    std::string msg = run_case(dir, options);
    std::string out = (msg.empty() ? "P" : "F") + msg;
    ssize_t ignored = write(fds[1], out.data(), out.size());
    (void)ignored;
    close(fds[1]);
    _exit(0);
  }
  close(fds[1]);
  std::string buf;
  char tmp[4096];
  ssize_t n;
  while ((n = read(fds[0], tmp, sizeof tmp)) > 0) buf.append(tmp, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    return {"fail", sig == SIGALRM ? "timed out after " + std::to_string(timeout_s) + " s"
                                   : "crashed with signal " + std::to_string(sig)};
  }
  if (buf.empty()) return {"fail", "no result"};
  return {buf[0] == 'P' ? "pass" : "fail", buf.substr(1)};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Runs the ONNX backend test data against quac"};
  std::string data = "/usr/share/libonnx-testdata/data", skip_file, filter, json_out;
  std::vector<std::string> categories{"node", "pytorch-converted", "pytorch-operator", "simple"}, mins;
  bool reference = false, verbose = false;
  int threads = 1, timeout_s = 120;
  app.add_option("--data", data, "Root of the test data")->capture_default_str();
  app.add_option("--skip", skip_file, "Skip list: 'REGEX | reason' per line");
  app.add_option("--category", categories, "Categories to run")->delimiter(',')->capture_default_str();
  app.add_option("--filter", filter, "Run only cases whose name matches this regex");
  app.add_option("--min", mins, "CATEGORY=N: fail unless at least N numeric cases pass")->take_all();
  app.add_flag("--reference", reference, "Reference kernels only");
  app.add_option("--threads", threads, "Threads per case")->capture_default_str();
  app.add_option("--timeout", timeout_s, "Seconds per case")->capture_default_str();
  app.add_flag("-v,--verbose", verbose, "Print every failure");
  app.add_option("--json", json_out, "Write per-case results as JSON");
  CLI11_PARSE(app, argc, argv);

  std::vector<SkipRule> skips;
  try {
    skips = read_skip_list(skip_file);
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  std::optional<std::regex> only;
  if (!filter.empty()) only = std::regex(filter);
  SessionOptions options;
  options.num_threads = threads;
  options.reference_kernels_only = reference;

  nlohmann::json results = nlohmann::json::object();
  std::map<std::string, std::map<std::string, int>> counts;
  int total_pass = 0, total_fail = 0, total_skip = 0;
  for (const auto& category : categories) {
    fs::path root = fs::path(data) / category;
    if (!fs::is_directory(root)) {
      std::cerr << "missing category folder " << root << "\n";
      return 2;
    }
    std::vector<fs::path> cases;
    for (const auto& e : fs::directory_iterator(root))
      if (e.is_directory() && fs::exists(e.path() / "model.onnx")) cases.push_back(e.path());
    std::sort(cases.begin(), cases.end());
    for (const auto& dir : cases) {
      std::string name = dir.filename().string();
      if (only && !std::regex_search(name, *only)) continue;
      Outcome outcome;
      outcome.numeric = is_numeric_case(dir);
      const SkipRule* rule = nullptr;
      for (const auto& r : skips)
        if (std::regex_match(name, r.pattern) || std::regex_match(category + "/" + name, r.pattern)) {
          rule = &r;
          break;
        }
      if (rule) {
        outcome.status = "skip";
        outcome.message = rule->reason;
      } else {
        Outcome r = run_case_isolated(dir, options, timeout_s);
        outcome.status = r.status;
        outcome.message = r.message;
      }
      std::string kind = outcome.numeric ? "numeric" : "other";
      counts[category][kind + "_" + outcome.status]++;
      if (outcome.status == "pass")
        ++total_pass;
      else if (outcome.status == "fail")
        ++total_fail;
      else
        ++total_skip;
      if (verbose && outcome.status == "fail")
        std::cout << "FAIL " << category << "/" << name << ": " << outcome.message << "\n";
      results[category][name] = {
          {"status", outcome.status}, {"message", outcome.message}, {"numeric", outcome.numeric}};
    }
  }
  int exit_code = 0;
  std::cout << "\nconformance results (numeric = every input and output is a numeric tensor)\n";
  for (const auto& category : categories) {
    auto& c = counts[category];
    int np = c["numeric_pass"], nf = c["numeric_fail"], ns = c["numeric_skip"];
    int op = c["other_pass"], of = c["other_fail"], os = c["other_skip"];
    std::printf(
        "  %-18s numeric: %4d passed, %3d failed, %3d skipped of %4d | other: %d passed, %d failed, %d skipped\n",
        category.c_str(), np, nf, ns, np + nf + ns, op, of, os);
    results["_summary"][category] = {{"numeric_pass", np}, {"numeric_fail", nf}, {"numeric_skip", ns},
                                     {"other_pass", op},   {"other_fail", of},   {"other_skip", os}};
  }
  for (const auto& m : mins) {
    auto eq = m.find('=');
    if (eq == std::string::npos) {
      std::cerr << "--min expects CATEGORY=N\n";
      return 2;
    }
    std::string cat = m.substr(0, eq);
    int want = std::stoi(m.substr(eq + 1));
    int got = counts[cat]["numeric_pass"];
    if (got < want) {
      std::printf("  FAILED: %s numeric passes %d < required %d\n", cat.c_str(), got, want);
      exit_code = 1;
    }
  }
  if (!json_out.empty()) std::ofstream(json_out) << results.dump(1) << "\n";
  std::printf("%d passed, %d failed, %d skipped\n", total_pass, total_fail, total_skip);
  return exit_code;
}
