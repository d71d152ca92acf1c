// The accuracy-aware report: JSON (every evaluation, every ranking, the final comparison) and its self-contained
// HTML twin (inline SVG plots; no scripts, fonts or network).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "algorithms/accuracy_aware_util.h"
#include "core/file_util.h"
#include "quac/accuracy_aware.h"

namespace quac {
namespace algorithms {

namespace {

// "K of M layers reverted": the ops back in FP32 against every op the revertible groups quantize.
std::pair<size_t, size_t> layers_reverted(const search::SearchResult& r, const search::SearchEvaluator& evaluator) {
  size_t reverted = 0, total = 0;
  for (size_t g : evaluator.revertible_groups()) {
    total += evaluator.group_layers(g);
    if (r.removed.count(g)) reverted += evaluator.group_layers(g);
  }
  return {reverted, total};
}

}  // namespace

std::string summary_line(const search::SearchResult& r, const search::SearchEvaluator& evaluator) {
  std::string s = r.budget_met ? "within budget: " : "accuracy budget NOT met (" + r.stop_reason + "), best model: ";
  auto [layers, layers_total] = layers_reverted(r, evaluator);
  s += std::to_string(r.removed.size()) + " of " + std::to_string(r.total_groups) + " groups reverted (" +
       std::to_string(layers) + " of " + std::to_string(layers_total) + " layers)";
  char buf[200];
  for (const auto& [name, v] : r.result_metrics) {
    std::snprintf(buf, sizeof buf, ", %s %.4f (drop %.4f, allowed %.4f)", name.c_str(), v, r.result_drops.at(name),
                  r.allowed_drops.at(name));
    s += buf;
  }
  return s;
}

nlohmann::json build_report(const search::SearchResult& r, const search::SearchEvaluator& evaluator,
                            const AccuracyAwareParams& p, const Dataset& data, const LatencyTriple& latency,
                            double wall_seconds, const nlohmann::json& notes) {
  using nlohmann::json;
  json j;
  j["tool"] = "quac";
  j["algorithm"] = "AccuracyAwareQuantization";
  j["dataset"] = data.describe();
  j["items"] = data.size();
  j["maximal_drop"] = p.search.maximal_drop;
  j["drop_type"] = p.search.drop_type;
  j["restore_mode"] = p.restore_mode;
  j["notes"] = notes;
  json metrics = json::object();
  for (const auto& [name, a] : r.attributes)
    metrics[name] = {{"direction", a.direction},
                     {"type", a.type},
                     {"baseline", r.baselines.count(name) ? json(r.baselines.at(name)) : json()},
                     {"allowed_drop", r.allowed_drops.count(name) ? json(r.allowed_drops.at(name)) : json()}};
  j["metrics"] = metrics;
  j["ranking"] = {{"method", r.ranking_method}, {"subset_size", r.ranking_subset.size()}};
  auto label = [&](size_t g) { return evaluator.group_label(g); };
  json evaluations = json::array();
  for (const auto& e : r.evaluations) {
    json reverted = json::array();
    for (size_t g : e.removed) reverted.push_back(g);
    evaluations.push_back({{"phase", e.phase},
                           {"iteration", e.iteration},
                           {"reverted_groups", reverted},
                           {"quantized_groups", e.quantized_groups},
                           {"metrics", e.metrics},
                           {"drops", e.drops},
                           {"within_budget", e.within_budget},
                           {"decision", e.decision},
                           {"inferences", e.items},
                           {"seconds", e.seconds}});
  }
  // The group reverted at each step is the one not in the previous model; name it for readers.
  for (size_t k = 1; k < r.evaluations.size(); ++k) {
    if (r.evaluations[k].phase != "revert") continue;
    std::set<size_t> now(r.evaluations[k].removed.begin(), r.evaluations[k].removed.end());
    for (size_t m = k; m-- > 1;) {
      std::set<size_t> before(r.evaluations[m].removed.begin(), r.evaluations[m].removed.end());
      if (before.size() + 1 == now.size() && std::includes(now.begin(), now.end(), before.begin(), before.end())) {
        for (size_t g : now)
          if (!before.count(g)) {
            evaluations[k]["last_reverted"] = label(g);
            evaluations[k]["last_reverted_group"] = g;
          }
        break;
      }
    }
  }
  j["evaluations"] = evaluations;
  json rankings = json::array();
  for (const auto& rk : r.rankings) {
    json scores = json::array();
    for (const auto& [g, s] : rk.scores) scores.push_back({{"group", g}, {"label", label(g)}, {"score", s}});
    rankings.push_back({{"before_iteration", rk.iteration},
                        {"method", rk.method},
                        {"metric", rk.metric},
                        {"inferences", rk.items},
                        {"seconds", rk.seconds},
                        {"scores", scores}});
  }
  j["rankings"] = rankings;
  json reverted = json::array();
  for (size_t g : r.removed) reverted.push_back({{"group", g}, {"label", label(g)}});
  auto model_entry = [&](const std::map<std::string, double>& m, double ms) {
    json e = {{"metrics", m}};
    json d = json::object();
    for (const auto& [name, base] : r.baselines)
      if (m.count(name))
        d[name] = r.attributes.at(name).direction == "higher-worse" ? m.at(name) - base : base - m.at(name);
    e["drops"] = d;
    e["latency_ms"] = ms > 0 ? json(ms) : json();
    return e;
  };
  j["result"] = {
      {"budget_met", r.budget_met},
      {"stop_reason", r.stop_reason},
      {"summary", summary_line(r, evaluator)},
      {"layers_reverted", layers_reverted(r, evaluator).first},
      {"layers_total", layers_reverted(r, evaluator).second},
      {"layers", std::to_string(layers_reverted(r, evaluator).first) + " of " +
                     std::to_string(layers_reverted(r, evaluator).second) + " layers reverted"},
      {"groups_reverted", r.removed.size()},
      {"groups_total", r.total_groups},
      {"reverted", reverted},
      {"groups", std::to_string(r.removed.size()) + " of " + std::to_string(r.total_groups) + " groups reverted"},
      {"fp32", model_entry(r.reference_metrics, latency.fp32)},
      {"int8", model_entry(r.quantized_metrics, latency.int8)},
      {"result", model_entry(r.result_metrics, latency.result)},
      {"latency",
       {{"method", latency.method},
        {"spread", latency.spread},
        {"batch", 1},
        {"speedup_vs_fp32", latency.fp32 > 0 && latency.result > 0 ? json(latency.fp32 / latency.result) : json()},
        {"speedup_vs_int8", latency.int8 > 0 && latency.result > 0 ? json(latency.int8 / latency.result) : json()},
        {"faster_than_fp32", latency.fp32 > 0 && latency.result > 0 ? json(latency.result < latency.fp32) : json()}}},
      {"iterations", r.iterations},
      {"inferences", r.inferences},
      {"search_seconds", r.seconds},
      {"wall_seconds", wall_seconds}};
  return j;
}

}  // namespace algorithms

namespace {

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<')
      o += "&lt;";
    else if (c == '>')
      o += "&gt;";
    else if (c == '&')
      o += "&amp;";
    else if (c == '"')
      o += "&quot;";
    else
      o += c;
  }
  return o;
}

std::string num(double v, int digits = 4) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

double jnum(const nlohmann::json& j, double fallback = 0) { return j.is_number() ? j.get<double>() : fallback; }

// Line plot of the worst metric's drop at every evaluation on the whole set, with the allowed drop dashed.
std::string drop_plot(const nlohmann::json& report) {
  std::vector<double> drops;
  std::vector<std::string> names;
  double allowed = 0;
  std::string metric;
  for (const auto& [name, m] : report["metrics"].items())
    if (metric.empty()) metric = name, allowed = jnum(m["allowed_drop"]);
  for (const auto& e : report["evaluations"]) {
    if (e["phase"] == "reference" || !e["drops"].contains(metric)) continue;
    drops.push_back(jnum(e["drops"][metric]));
    names.push_back(e["phase"] == "quantized" ? "INT8" : "it " + std::to_string(e["iteration"].get<int>()));
  }
  if (drops.empty()) return "<p>No evaluations.</p>";
  const double W = 640, H = 260, L = 60, R = 20, T = 20, B = 40;
  double hi = std::max(allowed, *std::max_element(drops.begin(), drops.end()));
  double lo = std::min(0.0, *std::min_element(drops.begin(), drops.end()));
  if (hi - lo < 1e-9) hi = lo + 1e-3;
  auto x = [&](size_t i) { return L + (drops.size() == 1 ? 0.5 : double(i) / (drops.size() - 1)) * (W - L - R); };
  auto y = [&](double v) { return T + (hi - v) / (hi - lo) * (H - T - B); };
  std::ostringstream s;
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H << "' role='img'>";
  s << "<line x1='" << L << "' y1='" << T << "' x2='" << L << "' y2='" << H - B << "' stroke='#333'/>";
  s << "<line x1='" << L << "' y1='" << y(lo) << "' x2='" << W - R << "' y2='" << y(lo) << "' stroke='#333'/>";
  for (int k = 0; k <= 4; ++k) {
    double v = lo + (hi - lo) * k / 4;
    s << "<text x='" << L - 6 << "' y='" << y(v) + 4 << "' font-size='11' text-anchor='end'>" << num(v) << "</text>";
  }
  s << "<line x1='" << L << "' y1='" << y(allowed) << "' x2='" << W - R << "' y2='" << y(allowed)
    << "' stroke='#c00' stroke-dasharray='6,4'/><text x='" << W - R << "' y='" << y(allowed) - 4
    << "' font-size='11' fill='#c00' text-anchor='end'>allowed " << num(allowed) << "</text>";
  std::string path;
  for (size_t i = 0; i < drops.size(); ++i) path += (i ? " L" : "M") + num(x(i), 1) + "," + num(y(drops[i]), 1);
  s << "<path d='" << path << "' fill='none' stroke='#1f77b4' stroke-width='2'/>";
  size_t step = std::max<size_t>(1, drops.size() / 12);
  for (size_t i = 0; i < drops.size(); ++i) {
    s << "<circle cx='" << x(i) << "' cy='" << y(drops[i]) << "' r='3' fill='#1f77b4'><title>" << esc(names[i])
      << ": drop " << num(drops[i]) << "</title></circle>";
    if (i % step == 0 || i + 1 == drops.size())
      s << "<text x='" << x(i) << "' y='" << H - B + 16 << "' font-size='10' text-anchor='middle'>" << esc(names[i])
        << "</text>";
  }
  s << "<text x='" << L << "' y='" << H - 6 << "' font-size='11'>" << esc(metric) << " drop vs FP32</text></svg>";
  return s.str();
}

// Horizontal bars: a list of (label, value).
std::string bar_plot(const std::vector<std::pair<std::string, double>>& bars, const std::string& unit) {
  if (bars.empty()) return "<p>Nothing to plot.</p>";
  const double W = 640, row = 18, L = 260, R = 80;
  double lo = 0, hi = 0;
  for (const auto& b : bars) lo = std::min(lo, b.second), hi = std::max(hi, b.second);
  if (hi - lo < 1e-12) hi = lo + 1;
  double H = row * bars.size() + 10;
  auto x = [&](double v) { return L + (v - lo) / (hi - lo) * (W - L - R); };
  std::ostringstream s;
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H << "' role='img'>";
  for (size_t i = 0; i < bars.size(); ++i) {
    double y0 = 5 + i * row, a = x(std::min(0.0, bars[i].second)), b = x(std::max(0.0, bars[i].second));
    std::string lab = bars[i].first.size() > 40 ? bars[i].first.substr(0, 39) + "..." : bars[i].first;
    s << "<text x='" << L - 6 << "' y='" << y0 + 12 << "' font-size='11' text-anchor='end'>" << esc(lab) << "</text>";
    s << "<rect x='" << a << "' y='" << y0 + 2 << "' width='" << std::max(1.0, b - a) << "' height='" << row - 4
      << "' fill='" << (i == 0 ? "#ff7f0e" : "#1f77b4") << "'/>";
    s << "<text x='" << b + 4 << "' y='" << y0 + 12 << "' font-size='11'>" << num(bars[i].second, 4) << esc(unit)
      << "</text>";
  }
  s << "</svg>";
  return s.str();
}

}  // namespace

std::string accuracy_report_html(const nlohmann::json& report) {
  std::ostringstream h;
  const auto& res = report["result"];
  h << "<!DOCTYPE html><html><head><meta charset='utf-8'><title>quac accuracy-aware quantization report</title>"
    << "<style>body{font-family:sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse}"
    << "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#eee}"
    << "td:first-child,th:first-child{text-align:left}.bad{color:#c00;font-weight:bold}.ok{color:#080}</style>"
    << "</head><body><h1>Accuracy-aware quantization</h1>";
  h << "<p class='" << (res["budget_met"].get<bool>() ? "ok" : "bad") << "'>" << esc(res["summary"].get<std::string>())
    << "</p>";
  h << "<p>Dataset: " << esc(report["dataset"].get<std::string>()) << ". Budget: " << report["maximal_drop"] << " ("
    << esc(report["drop_type"].get<std::string>())
    << "). Ranking: " << esc(report["ranking"]["method"].get<std::string>()) << " on "
    << report["ranking"]["subset_size"] << " items. " << res["iterations"] << " iterations, " << res["inferences"]
    << " inferences, " << num(jnum(res["wall_seconds"]), 1) << " s wall time.</p>";
  for (const auto& n : report["notes"]) h << "<p>" << esc(n.get<std::string>()) << "</p>";
  // Final comparison.
  h << "<h2>FP32, full INT8 and the result</h2><table><tr><th>model</th>";
  for (const auto& [name, m] : report["metrics"].items()) h << "<th>" << esc(name) << "</th><th>drop</th>";
  h << "<th>groups reverted</th><th>latency (ms, batch 1)</th></tr>";
  std::vector<std::pair<std::string, double>> latency;
  for (const char* key : {"fp32", "int8", "result"}) {
    const auto& e = res[key];
    std::string title = key == std::string("fp32") ? "FP32" : key == std::string("int8") ? "full INT8" : "result";
    h << "<tr><td>" << title << "</td>";
    for (const auto& [name, m] : report["metrics"].items())
      h << "<td>" << (e["metrics"].contains(name) ? num(jnum(e["metrics"][name])) : "-") << "</td><td>"
        << (e["drops"].contains(name) ? num(jnum(e["drops"][name])) : "") << "</td>";
    std::string groups = key == std::string("fp32")   ? "all"
                         : key == std::string("int8") ? "0"
                                                      : std::to_string(res["groups_reverted"].get<size_t>());
    h << "<td>" << groups << " of " << res["groups_total"] << "</td><td>"
      << (e["latency_ms"].is_number() ? num(jnum(e["latency_ms"]), 3) : "-") << "</td></tr>";
    if (e["latency_ms"].is_number()) latency.push_back({title, jnum(e["latency_ms"])});
  }
  h << "</table>";
  if (res.contains("latency") && res["latency"]["faster_than_fp32"].is_boolean()) {
    bool faster = res["latency"]["faster_than_fp32"].get<bool>();
    h << "<p class='" << (faster ? "ok" : "bad") << "'>The result is " << (faster ? "" : "NOT ") << "faster than FP32 ("
      << num(jnum(res["latency"]["speedup_vs_fp32"]), 2)
      << "x FP32's speed; latency: " << esc(res["latency"]["method"].get<std::string>()) << ").</p>";
  }
  h << "<h2>Accuracy drop per iteration</h2>" << drop_plot(report);
  if (!report["rankings"].empty()) {
    const auto& first = report["rankings"][0];
    std::vector<std::pair<std::string, double>> bars;
    for (const auto& s : first["scores"]) {
      if (bars.size() >= 40) break;
      bars.push_back(
          {"#" + std::to_string(s["group"].get<size_t>()) + " " + s["label"].get<std::string>(), jnum(s["score"])});
    }
    h << "<h2>Ranking scores (first ranking, " << esc(first["method"].get<std::string>())
      << "; higher = better model with that group reverted)</h2>" << bar_plot(bars, "");
    if (first["scores"].size() > bars.size())
      h << "<p>(" << first["scores"].size() - bars.size() << " more groups in the JSON report)</p>";
  }
  if (!latency.empty()) h << "<h2>Latency</h2>" << bar_plot(latency, " ms");
  h << "<h2>Every evaluation</h2><table><tr><th>#</th><th>phase</th><th>reverted now</th><th>groups reverted</th>";
  for (const auto& [name, m] : report["metrics"].items()) h << "<th>" << esc(name) << "</th><th>drop</th>";
  h << "<th>decision</th><th>inferences</th><th>s</th></tr>";
  size_t k = 0;
  for (const auto& e : report["evaluations"]) {
    h << "<tr><td>" << k++ << "</td><td>" << esc(e["phase"].get<std::string>()) << "</td><td>"
      << esc(e.value("last_reverted", std::string())) << "</td><td>" << e["reverted_groups"].size() << "</td>";
    for (const auto& [name, m] : report["metrics"].items())
      h << "<td>" << (e["metrics"].contains(name) ? num(jnum(e["metrics"][name])) : "-") << "</td><td>"
        << (e["drops"].contains(name) ? num(jnum(e["drops"][name])) : "") << "</td>";
    h << "<td>" << esc(e["decision"].get<std::string>()) << "</td><td>" << e["inferences"] << "</td><td>"
      << num(jnum(e["seconds"]), 2) << "</td></tr>";
  }
  h << "</table><h2>Reverted groups</h2><ol>";
  for (const auto& g : res["reverted"])
    h << "<li>#" << g["group"] << " " << esc(g["label"].get<std::string>()) << "</li>";
  h << "</ol></body></html>\n";
  return h.str();
}

std::string accuracy_report_table(const nlohmann::json& report) {
  const auto& res = report["result"];
  std::ostringstream t;
  char buf[64];
  auto cell = [&](const std::string& text, int width) {
    std::snprintf(buf, sizeof buf, "%*s", width, text.c_str());
    t << buf;
  };
  cell("", -10);
  for (const auto& [name, m] : report["metrics"].items()) cell(name, 10), cell("drop", 9);
  cell("reverted", 12), cell("latency ms", 12), cell("speed vs FP32", 15);
  t << "\n";
  const auto& lat = res.value("latency", nlohmann::json::object());
  double fp32_ms = jnum(res["fp32"]["latency_ms"]);
  std::string total = std::to_string(res["groups_total"].get<size_t>());
  for (const char* key : {"fp32", "int8", "result"}) {
    const auto& e = res[key];
    std::string k = key;
    cell(k == "fp32" ? "FP32" : k == "int8" ? "full INT8" : "result", -10);
    for (const auto& [name, m] : report["metrics"].items()) {
      cell(e["metrics"].contains(name) ? num(jnum(e["metrics"][name])) : "-", 10);
      cell(k != "fp32" && e["drops"].contains(name) ? num(jnum(e["drops"][name])) : "-", 9);
    }
    cell(k == "fp32" ? "all"
                     : (k == "int8" ? "0" : std::to_string(res["groups_reverted"].get<size_t>())) + " of " + total,
         12);
    double ms = jnum(e["latency_ms"]);
    cell(ms > 0 ? num(ms, 3) : "-", 12);
    cell(ms > 0 && fp32_ms > 0 ? num(fp32_ms / ms, 2) + "x" : "-", 15);
    t << "\n";
  }
  if (lat.contains("faster_than_fp32") && lat["faster_than_fp32"].is_boolean()) {
    bool faster = lat["faster_than_fp32"].get<bool>();
    t << (faster ? "The result is faster than FP32: " : "The result is NOT faster than FP32: ")
      << num(jnum(lat["speedup_vs_fp32"]), 2) << "x FP32's speed at batch 1 (" << lat.value("method", std::string())
      << ").\n";
  } else {
    t << "Latency not measured.\n";
  }
  return t.str();
}

void write_accuracy_report(const nlohmann::json& report, const std::string& json_path) {
  std::filesystem::path html = std::filesystem::path(json_path).replace_extension(".html");
  QUAC_CHECK(html.string() != json_path, kInvalidArgument, "report path '", json_path,
             "' must not end in .html (the HTML twin goes beside it)");
  std::string page = accuracy_report_html(report);
  write_file_atomic(json_path, report.dump(2) + "\n");
  write_file_atomic(html.string(), page);
}

}  // namespace quac
