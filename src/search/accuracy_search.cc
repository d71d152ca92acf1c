#include "search/accuracy_search.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>

#include "core/progress.h"
#include "quac/error.h"

namespace quac::search {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<double> as_doubles(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  switch (t.dtype()) {
    case DataType::kFloat:
      for (size_t i = 0; i < v.size(); ++i) v[i] = t.data<float>()[i];
      break;
    case DataType::kInt64:
      for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(t.data<int64_t>()[i]);
      break;
    case DataType::kInt32:
      for (size_t i = 0; i < v.size(); ++i) v[i] = t.data<int32_t>()[i];
      break;
    default:
      QUAC_THROW(kUnsupported, "output-distance ranking: outputs of type ", dtype_name(t.dtype()),
                 " are not supported (use a metric with per-sample values)");
  }
  return v;
}

// The search state shared by its steps: budget arithmetic and the bookkeeping of every evaluation.
class Search {
 public:
  Search(SearchEvaluator& ev, const SearchOptions& o) : ev_(ev), o_(o), start_(Clock::now()) {}

  SearchResult run();

 private:
  // A metric's value turned so that larger is better.
  double oriented(const std::string& name, double v) const {
    return attributes_.at(name).direction == "higher-worse" ? -v : v;
  }
  std::map<std::string, double> drops(const std::map<std::string, double>& metrics) const {
    std::map<std::string, double> d;
    for (const auto& [name, base] : r_.baselines) {
      auto it = metrics.find(name);
      QUAC_CHECK(it != metrics.end(), kMetricError, "the metric did not report '", name, "'");
      d[name] = oriented(name, base) - oriented(name, it->second);
    }
    return d;
  }
  bool within(const std::map<std::string, double>& d) const {
    for (const auto& [name, drop] : d)
      if (!(drop <= r_.allowed_drops.at(name) + 1e-12)) return false;
    return true;
  }
  // How far over budget the worst metric is, in units of its allowed drop (<= 0: within budget).
  double excess(const std::map<std::string, double>& d) const {
    double worst = -std::numeric_limits<double>::infinity();
    for (const auto& [name, drop] : d) {
      double allowed = r_.allowed_drops.at(name);
      worst = std::max(worst, (drop - allowed) / (allowed > 0 ? allowed : 1.0));
    }
    return worst;
  }
  // The metric furthest over budget: the one the ranking works on.
  std::string worst_metric(const std::map<std::string, double>& d) const {
    std::string best;
    double worst = -std::numeric_limits<double>::infinity();
    for (const auto& [name, drop] : d) {
      double allowed = r_.allowed_drops.at(name);
      double e = (drop - allowed) / (allowed > 0 ? allowed : 1.0);
      if (e > worst) worst = e, best = name;
    }
    return best;
  }
  void log(const std::string& line) const {
    if (o_.log) o_.log(line);
  }
  std::string describe(const std::map<std::string, double>& metrics, const std::map<std::string, double>& d) const;
  EvalResult evaluate(EvalRequest request) {
    if (!o_.progress) request.label.clear();
    EvalResult e = ev_.evaluate(request);
    r_.inferences += e.items;
    return e;
  }
  // Evaluates the quantized model without `removed` on the whole set and records it.
  const EvaluationRecord& evaluate_full(const std::set<size_t>& removed, const std::string& phase, bool keep_outputs,
                                        EvalResult* out);
  void choose_ranking_subset(const EvalResult& reference, const std::vector<size_t>& compared,
                             const EvalResult& quantized, const std::string& metric);
  std::vector<size_t> rank(const std::set<size_t>& current, const std::vector<size_t>& candidates,
                           const std::string& metric);
  // The whole search's progress line (stderr, with SearchOptions::progress): the phase starting now, the iteration,
  // the items evaluated so far and the time left, from the speed measured so far. `pending` counts the items of the
  // phases still ahead before the reverts, `iterations_left` the reverts still possible (each a whole-set check), and
  // `rerank` what one more ranking would cost (a step back re-ranks).
  void status(const std::string& phase, size_t pending, size_t iterations_left, size_t rerank) const;

  SearchEvaluator& ev_;
  const SearchOptions& o_;
  Clock::time_point start_;
  SearchResult r_;
  std::map<std::string, MetricAttributes> attributes_;
  std::string method_;                                             // metric | cosine | kl | mse
  std::vector<std::vector<Tensor>> reference_outputs_;             // on the ranking subset, for output-distance ranking
  std::vector<std::pair<std::set<size_t>, double>> full_results_;  // (removed, excess) of every full evaluation
};

void Search::status(const std::string& phase, size_t pending, size_t iterations_left, size_t rerank) const {
  if (!o_.progress) return;
  double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  double speed = elapsed > 0 && r_.inferences > 0 ? static_cast<double>(r_.inferences) / elapsed : 0;
  size_t left = pending + iterations_left * ev_.size();
  // The iteration a phase belongs to: reverts are numbered from 1; the phases before the first revert are iteration 0.
  size_t iteration = static_cast<size_t>(r_.iterations) + (phase.rfind("revert", 0) == 0 ? 1 : 0);
  std::string line = "search, iteration " + std::to_string(iteration);
  if (iterations_left > 0)
    line += " of at most " + std::to_string(iteration + iterations_left - (phase.rfind("revert", 0) == 0 ? 1 : 0));
  line += ": " + phase + "; " + format_count(r_.inferences) + " items done in " + format_duration(elapsed);
  if (left == 0) {
    line += "; nothing left";
  } else if (speed <= 0) {
    line += "; " + format_count(left) + " items left, time left unknown until the first evaluation";
  } else {
    line += "; " + format_duration(static_cast<double>(left) / speed) + " left at most (" + format_count(left) +
            " items at " + format_count(static_cast<size_t>(speed + 0.5)) + " items/s";
    if (rerank > 0 && iterations_left > 0)
      line += "; a re-ranking after a step back adds " + format_duration(static_cast<double>(rerank) / speed);
    line += ")";
  }
  progress_line(line);
}

std::string Search::describe(const std::map<std::string, double>& metrics,
                             const std::map<std::string, double>& d) const {
  std::string s;
  char buf[160];
  for (const auto& [name, v] : metrics) {
    auto it = d.find(name);
    if (it == d.end()) continue;
    std::snprintf(buf, sizeof buf, "%s%s %.4f (drop %.4f, allowed %.4f)", s.empty() ? "" : ", ", name.c_str(), v,
                  it->second, r_.allowed_drops.at(name));
    s += buf;
  }
  return s;
}

const EvaluationRecord& Search::evaluate_full(const std::set<size_t>& removed, const std::string& phase,
                                              bool keep_outputs, EvalResult* out) {
  std::string label = phase == "quantized" ? "evaluate INT8" : "iteration " + std::to_string(r_.iterations);
  EvalResult e = evaluate({.removed = removed, .keep_outputs = keep_outputs, .label = label});
  EvaluationRecord rec;
  rec.phase = phase;
  rec.iteration = r_.iterations;
  rec.removed.assign(removed.begin(), removed.end());
  rec.quantized_groups = r_.total_groups - removed.size();
  rec.metrics = e.metrics;
  rec.drops = drops(e.metrics);
  rec.within_budget = within(rec.drops);
  rec.items = e.items;
  rec.seconds = e.seconds;
  r_.evaluations.push_back(rec);
  full_results_.push_back({removed, excess(rec.drops)});
  if (o_.on_iteration) o_.on_iteration(r_.iterations, removed);
  if (out) *out = std::move(e);
  return r_.evaluations.back();
}

// The items where the quantized model departs most from the reference: largest per-sample metric loss, or largest
// output distance when the ranking works on outputs. Ties keep dataset order, so the choice is deterministic.
void Search::choose_ranking_subset(const EvalResult& reference, const std::vector<size_t>& compared,
                                   const EvalResult& quantized, const std::string& metric) {
  std::vector<double> score(compared.size());
  for (size_t k = 0; k < compared.size(); ++k) {
    size_t item = compared[k];  // quantized was evaluated on every item, so its position is the item index
    if (method_ == "metric") {
      score[k] = oriented(metric, reference.per_sample.at(metric)[k]) -
                 oriented(metric, quantized.per_sample.at(metric)[item]);
    } else {
      score[k] = output_distance(reference.outputs[k], quantized.outputs[item], method_);
    }
  }
  std::vector<size_t> order(compared.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score[a] > score[b]; });
  size_t n = std::min(o_.ranking_subset_size, order.size());
  order.resize(n);
  std::sort(order.begin(), order.end());
  for (size_t k : order) {
    r_.ranking_subset.push_back(compared[k]);
    if (method_ != "metric") reference_outputs_.push_back(reference.outputs[k]);
  }
}

// Scores every candidate group by evaluating the current model without it on the ranking subset; best first.
std::vector<size_t> Search::rank(const std::set<size_t>& current, const std::vector<size_t>& candidates,
                                 const std::string& metric) {
  RankingRecord rec;
  rec.iteration = r_.iterations + 1;
  rec.method = method_;
  rec.metric = metric;
  auto t0 = Clock::now();
  Progress progress(
      "rank " + std::to_string(candidates.size()) + " groups on " + std::to_string(r_.ranking_subset.size()) + " items",
      candidates.size(), o_.progress, "groups");
  for (size_t g : candidates) {
    std::set<size_t> removed = current;
    removed.insert(g);
    EvalResult e = evaluate({.removed = removed, .indices = r_.ranking_subset, .keep_outputs = method_ != "metric"});
    rec.items += e.items;
    double s = 0;
    if (method_ == "metric") {
      auto it = e.metrics.find(metric);
      QUAC_CHECK(it != e.metrics.end(), kMetricError, "the metric did not report '", metric, "'");
      s = oriented(metric, it->second);
    } else {
      QUAC_CHECK(e.outputs.size() == reference_outputs_.size(), kInternal, "ranking: ", e.outputs.size(),
                 " outputs for ", reference_outputs_.size(), " items");
      for (size_t k = 0; k < e.outputs.size(); ++k) s -= output_distance(reference_outputs_[k], e.outputs[k], method_);
      s /= std::max<size_t>(1, e.outputs.size());
    }
    rec.scores.push_back({g, s});
    progress.advance(1);
  }
  progress.finish();
  std::stable_sort(rec.scores.begin(), rec.scores.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  rec.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<size_t> order;
  for (const auto& [g, s] : rec.scores) order.push_back(g);
  if (!rec.scores.empty()) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "ranked %zu groups by %s on %zu items in %s; top: %s", rec.scores.size(),
                  method_ == "metric" ? metric.c_str() : (method_ + " distance").c_str(), r_.ranking_subset.size(),
                  format_duration(rec.seconds).c_str(), ev_.group_label(order[0]).c_str());
    log(buf);
  }
  if (o_.verbose)
    for (size_t k = 0; k < rec.scores.size(); ++k) {
      char buf[256];
      std::snprintf(buf, sizeof buf, "  rank %zu: %s, score %.6g", k + 1, ev_.group_label(rec.scores[k].first).c_str(),
                    rec.scores[k].second);
      log(buf);
    }
  r_.rankings.push_back(std::move(rec));
  return order;
}

SearchResult Search::run() {
  QUAC_CHECK(o_.maximal_drop >= 0 && std::isfinite(o_.maximal_drop), kInvalidArgument,
             "maximal_drop must be a non-negative number, got ", o_.maximal_drop);
  QUAC_CHECK(o_.drop_type == "absolute" || o_.drop_type == "relative", kInvalidArgument, "drop_type: '", o_.drop_type,
             "' is not one of absolute, relative");
  QUAC_CHECK(o_.ranking_subset_size > 0, kInvalidArgument, "ranking_subset_size must be positive");
  QUAC_CHECK(o_.metric_subset_ratio > 0 && o_.metric_subset_ratio <= 1, kInvalidArgument,
             "metric_subset_ratio must be in (0, 1], got ", o_.metric_subset_ratio);
  QUAC_CHECK(o_.ranking == "auto" || o_.ranking == "metric" || o_.ranking == "cosine" || o_.ranking == "kl" ||
                 o_.ranking == "mse",
             kInvalidArgument, "ranking: '", o_.ranking, "' is not one of auto, metric, cosine, kl, mse");
  const size_t n = ev_.size();
  QUAC_CHECK(n > 0, kDatasetError, "the validation dataset is empty");
  attributes_ = ev_.metric_attributes();
  QUAC_CHECK(!attributes_.empty(), kMetricError, "the metric reports no values");
  r_.attributes = attributes_;
  std::vector<size_t> groups = ev_.revertible_groups();
  r_.total_groups = groups.size();
  for (const auto& [name, v] : o_.baseline_values)
    QUAC_CHECK(attributes_.count(name), kInvalidArgument, "metrics: baseline given for '", name,
               "', which the metric does not report");

  // 1. The reference model: on every item, or (baselines given) on metric_subset_ratio of them, for comparison only.
  bool baselines_given = !o_.baseline_values.empty();
  std::vector<size_t> compared(n);
  std::iota(compared.begin(), compared.end(), size_t{0});
  if (baselines_given) {
    size_t m = std::max<size_t>(1, static_cast<size_t>(std::llround(o_.metric_subset_ratio * n)));
    std::vector<size_t> sub;
    for (size_t k = 0; k < m; ++k) sub.push_back(k * n / m);  // evenly spread over the set
    compared = sub;
  }
  // What the phases ahead cost: the reference, the fully quantized model, one ranking of every group on the subset,
  // then at most one whole-set check per group (max_iter_num caps it).
  const size_t subset = std::min(o_.ranking_subset_size, compared.size());
  auto iterations_bound = [&](size_t candidates) {
    if (o_.stop_after_quantized) return size_t{0};
    size_t done = static_cast<size_t>(r_.iterations);
    return o_.max_iter_num > 0 ? std::min(candidates, o_.max_iter_num > done ? o_.max_iter_num - done : 0) : candidates;
  };
  const size_t first_ranking = o_.stop_after_quantized ? 0 : groups.size() * subset;
  status("evaluate reference on " + format_count(compared.size()) + " items", compared.size() + n + first_ranking,
         iterations_bound(groups.size()), first_ranking);
  // Outputs are kept unless the ranking is known to use the metric (auto decides once per-sample values are seen).
  EvalResult reference = evaluate({.reference = true,
                                   .indices = baselines_given ? compared : std::vector<size_t>{},
                                   .keep_outputs = o_.ranking != "metric",
                                   .label = "evaluate reference"});
  for (const auto& [name, attr] : attributes_) {
    QUAC_CHECK(reference.metrics.count(name), kMetricError, "the metric did not report '", name, "'");
    r_.baselines[name] = o_.baseline_values.count(name) ? o_.baseline_values.at(name) : reference.metrics.at(name);
    double b = r_.baselines[name];
    QUAC_CHECK(std::isfinite(b), kMetricError, "baseline of '", name, "' is not finite");
    r_.allowed_drops[name] = o_.drop_type == "relative" ? std::fabs(b) * o_.maximal_drop : o_.maximal_drop;
  }
  r_.reference_metrics = reference.metrics;
  EvaluationRecord ref;
  ref.phase = "reference";
  ref.metrics = reference.metrics;
  ref.items = reference.items;
  ref.seconds = reference.seconds;
  ref.quantized_groups = 0;
  ref.within_budget = true;
  r_.evaluations.push_back(ref);
  log("reference: " + describe(reference.metrics, drops(reference.metrics)));

  // 2. The fully quantized model.
  EvalResult quantized;
  method_ = o_.ranking;
  if (method_ == "auto") {
    method_ = "metric";
    for (const auto& [name, attr] : attributes_)
      if (!attr.per_sample || !reference.per_sample.count(name)) method_ = "cosine";  // no per-sample meaning
  }
  if (method_ == "metric")
    for (const auto& [name, attr] : attributes_)
      QUAC_CHECK(reference.per_sample.count(name), kInvalidArgument, "ranking by metric: '", name,
                 "' has no per-sample values (use ranking cosine, kl or mse)");
  r_.ranking_method = method_;
  status("evaluate INT8 on " + format_count(n) + " items", n + first_ranking, iterations_bound(groups.size()),
         first_ranking);
  const EvaluationRecord& q = evaluate_full({}, "quantized", method_ != "metric", &quantized);
  r_.evaluations.back().decision = q.within_budget ? "within budget" : "over budget";
  r_.quantized_metrics = q.metrics;
  log("INT8: " + describe(q.metrics, q.drops));
  std::set<size_t> current;
  auto finish = [&](const std::string& reason) {
    r_.stop_reason = reason;
    // The best model: the one within budget (the last evaluated), else the smallest excess, then fewest reverts.
    const std::pair<std::set<size_t>, double>* best = nullptr;
    for (const auto& fr : full_results_)
      if (!best || fr.second < best->second - 1e-12 ||
          (std::fabs(fr.second - best->second) <= 1e-12 && fr.first.size() < best->first.size()))
        best = &fr;
    r_.removed = best->first;
    for (const auto& e : r_.evaluations)
      if (e.phase != "reference" && std::set<size_t>(e.removed.begin(), e.removed.end()) == r_.removed) {
        r_.result_metrics = e.metrics;
        r_.result_drops = e.drops;
        r_.budget_met = e.within_budget;
      }
    r_.seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    status("done (" + reason + ")", 0, 0, 0);
    return r_;
  };
  if (q.within_budget) return finish("the fully quantized model is within budget");
  if (o_.stop_after_quantized) return finish("probe: the fully quantized model only");
  if (groups.empty()) return finish("no quantizer group to revert");

  // 3. The ranking subset, chosen once from the reference-vs-quantized comparison of the metric furthest over budget.
  std::string metric = worst_metric(q.drops);
  choose_ranking_subset(reference, compared, quantized, metric);
  reference = EvalResult{};  // the reference outputs needed later were copied for the ranking subset
  quantized = EvalResult{};

  // 4. Revert, one group per iteration.
  std::set<size_t> anchor;  // the last model that improved on its predecessor
  double anchor_excess = full_results_.back().second;
  double current_excess = anchor_excess;
  bool tolerated = false;
  bool greedy = false;        // the fallback below: keep every revert, no step back
  std::set<size_t> excluded;  // groups whose revert made things worse twice in a row: never retried
  std::vector<size_t> ranking;
  size_t cursor = 0;
  bool need_rank = true;
  while (true) {
    if (o_.max_iter_num > 0 && static_cast<size_t>(r_.iterations) >= o_.max_iter_num)
      return finish("max_iter_num (" + std::to_string(o_.max_iter_num) + ") reached");
    if (need_rank || cursor >= ranking.size()) {
      std::vector<size_t> candidates;
      for (size_t g : groups)
        if (!current.count(g) && !excluded.count(g)) candidates.push_back(g);
      if (candidates.empty() && !excluded.empty() && !greedy) {
        // Every group left was excluded by a step back, yet the budget is not met. Groups that hurt one at a time
        // may still be needed together (reverting everything is the FP32 model), so go on greedily from the last
        // improving model: revert in ranking order, keep every revert. Each iteration adds a group, so this ends.
        greedy = true;
        excluded.clear();
        log("every remaining group was excluded by a step back; continuing without step back");
        for (size_t g : groups)
          if (!current.count(g)) candidates.push_back(g);
      }
      if (candidates.empty()) return finish("no group left to revert");
      std::map<std::string, double> d;
      for (auto it = r_.evaluations.rbegin(); it != r_.evaluations.rend(); ++it)
        if (it->phase != "reference" && std::set<size_t>(it->removed.begin(), it->removed.end()) == current) {
          d = it->drops;
          break;
        }
      status("rank " + std::to_string(candidates.size()) + " groups on " + format_count(r_.ranking_subset.size()) +
                 " items",
             candidates.size() * r_.ranking_subset.size(), iterations_bound(candidates.size()),
             candidates.size() * r_.ranking_subset.size());
      ranking = rank(current, candidates, worst_metric(d));
      cursor = 0;
      need_rank = false;
    }
    size_t g = ranking[cursor++];
    std::set<size_t> candidate = current;
    candidate.insert(g);
    size_t remaining = 0;  // groups still to try, this one included
    for (size_t x : groups) remaining += !current.count(x) && !excluded.count(x);
    status("revert " + ev_.group_label(g) + ", check on " + format_count(n) + " items", 0, iterations_bound(remaining),
           (remaining > 0 ? remaining - 1 : 0) * r_.ranking_subset.size());
    ++r_.iterations;
    const EvaluationRecord& rec = evaluate_full(candidate, "revert", false, nullptr);
    EvaluationRecord& mrec = r_.evaluations.back();
    double e = full_results_.back().second;
    char buf[1024];
    // A bound users can plan with: each remaining candidate costs at most one more evaluation on the whole set.
    size_t left = 0;
    for (size_t x : groups) left += !candidate.count(x) && !excluded.count(x);
    if (o_.max_iter_num > 0) left = std::min(left, o_.max_iter_num - static_cast<size_t>(r_.iterations));
    std::snprintf(buf, sizeof buf,
                  "iteration %d: reverted %s -> %s; %zu of %zu groups reverted, %s elapsed, at most %zu more "
                  "iterations of ~%s (plus re-rankings)",
                  r_.iterations, ev_.group_label(g).c_str(), describe(rec.metrics, rec.drops).c_str(), candidate.size(),
                  r_.total_groups,
                  format_duration(std::chrono::duration<double>(Clock::now() - start_).count()).c_str(), left,
                  format_duration(rec.seconds).c_str());
    log(buf);
    if (rec.within_budget) {
      mrec.decision = "within budget";
      current = candidate;
      return finish("within budget");
    }
    if (!o_.use_prev_if_drop_increase || greedy) {
      mrec.decision = e < current_excess ? "better" : "kept";
      current = candidate;
      current_excess = e;
      continue;
    }
    if (e < anchor_excess) {
      mrec.decision = "better";
      current = anchor = candidate;
      current_excess = anchor_excess = e;
      tolerated = false;
    } else if (!tolerated) {
      mrec.decision = "worse, tolerated once";
      current = candidate;
      current_excess = e;
      tolerated = true;
    } else {
      mrec.decision = "worse again, step back";
      // The groups reverted since the anchor made things worse: go back there and re-rank without them.
      for (size_t x : candidate)
        if (!anchor.count(x)) excluded.insert(x);
      current = anchor;
      current_excess = anchor_excess;
      tolerated = false;
      need_rank = true;
      log("stepping back to the model with " + std::to_string(anchor.size()) + " groups reverted and re-ranking");
    }
  }
}

}  // namespace

SearchResult run_search(SearchEvaluator& evaluator, const SearchOptions& options) {
  return Search(evaluator, options).run();
}

double output_distance(const std::vector<Tensor>& reference, const std::vector<Tensor>& other,
                       const std::string& kind) {
  QUAC_CHECK(reference.size() == other.size(), kInvalidArgument, "output distance: ", reference.size(), " vs ",
             other.size(), " outputs");
  double total = 0;
  if (kind == "cosine") {
    double dot = 0, na = 0, nb = 0;
    for (size_t o = 0; o < reference.size(); ++o) {
      auto a = as_doubles(reference[o]), b = as_doubles(other[o]);
      QUAC_CHECK(a.size() == b.size(), kInvalidArgument, "output distance: output ", o, " sizes differ");
      for (size_t i = 0; i < a.size(); ++i) dot += a[i] * b[i], na += a[i] * a[i], nb += b[i] * b[i];
    }
    if (na == 0 && nb == 0) return 0;
    if (na == 0 || nb == 0) return 1;
    return 1 - dot / std::sqrt(na * nb);
  }
  if (kind == "mse") {
    size_t count = 0;
    for (size_t o = 0; o < reference.size(); ++o) {
      auto a = as_doubles(reference[o]), b = as_doubles(other[o]);
      QUAC_CHECK(a.size() == b.size(), kInvalidArgument, "output distance: output ", o, " sizes differ");
      for (size_t i = 0; i < a.size(); ++i) total += (a[i] - b[i]) * (a[i] - b[i]);
      count += a.size();
    }
    return count ? total / count : 0;
  }
  if (kind == "kl") {
    for (size_t o = 0; o < reference.size(); ++o) {
      auto a = as_doubles(reference[o]), b = as_doubles(other[o]);
      QUAC_CHECK(a.size() == b.size(), kInvalidArgument, "output distance: output ", o, " sizes differ");
      const Shape& s = reference[o].shape();
      size_t inner = s.empty() ? 1 : static_cast<size_t>(s.back());
      if (inner == 0) continue;
      for (size_t row = 0; row + inner <= a.size(); row += inner) {
        auto log_softmax = [&](const std::vector<double>& v) {
          double mx = *std::max_element(v.begin() + row, v.begin() + row + inner), sum = 0;
          for (size_t i = 0; i < inner; ++i) sum += std::exp(v[row + i] - mx);
          std::vector<double> out(inner);
          for (size_t i = 0; i < inner; ++i) out[i] = v[row + i] - mx - std::log(sum);
          return out;
        };
        auto la = log_softmax(a), lb = log_softmax(b);
        for (size_t i = 0; i < inner; ++i) total += std::exp(la[i]) * (la[i] - lb[i]);
      }
    }
    return total;
  }
  QUAC_THROW(kInvalidArgument, "output distance: '", kind, "' is not one of cosine, kl, mse");
}

}  // namespace quac::search
