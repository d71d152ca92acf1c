#include "quant/range_estimator.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "quac/error.h"

namespace quac::quant {
namespace {

// Linear-interpolated quantile (numpy's default) of values; reorders them.
template <typename T>
double quantile(std::vector<T>& v, double q) {
  if (v.empty()) return 0;
  q = std::clamp(q, 0.0, 1.0);
  double pos = q * static_cast<double>(v.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(pos));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(lo), v.end());
  double a = v[lo];
  if (lo + 1 >= v.size()) return a;
  double b = *std::min_element(v.begin() + static_cast<long>(lo) + 1, v.end());
  return a + (b - a) * (pos - static_cast<double>(lo));
}

double mean(const std::vector<double>& v) {
  return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

std::vector<double> without_outliers(std::vector<double> v, double outlier_prob) {
  std::vector<double> copy = v;
  double lo = quantile(copy, outlier_prob), hi = quantile(copy, 1 - outlier_prob);
  std::vector<double> kept;
  for (double x : v)
    if (x >= lo && x <= hi) kept.push_back(x);
  return kept.empty() ? v : kept;
}

const char* const kTypes[] = {"min", "max", "abs_max", "quantile", "abs_quantile"};
const char* const kAggregators[] = {"mean",        "max", "min", "median", "mean_no_outliers", "median_no_outliers",
                                    "hl_estimator"};

}  // namespace

RangeEstimatorConfig range_estimator_preset(const std::string& name) {
  if (name == "default") return {};
  if (name == "quantile") return {{"quantile", "mean", 1e-4, {}}, {"quantile", "mean", 1e-4, {}}, ""};
  if (name == "mse" || name == "kl") {
    RangeEstimatorConfig c;
    c.histogram = name;
    return c;
  }
  QUAC_THROW(kInvalidArgument, "range_estimator.preset '", name, "' is not one of default, quantile, mse, kl");
}

void AbsHistogram::init(double max_abs_value, size_t bins) {
  max_abs = max_abs_value;
  counts.assign(std::max<size_t>(bins, 1), 0.0);
}

void AbsHistogram::add(const float* values, size_t n) {
  if (counts.empty()) return;
  double width = max_abs / static_cast<double>(counts.size());
  size_t last = counts.size() - 1;
  for (size_t i = 0; i < n; ++i) {
    double a = std::fabs(values[i]);
    if (!std::isfinite(a)) continue;
    size_t b = width > 0 ? static_cast<size_t>(a / width) : 0;
    counts[std::min(b, last)] += 1;
  }
}

double mse_threshold(const AbsHistogram& h, int levels) {
  size_t bins = h.counts.size();
  if (bins == 0 || !(h.max_abs > 0)) return h.max_abs;
  double w = h.max_abs / static_cast<double>(bins);
  // Suffix sums of count, count * x, count * x^2 at bin centres: the clipping error beyond t in O(1) per t.
  std::vector<double> s0(bins + 1, 0.0), s1(bins + 1, 0.0), s2(bins + 1, 0.0);
  for (size_t j = bins; j-- > 0;) {
    double x = (static_cast<double>(j) + 0.5) * w, c = h.counts[j];
    s0[j] = s0[j + 1] + c;
    s1[j] = s1[j + 1] + c * x;
    s2[j] = s2[j + 1] + c * x * x;
  }
  double best = h.max_abs, best_err = INFINITY;
  for (size_t i = 1; i <= bins; ++i) {
    double t = static_cast<double>(i) * w, step = t / levels;
    double inside = s0[0] - s0[i];
    double err = inside * step * step / 12.0 + (s2[i] - 2 * t * s1[i] + t * t * s0[i]);
    if (err < best_err) {
      best_err = err;
      best = t;
    }
  }
  return best;
}

double kl_threshold(const AbsHistogram& h, int levels) {
  size_t bins = h.counts.size(), q = static_cast<size_t>(std::max(levels, 1)) + 1;
  if (bins <= q || !(h.max_abs > 0)) return h.max_abs;
  double w = h.max_abs / static_cast<double>(bins);
  double best_kl = INFINITY;
  size_t best_i = bins;
  std::vector<double> p, expanded;
  for (size_t i = q; i <= bins; ++i) {
    // Reference: the first i bins, the clipped tail folded into the last one.
    p.assign(h.counts.begin(), h.counts.begin() + static_cast<long>(i));
    for (size_t j = i; j < bins; ++j) p[i - 1] += h.counts[j];
    // Candidate: the first i bins merged into q levels, each level's mass spread evenly over its non-empty bins.
    expanded.assign(i, 0.0);
    for (size_t k = 0; k < q; ++k) {
      size_t b0 = k * i / q, b1 = (k + 1) * i / q;
      double mass = 0, nonzero = 0;
      for (size_t j = b0; j < b1; ++j) {
        mass += h.counts[j];
        nonzero += h.counts[j] > 0;
      }
      for (size_t j = b0; j < b1; ++j)
        if (h.counts[j] > 0) expanded[j] = mass / nonzero;
    }
    double ps = std::accumulate(p.begin(), p.end(), 0.0), qs = std::accumulate(expanded.begin(), expanded.end(), 0.0);
    if (!(ps > 0) || !(qs > 0)) continue;
    double kl = 0;
    for (size_t j = 0; j < i; ++j) {
      if (p[j] <= 0) continue;
      double pj = p[j] / ps, qj = expanded[j] / qs;
      kl += qj > 0 ? pj * std::log(pj / qj) : pj * std::log(pj / 1e-12);
    }
    if (kl < best_kl) {
      best_kl = kl;
      best_i = i;
    }
  }
  return (static_cast<double>(best_i) + 0.5) * w > h.max_abs ? h.max_abs : (static_cast<double>(best_i) + 0.5) * w;
}

void validate(const RangeEstimatorConfig& config) {
  if (!config.histogram.empty() && config.histogram != "mse" && config.histogram != "kl")
    QUAC_THROW(kInvalidArgument, "range_estimator: histogram method '", config.histogram, "' is not one of mse, kl");
  for (const auto* side : {&config.min, &config.max}) {
    const char* which = side == &config.min ? "min" : "max";
    if (std::find(std::begin(kTypes), std::end(kTypes), side->type) == std::end(kTypes))
      QUAC_THROW(kInvalidArgument, "range_estimator.", which, ".type '", side->type,
                 "' is not one of min, max, abs_max, quantile, abs_quantile");
    if (std::find(std::begin(kAggregators), std::end(kAggregators), side->aggregator) == std::end(kAggregators))
      QUAC_THROW(kInvalidArgument, "range_estimator.", which, ".aggregator '", side->aggregator,
                 "' is not one of mean, max, min, median, mean_no_outliers, median_no_outliers, hl_estimator");
    if (!(side->outlier_prob >= 0 && side->outlier_prob < 0.5))
      QUAC_THROW(kInvalidArgument, "range_estimator.", which, ".outlier_prob must be in [0, 0.5)");
  }
}

double sample_statistic(const float* values, size_t n, const StatConfig& config, bool is_min,
                        std::vector<float>& scratch) {
  if (n == 0) return 0;
  const std::string& t = config.type;
  if (t == "min") return *std::min_element(values, values + n);
  if (t == "max") return *std::max_element(values, values + n);
  if (t == "abs_max") {
    float m = 0;
    for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(values[i]));
    return is_min ? -m : m;
  }
  scratch.assign(values, values + n);
  if (t == "abs_quantile") {
    for (float& v : scratch) v = std::fabs(v);
    double q = quantile(scratch, 1 - config.outlier_prob);
    return is_min ? -q : q;
  }
  return quantile(scratch, is_min ? config.outlier_prob : 1 - config.outlier_prob);  // "quantile"
}

double aggregate(std::vector<double>& samples, const StatConfig& config) {
  if (samples.empty()) return 0;
  const std::string& a = config.aggregator;
  double r;
  if (a == "mean")
    r = mean(samples);
  else if (a == "max")
    r = *std::max_element(samples.begin(), samples.end());
  else if (a == "min")
    r = *std::min_element(samples.begin(), samples.end());
  else if (a == "median")
    r = quantile(samples, 0.5);
  else if (a == "mean_no_outliers")
    r = mean(without_outliers(samples, config.outlier_prob));
  else if (a == "median_no_outliers") {
    auto kept = without_outliers(samples, config.outlier_prob);
    r = quantile(kept, 0.5);
  } else {
    // hl_estimator (Hodges-Lehmann): the median of all pairwise means (Walsh averages), robust to outliers.
    std::vector<double> walsh;
    walsh.reserve(samples.size() * (samples.size() + 1) / 2);
    for (size_t i = 0; i < samples.size(); ++i)
      for (size_t j = i; j < samples.size(); ++j) walsh.push_back((samples[i] + samples[j]) / 2);
    r = quantile(walsh, 0.5);
  }
  if (config.clipping_value) r = std::clamp(r, -*config.clipping_value, *config.clipping_value);
  return r;
}

}  // namespace quac::quant
