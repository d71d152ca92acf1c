// SmoothQuant (see smooth_quant.h).
#include "algorithms/smooth_quant.h"

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

// One reader of a smoothed activation: its weight and how the weight's input channels are laid out.
struct Reader {
  size_t node;
  std::string weight;
  bool rows = true;  // input channel j is row j of the weight ([K, N]); else column j ([N, K], Gemm transB=1)
};

struct Candidate {
  std::string value;
  int64_t channels = 0;
  std::vector<Reader> readers;
};

std::vector<Candidate> find_candidates(const ir::Graph& g, const std::set<std::string>& ignored) {
  auto consumers = g.consumers();
  std::vector<Candidate> out;
  for (const auto& [value, readers] : consumers) {
    if (g.initializer(value)) continue;
    Candidate c;
    c.value = value;
    bool ok = !readers.empty();
    for (size_t r : readers) {
      const ir::Node& n = g.nodes[r];
      bool matmul = n.op_type == "MatMul", gemm = n.op_type == "Gemm";
      if (!n.domain.empty() || !(matmul || gemm) || ignored.count(n.name) || n.inputs.size() < 2 ||
          n.inputs[0] != value || n.inputs[1] == value) {
        ok = false;
        break;
      }
      if (gemm && n.attr_int("transA", 0) != 0) {
        ok = false;
        break;
      }
      const Tensor* w = g.initializer(n.inputs[1]);
      auto wreaders = consumers.find(n.inputs[1]);
      if (!w || w->dtype() != DataType::kFloat || w->rank() != 2 || wreaders == consumers.end() ||
          wreaders->second.size() != 1) {
        ok = false;
        break;
      }
      Reader rd{r, n.inputs[1], !(gemm && n.attr_int("transB", 0) != 0)};
      int64_t k = rd.rows ? w->dim(0) : w->dim(1);
      if (c.channels != 0 && c.channels != k) {
        ok = false;
        break;
      }
      c.channels = k;
      c.readers.push_back(rd);
    }
    if (ok) out.push_back(c);
  }
  return out;
}

}  // namespace

Model smooth_quant(const Model& model, const Dataset& data, const SmoothQuantOptions& o, size_t* smoothed) {
  if (smoothed) *smoothed = 0;
  QUAC_CHECK(o.alpha >= 0 && o.alpha <= 1, kInvalidArgument, "SmoothQuant: alpha must be in [0, 1] (got ", o.alpha,
             ")");
  const ir::Model& fp = model.ir();
  std::set<std::string> ignored(o.ignored_nodes.begin(), o.ignored_nodes.end());
  auto candidates = find_candidates(fp.graph, ignored);
  if (candidates.empty()) return Model(model.ir_ptr());

  // Per-channel max |X_j| (channels on the last axis), streaming over the subset.
  std::map<std::string, std::vector<float>> xmax;
  SessionOptions so;
  so.num_threads = o.num_threads;
  for (const auto& c : candidates) {
    so.taps.push_back(c.value);
    xmax[c.value].assign(static_cast<size_t>(c.channels), 0.0f);
  }
  std::vector<size_t> idx(data.size());
  std::iota(idx.begin(), idx.end(), size_t{0});
  if (o.shuffle_data) std::shuffle(idx.begin(), idx.end(), std::mt19937_64(o.seed));
  idx.resize(std::min(idx.size(), std::max<size_t>(o.stat_subset_size, 1)));
  QUAC_CHECK(!idx.empty(), kDatasetError, data.describe(), ": no samples for SmoothQuant");
  Session session(Model(model.ir_ptr()), so);
  size_t batch = std::max<size_t>(o.stat_batch_size, 1);
  for (const auto& in : session.inputs())
    if (in.has_shape && !in.shape.empty() && in.shape[0] > 0) batch = std::min<size_t>(batch, in.shape[0]);
  std::set<std::string> bad;  // activations whose last axis does not match the weights
  for (size_t b = 0; b < idx.size(); b += batch) {
    Batch items = make_batch(data, idx, b, std::min(b + batch, idx.size()));
    session.run(items.inputs, [&](const std::string& v, const Tensor& t) {
      auto it = xmax.find(v);
      if (it == xmax.end() || t.dtype() != DataType::kFloat) return;
      auto& m = it->second;
      if (t.rank() == 0 || t.dim(t.rank() - 1) != static_cast<int64_t>(m.size())) {
        bad.insert(v);
        return;
      }
      const float* p = t.data<float>();
      size_t k = m.size();
      for (int64_t i = 0; i < t.numel(); ++i) {
        size_t j = static_cast<size_t>(i) % k;
        m[j] = std::max(m[j], std::fabs(p[i]));
      }
    });
  }

  auto out = std::make_shared<ir::Model>(fp);
  ir::Graph& g = out->graph;
  size_t n = 0;
  for (const auto& c : candidates) {
    if (bad.count(c.value)) continue;
    const auto& xm = xmax.at(c.value);
    std::vector<float> wmax(static_cast<size_t>(c.channels), 0.0f);
    for (const auto& r : c.readers) {
      const Tensor& w = g.initializers.at(r.weight);
      int64_t rows = w.dim(0), cols = w.dim(1);
      const float* p = w.data<float>();
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) {
          size_t ch = static_cast<size_t>(r.rows ? i : j);
          wmax[ch] = std::max(wmax[ch], std::fabs(p[i * cols + j]));
        }
    }
    std::vector<float> s(static_cast<size_t>(c.channels)), inv(s.size());
    for (size_t j = 0; j < s.size(); ++j) {
      double v = (xm[j] > 0 && wmax[j] > 0)
                     ? std::pow(double(xm[j]), o.alpha) / std::pow(double(wmax[j]), 1.0 - o.alpha)
                     : 1.0;
      v = std::clamp(v, 1e-5, 1e5);
      s[j] = static_cast<float>(v);
      inv[j] = static_cast<float>(1.0 / v);
    }
    for (const auto& r : c.readers) {
      Tensor w = g.initializers.at(r.weight).clone();
      int64_t rows = w.dim(0), cols = w.dim(1);
      float* p = w.data<float>();
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) p[i * cols + j] *= s[static_cast<size_t>(r.rows ? i : j)];
      g.initializers[r.weight] = std::move(w);
    }
    std::string scale = c.value + "_smooth_scale", smoothed_value = c.value + "_smoothed";
    g.initializers[scale] = Tensor::from_vector<float>({c.channels}, inv);
    ir::Node mul;
    mul.op_type = "Mul";
    mul.name = c.value + "_SmoothQuant_Mul";
    mul.inputs = {c.value, scale};
    mul.outputs = {smoothed_value};
    for (const auto& r : c.readers) g.nodes[r.node].inputs[0] = smoothed_value;
    g.nodes.push_back(mul);
    ++n;
  }
  g.topological_sort();
  if (smoothed) *smoothed = n;
  return Model(out);
}

namespace {

QUAC_REGISTER_ALGORITHM("SmoothQuant", [](config::ParamReader& r) -> std::unique_ptr<Algorithm> {
  SmoothQuantOptions o;
  o.alpha = r.get<double>("alpha", 0.5);
  QUAC_CHECK(o.alpha >= 0 && o.alpha <= 1, kInvalidArgument, r.path(), ".alpha must be in [0, 1]");
  read_stat_params(r, o);
  r.accept("target_device");
  r.finish();
  return std::make_unique<GraphTransformAlgorithm<SmoothQuantOptions>>(
      "SmoothQuant", o,
      [](const Model& m, const Dataset& d, const SmoothQuantOptions& so) { return smooth_quant(m, d, so); });
});

}  // namespace
}  // namespace quac::algorithms
