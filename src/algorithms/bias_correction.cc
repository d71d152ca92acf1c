// FastBiasCorrection and BiasCorrection (POT names and parameters), see bias_correction.h.
#include "algorithms/bias_correction.h"

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
#include "quant/qdq.h"
#include "quant/scope.h"

namespace quac::algorithms {
namespace {

// A quantized layer whose bias can absorb a shift of its output's per-channel mean.
struct Site {
  std::string node;   // the quantized op
  std::string value;  // its output (before the bias for MatMul + Add)
  std::string bias;   // initializer holding the bias
  int64_t axis = 1;   // channel axis of `value` (negative: from the end)
  size_t node_index = 0;
};

std::vector<Site> find_sites(const ir::Graph& g, const quant::QuantizationScope& scope) {
  std::set<std::string> quantized;
  for (const auto& q : scope.quantizers)
    for (const auto& [node, input] : q.uses) quantized.insert(node);
  auto consumers = g.consumers();
  // A bias read by several nodes cannot be changed for one of them.
  auto sole_reader = [&](const std::string& v) {
    auto it = consumers.find(v);
    return it != consumers.end() && it->second.size() == 1;
  };
  auto vector_bias = [&](const std::string& v) {
    const Tensor* t = g.initializer(v);
    return t && t->dtype() == DataType::kFloat && t->rank() == 1 && sole_reader(v) && !g.is_output(v);
  };
  std::vector<Site> sites;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& n = g.nodes[i];
    if (!n.domain.empty() || !quantized.count(n.name) || n.outputs.empty()) continue;
    if ((n.op_type == "Conv" || n.op_type == "ConvTranspose") && n.has_input(2) && vector_bias(n.inputs[2])) {
      sites.push_back({n.name, n.outputs[0], n.inputs[2], 1, i});
    } else if (n.op_type == "Gemm" && n.has_input(2) && vector_bias(n.inputs[2])) {
      sites.push_back({n.name, n.outputs[0], n.inputs[2], 1, i});
    } else if (n.op_type == "MatMul") {
      // MatMul followed by Add(bias) (how exporters write Linear on 3-D tensors): the Add is the sole reader.
      auto it = consumers.find(n.outputs[0]);
      if (it == consumers.end() || it->second.size() != 1 || g.is_output(n.outputs[0])) continue;
      const ir::Node& add = g.nodes[it->second[0]];
      if (add.op_type != "Add" || add.inputs.size() != 2) continue;
      const std::string& other = add.inputs[0] == n.outputs[0] ? add.inputs[1] : add.inputs[0];
      if (vector_bias(other)) sites.push_back({n.name, n.outputs[0], other, -1, i});
    }
  }
  return sites;
}

// Per-channel sums of a tensor along `axis`.
struct ChannelMean {
  std::vector<double> sum;
  double count = 0;
  void add(const Tensor& t, int64_t axis) {
    if (t.dtype() != DataType::kFloat || t.rank() == 0) return;
    if (axis < 0) axis += t.rank();
    if (axis < 0 || axis >= t.rank()) return;
    int64_t channels = t.dim(axis), inner = 1, outer = 1;
    for (int64_t d = axis + 1; d < t.rank(); ++d) inner *= t.dim(d);
    for (int64_t d = 0; d < axis; ++d) outer *= t.dim(d);
    if (sum.empty()) sum.assign(static_cast<size_t>(channels), 0.0);
    if (static_cast<int64_t>(sum.size()) != channels) return;
    const float* p = t.data<float>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t c = 0; c < channels; ++c) {
        double s = 0;
        const float* q = p + (o * channels + c) * inner;
        for (int64_t k = 0; k < inner; ++k) s += q[k];
        sum[static_cast<size_t>(c)] += s;
      }
    count += static_cast<double>(outer * inner);
  }
  std::vector<double> mean() const {
    std::vector<double> m(sum.size());
    for (size_t c = 0; c < sum.size(); ++c) m[c] = count > 0 ? sum[c] / count : 0.0;
    return m;
  }
};

std::vector<size_t> subset(const Dataset& data, const BiasCorrectionOptions& o) {
  std::vector<size_t> idx(data.size());
  std::iota(idx.begin(), idx.end(), size_t{0});
  if (o.shuffle_data) std::shuffle(idx.begin(), idx.end(), std::mt19937_64(o.seed));
  idx.resize(std::min(idx.size(), std::max<size_t>(o.stat_subset_size, 1)));
  QUAC_CHECK(!idx.empty(), kDatasetError, data.describe(), ": no samples for bias correction");
  return idx;
}

// Runs `session` over the subset, handing every tapped tensor to `tap` (batch by batch: nothing is kept).
void stream(Session& session, const Dataset& data, const std::vector<size_t>& idx, size_t batch,
            const TapCallback& tap) {
  for (const auto& in : session.inputs())
    if (in.has_shape && !in.shape.empty() && in.shape[0] > 0) batch = std::min<size_t>(batch, in.shape[0]);
  batch = std::max<size_t>(batch, 1);
  for (size_t b = 0; b < idx.size(); b += batch) {
    Batch items = make_batch(data, idx, b, std::min(b + batch, idx.size()));
    session.run(items.inputs, tap);
  }
}

// Applies shift to the bias when its relative magnitude is below threshold. Returns whether it did.
bool apply_shift(ir::Model& m, const Site& s, const std::vector<double>& fp, const std::vector<double>& q,
                 double threshold, bool verbose) {
  Tensor& bias = m.graph.initializers.at(s.bias);
  if (fp.size() != q.size() || static_cast<int64_t>(fp.size()) != bias.numel() || fp.empty()) {
    if (verbose)
      std::fprintf(stderr, "[quac] bias correction: '%s' skipped (bias does not match the output channels)\n",
                   s.node.c_str());
    return false;
  }
  Tensor updated = bias.clone();
  float* b = updated.data<float>();
  double magnitude = 0;
  for (size_t c = 0; c < fp.size(); ++c) {
    double shift = fp[c] - q[c];
    magnitude = std::max(magnitude, b[c] == 0.0f ? (shift == 0 ? 0.0 : INFINITY) : std::fabs(shift / b[c]));
    b[c] = static_cast<float>(b[c] + shift);
  }
  bool ok = std::isinf(threshold) || magnitude < threshold;
  if (verbose)
    std::fprintf(stderr, "[quac] bias correction: '%s' relative shift %.3g -> %s\n", s.node.c_str(), magnitude,
                 ok ? "corrected" : "skipped");
  if (ok) bias = std::move(updated);
  return ok;
}

// The FP32 means of every site's output, in one pass.
std::map<std::string, std::vector<double>> float_means(const Model& fp32, const std::vector<Site>& sites,
                                                       const Dataset& data, const std::vector<size_t>& idx,
                                                       const BiasCorrectionOptions& o) {
  SessionOptions so;
  so.num_threads = o.num_threads;
  std::map<std::string, int64_t> axis;
  for (const auto& s : sites) {
    so.taps.push_back(s.value);
    axis[s.value] = s.axis;
  }
  Session session(fp32, so);
  std::map<std::string, ChannelMean> acc;
  stream(session, data, idx, o.stat_batch_size, [&](const std::string& v, const Tensor& t) {
    if (axis.count(v)) acc[v].add(t, axis[v]);
  });
  std::map<std::string, std::vector<double>> out;
  for (const auto& [v, a] : acc) out[v] = a.mean();
  return out;
}

// A one-node model: `node` of `g` with its initializers, reading its activation inputs as graph inputs.
std::shared_ptr<ir::Model> single_node(const ir::Model& m, const ir::Node& node, const std::string& output) {
  auto mini = std::make_shared<ir::Model>();
  mini->ir_version = m.ir_version;
  mini->opset_imports = m.opset_imports;
  mini->model_path = m.model_path;
  ir::Node n = node;
  n.outputs = {output};
  for (const auto& in : n.inputs) {
    if (in.empty()) continue;
    if (const Tensor* t = m.graph.initializer(in)) {
      mini->graph.initializers[in] = *t;
    } else if (!mini->graph.is_input(in)) {
      ir::ValueInfo v;
      v.name = in;
      v.dtype = DataType::kFloat;
      mini->graph.inputs.push_back(v);
    }
  }
  mini->graph.outputs.push_back(ir::ValueInfo{output, DataType::kFloat, false, {}, ""});
  mini->graph.nodes.push_back(n);
  return mini;
}

}  // namespace

Model fast_bias_correction(const Model& model, const Dataset& data, const BiasCorrectionOptions& o, size_t* corrected) {
  if (corrected) *corrected = 0;
  if (!model.quantized()) return model;
  const quant::QuantizationScope& scope = *model.scope();
  const ir::Model& fp = model.ir();
  auto sites = find_sites(fp.graph, scope);
  if (sites.empty()) return model;
  auto idx = subset(data, o);

  // Each site's layer alone, quantized as the scope says, fed with the FP32 model's input to it.
  struct Layer {
    Site site;
    std::vector<std::string> inputs;  // activation inputs, in the mini model's input order
    std::unique_ptr<Session> session;
    ChannelMean fp, q;
  };
  std::vector<Layer> layers;
  SessionOptions so;
  so.num_threads = o.num_threads;
  std::set<std::string> tapped;
  for (const auto& s : sites) {
    const ir::Node& node = fp.graph.nodes[s.node_index];
    auto mini = single_node(fp, node, s.value);
    quant::QuantizationScope ms;
    for (const auto& q : scope.quantizers) {
      quant::Quantizer copy = q;
      copy.uses.clear();
      for (const auto& u : q.uses)
        if (u.first == node.name) copy.uses.push_back(u);
      if (!copy.uses.empty()) ms.quantizers.push_back(copy);
    }
    Layer layer;
    layer.site = s;
    for (const auto& in : mini->graph.inputs) {
      layer.inputs.push_back(in.name);
      tapped.insert(in.name);
    }
    layer.session =
        std::make_unique<Session>(Model(quant::materialize_qdq(*mini, ms, {.compress_weights = false})), so);
    tapped.insert(s.value);
    layers.push_back(std::move(layer));
  }
  SessionOptions fso = so;
  fso.taps.assign(tapped.begin(), tapped.end());
  Session session(Model(model.ir_ptr()), fso);
  size_t batch = std::max<size_t>(o.stat_batch_size, 1);
  for (const auto& in : session.inputs())
    if (in.has_shape && !in.shape.empty() && in.shape[0] > 0) batch = std::min<size_t>(batch, in.shape[0]);
  for (size_t b = 0; b < idx.size(); b += batch) {
    Batch items = make_batch(data, idx, b, std::min(b + batch, idx.size()));
    std::map<std::string, Tensor> values;
    session.run(items.inputs, [&](const std::string& v, const Tensor& t) { values[v] = t.clone(); });
    for (auto& l : layers) {
      std::map<std::string, Tensor> feeds;
      bool complete = true;
      for (const auto& in : l.inputs) {
        auto it = values.find(in);
        if (it == values.end()) complete = false;
        if (complete) feeds[in] = it->second;
      }
      auto out = values.find(l.site.value);
      if (!complete || out == values.end()) continue;
      auto result = l.session->run(feeds);
      l.fp.add(out->second, l.site.axis);
      l.q.add(result.at(l.site.value), l.site.axis);
    }
  }
  auto updated = std::make_shared<ir::Model>(fp);
  size_t n = 0;
  for (auto& l : layers) n += apply_shift(*updated, l.site, l.fp.mean(), l.q.mean(), o.threshold, o.verbose);
  if (corrected) *corrected = n;
  return Model(updated).with_scope(model.scope_ptr());
}

Model bias_correction(const Model& model, const Dataset& data, const BiasCorrectionOptions& o, size_t* corrected) {
  if (corrected) *corrected = 0;
  if (!model.quantized()) return model;
  auto sites = find_sites(model.ir().graph, *model.scope());
  if (sites.empty()) return model;
  auto idx = subset(data, o);
  auto reference = float_means(Model(model.ir_ptr()), sites, data, idx, o);
  auto current = std::make_shared<ir::Model>(model.ir());
  size_t n = 0;
  // In graph order: each layer sees the quantized model with the earlier layers already corrected.
  for (const auto& s : sites) {
    SessionOptions so;
    so.num_threads = o.num_threads;
    so.taps = {s.value};
    Session session(Model(current).with_scope(model.scope_ptr()), so);
    ChannelMean q;
    stream(session, data, idx, o.stat_batch_size, [&](const std::string& v, const Tensor& t) {
      if (v == s.value) q.add(t, s.axis);
    });
    auto it = reference.find(s.value);
    if (it == reference.end()) continue;
    // POT's BiasCorrection has no relative-shift threshold: every layer is corrected.
    n += apply_shift(*current, s, it->second, q.mean(), std::numeric_limits<double>::infinity(), o.verbose);
  }
  if (corrected) *corrected = n;
  return Model(current).with_scope(model.scope_ptr());
}

namespace {

BiasCorrectionOptions read_options(config::ParamReader& r, bool fast) {
  BiasCorrectionOptions o;
  o.stat_subset_size = r.get<size_t>("stat_subset_size", 300);
  o.stat_batch_size = r.get<size_t>("stat_batch_size", 32);
  o.shuffle_data = r.get<bool>("shuffle_data", false);
  o.seed = r.get<uint64_t>("seed", 0);
  if (fast) o.threshold = r.get<double>("threshold", 2.0);  // BiasCorrection has none: an unknown key there
  QUAC_CHECK(o.stat_subset_size > 0, kInvalidArgument, r.path(), ".stat_subset_size must be positive");
  QUAC_CHECK(o.threshold > 0, kInvalidArgument, r.path(), ".threshold must be positive");
  r.accept("target_device");  // filled in by configs for every algorithm
  r.finish();
  return o;
}

class BiasCorrectionAlgorithm : public Algorithm {
 public:
  BiasCorrectionAlgorithm(BiasCorrectionOptions o, bool fast) : o_(o), fast_(fast) {}
  Model run(const Model& model, Engine& engine) override {
    if (!model.quantized()) {
      std::fprintf(stderr, "[quac] %s: the model is not quantized (put MinMaxQuantization before it); unchanged\n",
                   fast_ ? "FastBiasCorrection" : "BiasCorrection");
      return model;
    }
    BiasCorrectionOptions o = o_;
    o.num_threads = engine.options().num_threads;
    return fast_ ? fast_bias_correction(model, engine.dataset(), o) : bias_correction(model, engine.dataset(), o);
  }

 private:
  BiasCorrectionOptions o_;
  bool fast_;
};

QUAC_REGISTER_ALGORITHM("FastBiasCorrection", [](config::ParamReader& r) -> std::unique_ptr<Algorithm> {
  return std::make_unique<BiasCorrectionAlgorithm>(read_options(r, true), true);
});
QUAC_REGISTER_ALGORITHM("BiasCorrection", [](config::ParamReader& r) -> std::unique_ptr<Algorithm> {
  return std::make_unique<BiasCorrectionAlgorithm>(read_options(r, false), false);
});

}  // namespace
}  // namespace quac::algorithms
