// ActivationChannelAlignment (see activation_channel_alignment.h).
#include "algorithms/activation_channel_alignment.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include "algorithms/algorithm.h"
#include "ir/graph.h"
#include "quac/session.h"

namespace quac::algorithms {
namespace {

// One producer -> consumer pair. Biases of the producer: the Conv's own (input 2) and/or a constant Add after it;
// every one is scaled, the last one also takes the mean shift.
struct Pair {
  std::string x;  // the aligned activation
  int64_t channels = 0;
  std::string w_in, w_out, b_out;
  std::vector<std::string> b_in;
};

bool all_equal(const std::vector<int64_t>& v, int64_t value) {
  return std::all_of(v.begin(), v.end(), [&](int64_t e) { return e == value; });
}

// A float initializer read by exactly one node input (so editing it changes nothing else).
const Tensor* own_initializer(const ir::Graph& g, const std::map<std::string, std::vector<size_t>>& consumers,
                              const std::string& name) {
  const Tensor* t = name.empty() ? nullptr : g.initializer(name);
  if (!t || t->dtype() != DataType::kFloat || g.is_output(name)) return nullptr;
  auto it = consumers.find(name);
  if (it == consumers.end() || it->second.size() != 1) return nullptr;
  const ir::Node& n = g.nodes[it->second[0]];
  if (std::count(n.inputs.begin(), n.inputs.end(), name) != 1) return nullptr;
  return t;
}

// The consumer conditions are POT's: group 1, no padding (the mean shift moves into its bias exactly only then),
// unit strides and dilations.
bool alignable_consumer(const ir::Node& n) {
  if (!n.domain.empty() || n.op_type != "Conv" || n.inputs.size() < 2) return false;
  std::string pad = n.attr_string("auto_pad", "NOTSET");
  if (pad != "NOTSET" && pad != "VALID") return false;
  return n.attr_int("group", 1) == 1 && all_equal(n.attr_ints("pads"), 0) && all_equal(n.attr_ints("strides"), 1) &&
         all_equal(n.attr_ints("dilations"), 1);
}

std::vector<Pair> find_pairs(const ir::Graph& g, const std::set<std::string>& ignored) {
  auto consumers = g.consumers();
  auto producers = g.producers();
  auto single_reader = [&](const std::string& v) {
    auto it = consumers.find(v);
    return it != consumers.end() && it->second.size() == 1 && !g.is_output(v);
  };
  std::vector<Pair> out;
  for (const auto& consumer : g.nodes) {
    if (!alignable_consumer(consumer) || ignored.count(consumer.name)) continue;
    Pair p;
    p.x = consumer.inputs[0];
    if (p.x.empty() || g.initializer(p.x) || !single_reader(p.x)) continue;
    const Tensor* w_out = own_initializer(g, consumers, consumer.inputs[1]);
    if (!w_out || w_out->rank() < 3) continue;
    p.channels = w_out->dim(1);
    p.w_out = consumer.inputs[1];
    if (consumer.has_input(2)) {
      const Tensor* b = own_initializer(g, consumers, consumer.inputs[2]);
      if (!b || b->numel() != w_out->dim(0)) continue;
      p.b_out = consumer.inputs[2];
    }
    auto prod = producers.find(p.x);
    if (prod == producers.end()) continue;
    const ir::Node* producer = &g.nodes[prod->second];
    std::string add_bias;
    if (producer->domain.empty() && producer->op_type == "Add" && producer->inputs.size() == 2) {
      // Conv -> Add(constant per-channel bias) -> Conv: step over the bias.
      int k = g.initializer(producer->inputs[1]) ? 1 : (g.initializer(producer->inputs[0]) ? 0 : -1);
      if (k < 0) continue;
      const Tensor* b = own_initializer(g, consumers, producer->inputs[k]);
      const std::string& y = producer->inputs[1 - k];
      // One value per channel of axis 1 of the activation (as many dims as the weights): [C, 1, 1] or [1, C, 1, 1]
      // for a 2-D convolution. A [C] bias would broadcast over the last axis instead.
      int64_t from_right = w_out->rank() - 1;
      if (!b || b->numel() != p.channels || b->rank() < from_right || b->dim(b->rank() - from_right) != p.channels)
        continue;
      if (g.initializer(y) || !single_reader(y)) continue;
      add_bias = producer->inputs[k];
      auto pp = producers.find(y);
      if (pp == producers.end()) continue;
      producer = &g.nodes[pp->second];
    }
    if (!producer->domain.empty() || producer->op_type != "Conv" || producer->inputs.size() < 2 ||
        ignored.count(producer->name))
      continue;
    const Tensor* w_in = own_initializer(g, consumers, producer->inputs[1]);
    if (!w_in || w_in->rank() < 3 || w_in->dim(0) != p.channels) continue;
    p.w_in = producer->inputs[1];
    if (producer->has_input(2)) {
      const Tensor* b = own_initializer(g, consumers, producer->inputs[2]);
      if (!b || b->numel() != p.channels) continue;
      p.b_in.push_back(producer->inputs[2]);
    }
    if (!add_bias.empty()) p.b_in.push_back(add_bias);
    out.push_back(p);
  }
  return out;
}

// numpy's default (linear interpolation) quantile of v (reordered).
double quantile(std::vector<float>& v, double q) {
  double pos = q * static_cast<double>(v.size() - 1);
  size_t i = static_cast<size_t>(pos);
  std::nth_element(v.begin(), v.begin() + static_cast<long>(i), v.end());
  double a = v[i];
  if (i + 1 >= v.size()) return a;
  double b = *std::min_element(v.begin() + static_cast<long>(i) + 1, v.end());
  return a + (pos - static_cast<double>(i)) * (b - a);
}

double median(std::vector<double> v) {
  size_t n = v.size();
  std::sort(v.begin(), v.end());
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Per-channel statistics over the samples: one (lo, hi) per sample and channel.
struct ChannelSamples {
  std::vector<std::vector<double>> lo, hi;  // [channel][sample]
};

}  // namespace

Model align_activation_channels(const Model& model, const Dataset& data, const ChannelAlignmentOptions& o,
                                size_t* aligned) {
  if (aligned) *aligned = 0;
  const ir::Model& fp = model.ir();
  std::set<std::string> ignored(o.ignored_nodes.begin(), o.ignored_nodes.end());
  auto pairs = find_pairs(fp.graph, ignored);
  if (pairs.empty()) return Model(model.ir_ptr());

  std::map<std::string, ChannelSamples> stats;
  SessionOptions so;
  so.num_threads = o.num_threads;
  for (const auto& p : pairs) {
    so.taps.push_back(p.x);
    stats[p.x].lo.resize(static_cast<size_t>(p.channels));
    stats[p.x].hi.resize(static_cast<size_t>(p.channels));
  }
  std::vector<size_t> idx(data.size());
  std::iota(idx.begin(), idx.end(), size_t{0});
  if (o.shuffle_data) std::shuffle(idx.begin(), idx.end(), std::mt19937_64(o.seed));
  idx.resize(std::min(idx.size(), std::max<size_t>(o.stat_subset_size, 1)));
  QUAC_CHECK(!idx.empty(), kDatasetError, data.describe(), ": no samples for ActivationChannelAlignment");
  Session session(Model(model.ir_ptr()), so);
  size_t batch = std::max<size_t>(o.stat_batch_size, 1);
  for (const auto& in : session.inputs())
    if (in.has_shape && !in.shape.empty() && in.shape[0] > 0) batch = std::min<size_t>(batch, in.shape[0]);
  std::set<std::string> bad;  // activations not laid out as [N, C, ...]
  std::vector<float> scratch;
  for (size_t b = 0; b < idx.size(); b += batch) {
    size_t end = std::min(b + batch, idx.size());
    Batch items = make_batch(data, idx, b, end);
    int64_t rows = static_cast<int64_t>(end - b);
    session.run(items.inputs, [&](const std::string& v, const Tensor& t) {
      auto it = stats.find(v);
      if (it == stats.end() || t.dtype() != DataType::kFloat) return;
      ChannelSamples& s = it->second;
      int64_t channels = static_cast<int64_t>(s.lo.size());
      if (t.rank() < 3 || t.dim(0) != rows || t.dim(1) != channels) {
        bad.insert(v);
        return;
      }
      int64_t inner = rows * channels > 0 ? t.numel() / (rows * channels) : 0;
      if (inner == 0) {
        bad.insert(v);
        return;
      }
      const float* p = t.data<float>();
      for (int64_t n = 0; n < rows; ++n)
        for (int64_t c = 0; c < channels; ++c) {
          const float* row = p + (n * channels + c) * inner;
          scratch.assign(row, row + inner);
          // POT's statistics: the 1e-4 and 1 - 1e-4 quantiles of the channel, per sample.
          s.lo[static_cast<size_t>(c)].push_back(quantile(scratch, 1e-4));
          s.hi[static_cast<size_t>(c)].push_back(quantile(scratch, 1 - 1e-4));
        }
    });
  }

  auto out = std::make_shared<ir::Model>(fp);
  ir::Graph& g = out->graph;
  size_t n_aligned = 0;
  for (const auto& p : pairs) {
    if (bad.count(p.x)) continue;
    const ChannelSamples& s = stats.at(p.x);
    if (s.lo.empty() || s.lo[0].empty()) continue;
    size_t C = static_cast<size_t>(p.channels);
    std::vector<double> mean(C), range(C);
    for (size_t c = 0; c < C; ++c) {
      double lo = median(s.lo[c]), hi = median(s.hi[c]);
      mean[c] = 0.5 * (lo + hi);
      range[c] = hi - lo;
    }
    Tensor w_out = g.initializers.at(p.w_out).clone();
    int64_t cout = w_out.dim(0), kernel = w_out.numel() / (cout * p.channels);
    float* wo = w_out.data<float>();
    // Means: only when both sides have a bias (POT's condition).
    if (!p.b_in.empty() && !p.b_out.empty()) {
      Tensor b_in = g.initializers.at(p.b_in.back()).clone();
      for (size_t c = 0; c < C; ++c) b_in.data<float>()[c] -= static_cast<float>(mean[c]);
      g.initializers[p.b_in.back()] = std::move(b_in);
      Tensor b_out = g.initializers.at(p.b_out).clone();
      for (int64_t oc = 0; oc < cout; ++oc) {
        double shift = 0;
        for (int64_t c = 0; c < p.channels; ++c) {
          double wsum = 0;
          for (int64_t k = 0; k < kernel; ++k) wsum += wo[(oc * p.channels + c) * kernel + k];
          shift += wsum * mean[static_cast<size_t>(c)];
        }
        b_out.data<float>()[oc] += static_cast<float>(shift);
      }
      g.initializers[p.b_out] = std::move(b_out);
    }
    // Scales: relative to the median positive range, clipped to [0.01, 100]; empty ranges stay.
    std::vector<double> positive;
    for (double r : range)
      if (r > 0) positive.push_back(r);
    if (!positive.empty()) {
      double med = median(positive);
      std::vector<double> f(C, 1.0);
      for (size_t c = 0; c < C; ++c)
        if (range[c] > 0) f[c] = std::clamp(range[c] / med, 1e-2, 1e2);
      Tensor w_in = g.initializers.at(p.w_in).clone();
      int64_t per = w_in.numel() / p.channels;
      for (size_t c = 0; c < C; ++c)
        for (int64_t k = 0; k < per; ++k) w_in.data<float>()[static_cast<int64_t>(c) * per + k] /= f[c];
      g.initializers[p.w_in] = std::move(w_in);
      for (const auto& name : p.b_in) {
        Tensor b = g.initializers.at(name).clone();
        for (size_t c = 0; c < C; ++c) b.data<float>()[c] /= f[c];
        g.initializers[name] = std::move(b);
      }
      for (int64_t oc = 0; oc < cout; ++oc)
        for (int64_t c = 0; c < p.channels; ++c)
          for (int64_t k = 0; k < kernel; ++k)
            wo[(oc * p.channels + c) * kernel + k] *= static_cast<float>(f[static_cast<size_t>(c)]);
    }
    g.initializers[p.w_out] = std::move(w_out);
    ++n_aligned;
  }
  if (aligned) *aligned = n_aligned;
  return Model(out);
}

namespace {

QUAC_REGISTER_ALGORITHM("ActivationChannelAlignment", [](config::ParamReader& r) -> std::unique_ptr<Algorithm> {
  ChannelAlignmentOptions o;
  read_stat_params(r, o);
  r.accept("target_device");
  r.accept("preset");
  r.finish();
  return std::make_unique<GraphTransformAlgorithm<ChannelAlignmentOptions>>(
      "ActivationChannelAlignment", o, [](const Model& m, const Dataset& d, const ChannelAlignmentOptions& co) {
        return align_activation_channels(m, d, co);
      });
});

}  // namespace
}  // namespace quac::algorithms
