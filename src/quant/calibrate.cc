#include "quant/calibrate.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <numeric>
#include <random>

#include "core/progress.h"
#include "ir/graph.h"
#include "quac/session.h"

namespace quac::quant {

void collect_activation_ranges(const Model& model, const Dataset& data, QuantizationScope& scope,
                               const CalibrationOptions& options) {
  std::map<std::string, std::vector<size_t>> taps;  // value -> activation quantizers
  for (size_t q = 0; q < scope.quantizers.size(); ++q)
    if (!scope.quantizers[q].is_weight) taps[scope.quantizers[q].value].push_back(q);
  if (taps.empty()) return;
  std::vector<size_t> indices(data.size());
  std::iota(indices.begin(), indices.end(), size_t{0});
  if (options.shuffle_data) std::shuffle(indices.begin(), indices.end(), std::mt19937_64(options.seed));
  indices.resize(std::min(indices.size(), std::max<size_t>(options.stat_subset_size, 1)));
  QUAC_CHECK(!indices.empty(), kDatasetError, data.describe(), ": no samples for calibration");

  SessionOptions so;
  so.num_threads = options.num_threads;
  for (const auto& [value, qs] : taps) so.taps.push_back(value);
  Session session(model, so);
  size_t batch = std::max<size_t>(options.stat_batch_size, 1);
  for (const auto& in : session.inputs())
    if (in.has_shape && !in.shape.empty() && in.shape[0] > 0) batch = std::min<size_t>(batch, in.shape[0]);

  validate(options.activation_range);
  // One pass over the subset, handing each tapped float tensor (with its batch rows) to `visit`.
  auto pass = [&](const char* what, const std::function<void(const std::string&, const Tensor&, int64_t)>& visit) {
    Progress progress(what, indices.size(), options.progress);
    for (size_t begin = 0; begin < indices.size(); begin += batch) {
      size_t end = std::min(begin + batch, indices.size());
      Batch b = make_batch(data, indices, begin, end);
      int64_t rows = static_cast<int64_t>(end - begin);
      session.run(b.inputs, [&](const std::string& value, const Tensor& t) {
        if (t.dtype() != DataType::kFloat || t.numel() == 0) return;
        visit(value, t, rows);
      });
      progress.advance(end - begin);
    }
    progress.finish();
  };
  auto set_range = [&](const std::string& value, float lo, float hi) {
    QUAC_CHECK(std::isfinite(lo) && std::isfinite(hi), kMetricError, "activation '", value,
               "' has a non-finite range on the calibration data");
    for (size_t q : taps.at(value)) {
      scope.quantizers[q].range_min = {lo};
      scope.quantizers[q].range_max = {hi};
    }
  };

  if (!options.activation_range.histogram.empty()) {
    // Histogram estimators: global min/max first, then a fixed-size histogram of |x| (memory does not grow with
    // the number of samples), then the threshold that minimises the MSE or the KL divergence.
    std::map<std::string, std::pair<double, double>> minmax;
    pass("statistics (range)", [&](const std::string& value, const Tensor& t, int64_t) {
      auto [lo, hi] = std::minmax_element(t.data<float>(), t.data<float>() + t.numel());
      auto [it, fresh] = minmax.emplace(value, std::make_pair(double(*lo), double(*hi)));
      if (!fresh) it->second = {std::min(it->second.first, double(*lo)), std::max(it->second.second, double(*hi))};
    });
    std::map<std::string, AbsHistogram> hist;
    for (const auto& [value, mm] : minmax) hist[value].init(std::max(std::fabs(mm.first), std::fabs(mm.second)));
    pass("statistics (histogram)", [&](const std::string& value, const Tensor& t, int64_t) {
      hist[value].add(t.data<float>(), static_cast<size_t>(t.numel()));
    });
    for (const auto& [value, qs] : taps) {
      auto it = minmax.find(value);
      QUAC_CHECK(it != minmax.end(), kInternal, "no statistics were collected for '", value, "'");
      auto [lo, hi] = it->second;
      // Positive levels of the quantizer's grid: 255 / 127 at 8 bits, 65535 / 32767 at 16 (GNA activations).
      int bits = scope.quantizers[qs.front()].spec.bits;
      int levels = static_cast<int>(lo >= 0 ? (int64_t{1} << bits) - 1 : (int64_t{1} << (bits - 1)) - 1);
      const AbsHistogram& h = hist.at(value);
      double t = options.activation_range.histogram == "mse" ? mse_threshold(h, levels) : kl_threshold(h, levels);
      set_range(value, static_cast<float>(std::max(lo, -t)), static_cast<float>(std::min(hi, t)));
    }
    return;
  }

  struct Samples {
    std::vector<double> lo, hi;
  };
  std::map<std::string, Samples> samples;
  std::vector<float> scratch;
  pass("statistics", [&](const std::string& value, const Tensor& t, int64_t rows) {
    // Per-sample statistics when the tensor is batch-first, else the whole tensor counts as one sample.
    int64_t n = (t.rank() >= 1 && t.dim(0) == rows) ? rows : 1;
    size_t per = static_cast<size_t>(t.numel() / n);
    const float* p = t.data<float>();
    Samples& s = samples[value];
    for (int64_t k = 0; k < n; ++k) {
      s.lo.push_back(sample_statistic(p + k * per, per, options.activation_range.min, true, scratch));
      s.hi.push_back(sample_statistic(p + k * per, per, options.activation_range.max, false, scratch));
    }
  });
  for (const auto& [value, qs] : taps) {
    auto it = samples.find(value);
    QUAC_CHECK(it != samples.end() && !it->second.lo.empty(), kInternal, "no statistics were collected for '", value,
               "'");
    float lo = static_cast<float>(aggregate(it->second.lo, options.activation_range.min));
    float hi = static_cast<float>(aggregate(it->second.hi, options.activation_range.max));
    set_range(value, lo, hi);
  }
}

void compute_weight_ranges(const ir::Graph& graph, QuantizationScope& scope) {
  for (auto& q : scope.quantizers) {
    if (!q.is_weight) continue;
    const Tensor* w = graph.initializer(q.value);
    QUAC_CHECK(w && w->dtype() == DataType::kFloat, kInternal, "weight '", q.value, "' is not a float initializer");
    const float* p = w->data<float>();
    if (!q.spec.per_channel) {
      auto [lo, hi] = std::minmax_element(p, p + w->numel());
      q.range_min = {w->numel() ? *lo : 0.0f};
      q.range_max = {w->numel() ? *hi : 0.0f};
      continue;
    }
    int64_t axis = q.spec.axis < 0 ? q.spec.axis + w->rank() : q.spec.axis;
    int64_t channels = w->dim(axis), inner = 1, outer = 1;
    for (int64_t d = axis + 1; d < w->rank(); ++d) inner *= w->dim(d);
    for (int64_t d = 0; d < axis; ++d) outer *= w->dim(d);
    q.range_min.assign(static_cast<size_t>(channels), 0.0f);
    q.range_max.assign(static_cast<size_t>(channels), 0.0f);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t c = 0; c < channels; ++c)
        for (int64_t i = 0; i < inner; ++i) {
          float v = p[(o * channels + c) * inner + i];
          q.range_min[static_cast<size_t>(c)] = std::min(q.range_min[static_cast<size_t>(c)], v);
          q.range_max[static_cast<size_t>(c)] = std::max(q.range_max[static_cast<size_t>(c)], v);
        }
  }
}

ParameterConfig preset_parameters(const std::string& preset) {
  QUAC_CHECK(preset == "performance" || preset == "mixed" || preset == "accuracy", kInvalidArgument, "preset '", preset,
             "' is not one of performance, mixed, accuracy");
  ParameterConfig c;
  c.weights.symmetric = preset != "accuracy";
  c.activations.symmetric = preset == "performance";
  return c;
}

void compute_parameters(QuantizationScope& scope, const std::string& preset) {
  compute_parameters(scope, preset_parameters(preset));
}

void compute_parameters(Quantizer& q, const QuantizerMode& mode) {
  QUAC_CHECK(!q.range_min.empty() && q.range_min.size() == q.range_max.size(), kInternal, "quantizer of '", q.value,
             "' has no range");
  int bits = q.spec.bits;
  QUAC_CHECK(bits >= 2 && bits <= 16, kInvalidArgument, "quantizer of '", q.value, "': ", bits,
             " bits (quac stores 2 to 16)");
  bool asymmetric = !mode.symmetric;
  int64_t full = (int64_t{1} << bits) - 1, half = int64_t{1} << (bits - 1);
  if (mode.level_low && mode.level_high) {
    q.spec.level_low = *mode.level_low;
    q.spec.level_high = *mode.level_high;
  } else if (q.is_weight && !asymmetric) {
    q.spec.level_low = -(half - 1);
    q.spec.level_high = half - 1;
  } else if (asymmetric || q.range_min[0] >= 0) {
    q.spec.level_low = 0;
    q.spec.level_high = full;
  } else {
    q.spec.level_low = -half;
    q.spec.level_high = half - 1;
  }
  QUAC_CHECK(q.spec.level_low < q.spec.level_high && q.spec.level_low >= -32768 && q.spec.level_high <= 65535 &&
                 (q.spec.level_low >= 0 || q.spec.level_high <= 32767),
             kInvalidArgument, "quantizer of '", q.value, "': levels [", q.spec.level_low, ", ", q.spec.level_high,
             "] do not fit a 16-bit integer type");
  q.spec.symmetric = !asymmetric;
  q.spec.is_signed = q.spec.level_low < 0;
  q.scale.clear();
  q.zero_point.clear();
  for (size_t c = 0; c < q.range_min.size(); ++c) {
    // The range always contains 0 so that zero (padding, ReLU) is exact.
    float lo = std::min(q.range_min[c], 0.0f), hi = std::max(q.range_max[c], 0.0f);
    float scale;
    int64_t zp = 0;
    if (asymmetric) {
      scale = (hi - lo) / static_cast<float>(q.spec.level_high - q.spec.level_low);
      if (scale > 0)
        zp = std::clamp<int64_t>(std::llround(q.spec.level_low - lo / scale), q.spec.level_low, q.spec.level_high);
    } else if (!q.spec.is_signed) {
      // Symmetric over unsigned levels: the non-negative side only (negative values saturate to 0).
      scale = hi / static_cast<float>(q.spec.level_high);
      zp = q.spec.level_low;
    } else {
      scale = std::max(std::fabs(lo), std::fabs(hi)) / static_cast<float>(q.spec.level_high);
    }
    // A constant-zero tensor has no range; any positive scale represents it exactly.
    if (!(scale > 0) || !std::isfinite(scale)) scale = 1.0f;
    q.scale.push_back(scale);
    q.zero_point.push_back(zp);
  }
}

void compute_parameters(QuantizationScope& scope, const ParameterConfig& config) {
  scope.unify_ranges();  // quantizers sharing a scale (Concat inputs, MaxPool input and output) get one range
  for (auto& q : scope.quantizers) compute_parameters(q, q.is_weight ? config.weights : config.activations);
}

void raise_weight_bits(QuantizationScope& scope, const std::set<size_t>& groups, int bits) {
  for (auto& q : scope.quantizers) {
    if (!q.is_weight || q.group < 0 || !groups.count(static_cast<size_t>(q.group)) || q.spec.bits >= bits) continue;
    q.spec.bits = bits;
    compute_parameters(q, QuantizerMode{.symmetric = q.spec.symmetric});
  }
}

}  // namespace quac::quant
