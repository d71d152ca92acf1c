// RNN, GRU, LSTM: one reference implementation of the recurrent layers, computed in double precision one batch
// item and one time step at a time, following the equations of the ONNX specification.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>
#include <vector>

#include "ops/kernel.h"

namespace quac::ops {
namespace {

enum class Cell { kRnn, kGru, kLstm };

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct Activation {
  enum Kind {
    kRelu,
    kTanh,
    kSigmoid,
    kAffine,
    kLeakyRelu,
    kThresholdedRelu,
    kScaledTanh,
    kHardSigmoid,
    kElu,
    kSoftsign,
    kSoftplus
  };
  Kind kind = kTanh;
  double alpha = 0, beta = 0;

  double operator()(double x) const {
    switch (kind) {
      case kRelu:
        return x > 0 ? x : 0;
      case kTanh:
        return std::tanh(x);
      case kSigmoid:
        return 1 / (1 + std::exp(-x));
      case kAffine:
        return alpha * x + beta;
      case kLeakyRelu:
        return x >= 0 ? x : alpha * x;
      case kThresholdedRelu:
        return x > alpha ? x : 0;
      case kScaledTanh:
        return alpha * std::tanh(beta * x);
      case kHardSigmoid:
        return std::clamp(alpha * x + beta, 0.0, 1.0);
      case kElu:
        return x >= 0 ? x : alpha * (std::exp(x) - 1);
      case kSoftsign:
        return x / (1 + std::fabs(x));
      case kSoftplus:
        return std::log1p(std::exp(x));
    }
    return x;
  }
};

// Parses `activations` with their alphas/betas; the alpha and beta lists are consumed in order by the activations
// that take them (as ONNX Runtime does). Returns per_dir * num_dir activations.
std::vector<Activation> parse_activations(const ir::Node& node, const std::vector<std::string>& defaults,
                                          int64_t num_dir) {
  std::vector<std::string> names = node.attr_strings("activations");
  const size_t per_dir = defaults.size();
  if (names.empty())
    for (int64_t d = 0; d < num_dir; ++d) names.insert(names.end(), defaults.begin(), defaults.end());
  else if (names.size() == per_dir && num_dir == 2)
    names.insert(names.end(), names.begin(), names.end());
  if (names.size() != per_dir * static_cast<size_t>(num_dir))
    QUAC_THROW(kInvalidModel, "node ", node.describe(), ": expected ", per_dir * static_cast<size_t>(num_dir),
               " activations, got ", names.size());
  std::vector<float> alphas = node.attr_floats("activation_alpha"), betas = node.attr_floats("activation_beta");
  size_t next_alpha = 0, next_beta = 0;
  auto take = [](const std::vector<float>& v, size_t& next, double fallback) {
    return next < v.size() ? static_cast<double>(v[next++]) : fallback;
  };
  std::vector<Activation> out;
  for (const auto& name : names) {
    Activation a;
    std::string n = lower(name);
    if (n == "relu") {
      a.kind = Activation::kRelu;
    } else if (n == "tanh") {
      a.kind = Activation::kTanh;
    } else if (n == "sigmoid") {
      a.kind = Activation::kSigmoid;
    } else if (n == "affine") {
      a.kind = Activation::kAffine;
      a.alpha = take(alphas, next_alpha, 1.0);
      a.beta = take(betas, next_beta, 0.0);
    } else if (n == "leakyrelu") {
      a.kind = Activation::kLeakyRelu;
      a.alpha = take(alphas, next_alpha, 0.01);
    } else if (n == "thresholdedrelu") {
      a.kind = Activation::kThresholdedRelu;
      a.alpha = take(alphas, next_alpha, 1.0);
    } else if (n == "scaledtanh") {
      a.kind = Activation::kScaledTanh;
      a.alpha = take(alphas, next_alpha, 1.0);
      a.beta = take(betas, next_beta, 1.0);
    } else if (n == "hardsigmoid") {
      a.kind = Activation::kHardSigmoid;
      a.alpha = take(alphas, next_alpha, 0.2);
      a.beta = take(betas, next_beta, 0.5);
    } else if (n == "elu") {
      a.kind = Activation::kElu;
      a.alpha = take(alphas, next_alpha, 1.0);
    } else if (n == "softsign") {
      a.kind = Activation::kSoftsign;
    } else if (n == "softplus") {
      a.kind = Activation::kSoftplus;
    } else {
      QUAC_THROW(kUnsupported, "node ", node.describe(), ": unsupported activation '", name, "'");
    }
    out.push_back(a);
  }
  return out;
}

std::vector<double> to_doubles(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = t.scalar_as_double(i);
  return v;
}

void store(KernelContext& ctx, size_t index, DataType type, const Shape& shape, const std::vector<double>& v) {
  if (!ctx.output_wanted(index)) return;
  Tensor& t = ctx.allocate_output(index, type, shape);
  for (size_t i = 0; i < v.size(); ++i) {
    switch (type) {
      case DataType::kFloat:
        t.data<float>()[i] = static_cast<float>(v[i]);
        break;
      case DataType::kDouble:
        t.data<double>()[i] = v[i];
        break;
      case DataType::kFloat16:
        t.data<Float16>()[i].bits = float_to_half(static_cast<float>(v[i]));
        break;
      case DataType::kBFloat16:
        t.data<BFloat16>()[i].bits = float_to_bfloat16(static_cast<float>(v[i]));
        break;
      default:
        ctx.fail(std::string("unsupported element type ") + dtype_name(type));
    }
  }
}

class RecurrentKernel : public Kernel {
 public:
  RecurrentKernel(const KernelInfo& info, Cell cell) : cell_(cell) {
    const ir::Node& node = info.node;
    gates_ = cell == Cell::kRnn ? 1 : cell == Cell::kGru ? 3 : 4;
    std::string dir = node.attr_string("direction", "forward");
    if (dir == "forward" || dir == "reverse") {
      num_dir_ = 1;
      reverse_ = dir == "reverse";
    } else if (dir == "bidirectional") {
      num_dir_ = 2;
    } else {
      QUAC_THROW(kInvalidModel, "node ", node.describe(), ": unknown direction '", dir, "'");
    }
    std::vector<std::string> defaults = cell == Cell::kRnn   ? std::vector<std::string>{"Tanh"}
                                        : cell == Cell::kGru ? std::vector<std::string>{"Sigmoid", "Tanh"}
                                                             : std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"};
    acts_ = parse_activations(node, defaults, num_dir_);
    hidden_attr_ = node.attr_int("hidden_size", -1);
    clip_ = node.has("clip") ? static_cast<double>(node.attr_float("clip", 0)) : -1;
    layout_ = info.opset >= 14 ? node.attr_int("layout", 0) : 0;
    if (layout_ != 0 && layout_ != 1) QUAC_THROW(kInvalidModel, "node ", node.describe(), ": layout must be 0 or 1");
    linear_before_reset_ = node.attr_int("linear_before_reset", 0) != 0;
    input_forget_ = node.attr_int("input_forget", 0) != 0;
  }

  void run(KernelContext& ctx) override {
    const Tensor& x_t = ctx.in(0);
    const Tensor& w_t = ctx.in(1);
    const Tensor& r_t = ctx.in(2);
    const Tensor* b_t = ctx.input(3);
    const Tensor* lens_t = ctx.input(4);
    const Tensor* h0_t = ctx.input(5);
    const Tensor* c0_t = cell_ == Cell::kLstm ? ctx.input(6) : nullptr;
    const Tensor* p_t = cell_ == Cell::kLstm ? ctx.input(7) : nullptr;
    const DataType type = x_t.dtype();
    if (!dtype_is_float(type)) ctx.fail(std::string("X must be a floating-point tensor, got ") + dtype_name(type));
    if (x_t.rank() != 3 || w_t.rank() != 3 || r_t.rank() != 3) ctx.fail("X, W and R must have rank 3");
    const int64_t seq = layout_ ? x_t.dim(1) : x_t.dim(0), batch = layout_ ? x_t.dim(0) : x_t.dim(1);
    const int64_t input = x_t.dim(2), nd = num_dir_, g = gates_;
    const int64_t hidden = w_t.dim(1) / g;
    if (w_t.dim(0) != nd || w_t.dim(1) != g * hidden || w_t.dim(2) != input)
      ctx.fail("W has shape " + shape_str(w_t.shape()) + ", expected [" + std::to_string(nd) + "," + std::to_string(g) +
               "*hidden," + std::to_string(input) + "]");
    if (hidden_attr_ >= 0 && hidden_attr_ != hidden)
      ctx.fail("hidden_size " + std::to_string(hidden_attr_) + " does not match W " + shape_str(w_t.shape()));
    if (r_t.shape() != Shape{nd, g * hidden, hidden})
      ctx.fail("R has shape " + shape_str(r_t.shape()) + ", expected " + shape_str({nd, g * hidden, hidden}));
    if (b_t && b_t->shape() != Shape{nd, 2 * g * hidden})
      ctx.fail("B has shape " + shape_str(b_t->shape()) + ", expected " + shape_str({nd, 2 * g * hidden}));
    if (p_t && p_t->shape() != Shape{nd, 3 * hidden})
      ctx.fail("P has shape " + shape_str(p_t->shape()) + ", expected " + shape_str({nd, 3 * hidden}));
    const Shape state_shape = layout_ ? Shape{batch, nd, hidden} : Shape{nd, batch, hidden};
    for (const Tensor* s : {h0_t, c0_t})
      if (s && s->shape() != state_shape)
        ctx.fail("initial state has shape " + shape_str(s->shape()) + ", expected " + shape_str(state_shape));
    std::vector<int64_t> lens(static_cast<size_t>(batch), seq);
    if (lens_t) {
      if (lens_t->numel() != batch) ctx.fail("sequence_lens must have one entry per batch item");
      lens = lens_t->to_int_vector();
      for (int64_t l : lens)
        if (l < 0 || l > seq) ctx.fail("sequence_lens value " + std::to_string(l) + " is out of range");
    }

    const std::vector<double> x = to_doubles(x_t), w = to_doubles(w_t), r = to_doubles(r_t);
    const std::vector<double> b =
        b_t ? to_doubles(*b_t) : std::vector<double>(static_cast<size_t>(nd * 2 * g * hidden));
    const std::vector<double> p = p_t ? to_doubles(*p_t) : std::vector<double>(static_cast<size_t>(nd * 3 * hidden));
    const std::vector<double> h0 =
        h0_t ? to_doubles(*h0_t) : std::vector<double>(static_cast<size_t>(nd * batch * hidden));
    const std::vector<double> c0 =
        c0_t ? to_doubles(*c0_t) : std::vector<double>(static_cast<size_t>(nd * batch * hidden));
    auto x_at = [&](int64_t t, int64_t bi, int64_t i) {
      return x[static_cast<size_t>((layout_ ? bi * seq + t : t * batch + bi) * input + i)];
    };
    auto state_index = [&](int64_t d, int64_t bi) {
      return layout_ ? (bi * nd + d) * hidden : (d * batch + bi) * hidden;
    };
    auto y_index = [&](int64_t t, int64_t d, int64_t bi) {
      return layout_ ? ((bi * seq + t) * nd + d) * hidden : ((t * nd + d) * batch + bi) * hidden;
    };

    std::vector<double> y(static_cast<size_t>(seq * nd * batch * hidden), 0.0);
    std::vector<double> yh(static_cast<size_t>(nd * batch * hidden)), yc(yh.size());
    const size_t gh_size = static_cast<size_t>(g * hidden);
    std::vector<double> gx(gh_size), gr(gh_size), h(static_cast<size_t>(hidden)), c(h.size()), next(h.size());
    auto clip = [&](double v) { return clip_ > 0 ? std::clamp(v, -clip_, clip_) : v; };
    for (int64_t d = 0; d < nd; ++d) {
      const bool rev = reverse_ || d == 1;
      const double* wd = w.data() + d * g * hidden * input;
      const double* rd = r.data() + d * g * hidden * hidden;
      const double* wb = b.data() + d * 2 * g * hidden;
      const double* rb = wb + g * hidden;
      const double* pd = p.data() + d * 3 * hidden;
      const Activation* act = acts_.data() + d * static_cast<int64_t>(acts_.size()) / nd;
      for (int64_t bi = 0; bi < batch; ++bi) {
        const int64_t len = lens[static_cast<size_t>(bi)];
        std::copy_n(h0.begin() + state_index(d, bi), hidden, h.begin());
        std::copy_n(c0.begin() + state_index(d, bi), hidden, c.begin());
        for (int64_t s = 0; s < len; ++s) {
          const int64_t t = rev ? len - 1 - s : s;
          for (int64_t j = 0; j < g * hidden; ++j) {
            double ax = wb[j], ah = rb[j];
            for (int64_t i = 0; i < input; ++i) ax += x_at(t, bi, i) * wd[j * input + i];
            for (int64_t k = 0; k < hidden; ++k) ah += h[static_cast<size_t>(k)] * rd[j * hidden + k];
            gx[static_cast<size_t>(j)] = ax;
            gr[static_cast<size_t>(j)] = ah;
          }
          step(act, gx, gr, rd, rb, pd, hidden, h, c, next, clip);
          for (int64_t j = 0; j < hidden; ++j)
            y[static_cast<size_t>(y_index(t, d, bi) + j)] = h[static_cast<size_t>(j)];
        }
        std::copy_n(h.begin(), hidden, yh.begin() + state_index(d, bi));
        std::copy_n(c.begin(), hidden, yc.begin() + state_index(d, bi));
      }
    }
    store(ctx, 0, type, layout_ ? Shape{batch, seq, nd, hidden} : Shape{seq, nd, batch, hidden}, y);
    if (ctx.num_outputs() > 1) store(ctx, 1, type, state_shape, yh);
    if (cell_ == Cell::kLstm && ctx.num_outputs() > 2) store(ctx, 2, type, state_shape, yc);
  }

 private:
  // One time step: gx/gr hold X*W^T+Wb and H*R^T+Rb per gate; updates h (and c for LSTM).
  template <typename Clip>
  void step(const Activation* act, const std::vector<double>& gx, const std::vector<double>& gr, const double* rd,
            const double* rb, const double* pd, int64_t hidden, std::vector<double>& h, std::vector<double>& c,
            std::vector<double>& next, Clip clip) const {
    const auto H = static_cast<size_t>(hidden);
    if (cell_ == Cell::kRnn) {
      for (size_t j = 0; j < H; ++j) h[j] = act[0](clip(gx[j] + gr[j]));
      return;
    }
    if (cell_ == Cell::kGru) {
      // Gate order z, r, h. The reset gate must be complete before the candidate reads r (.) H_{t-1}.
      std::vector<double> reset(H);
      for (size_t k = 0; k < H; ++k) reset[k] = act[0](clip(gx[H + k] + gr[H + k]));
      for (size_t j = 0; j < H; ++j) {
        double z = act[0](clip(gx[j] + gr[j]));
        double cand;
        if (linear_before_reset_) {
          cand = gx[2 * H + j] + reset[j] * gr[2 * H + j];
        } else {
          double acc = rb[2 * H + j];
          const double* row = rd + (2 * H + j) * H;
          for (size_t k = 0; k < H; ++k) acc += reset[k] * h[k] * row[k];
          cand = gx[2 * H + j] + acc;
        }
        next[j] = (1 - z) * act[1](clip(cand)) + z * h[j];
      }
      h.swap(next);
      return;
    }
    // LSTM, gate order i, o, f, c; peephole order i, o, f.
    for (size_t j = 0; j < H; ++j) {
      double ig = act[0](clip(gx[j] + gr[j] + pd[j] * c[j]));
      double fg = input_forget_ ? 1 - ig : act[0](clip(gx[2 * H + j] + gr[2 * H + j] + pd[2 * H + j] * c[j]));
      double cand = act[1](clip(gx[3 * H + j] + gr[3 * H + j]));
      double cn = fg * c[j] + ig * cand;
      double og = act[0](clip(gx[H + j] + gr[H + j] + pd[H + j] * cn));
      c[j] = cn;
      next[j] = og * act[2](cn);
    }
    h.swap(next);
  }

  Cell cell_;
  int64_t gates_ = 1, num_dir_ = 1, hidden_attr_ = -1, layout_ = 0;
  bool reverse_ = false, linear_before_reset_ = false, input_forget_ = false;
  double clip_ = -1;
  std::vector<Activation> acts_;
};

template <Cell kCell>
std::unique_ptr<Kernel> make_recurrent(const KernelInfo& info, std::string*) {
  return std::make_unique<RecurrentKernel>(info, kCell);
}

QUAC_REGISTER_KERNEL({.domain = "", .op_type = "RNN", .impl = "reference", .factory = make_recurrent<Cell::kRnn>});
QUAC_REGISTER_KERNEL({.domain = "", .op_type = "GRU", .impl = "reference", .factory = make_recurrent<Cell::kGru>});
QUAC_REGISTER_KERNEL({.domain = "", .op_type = "LSTM", .impl = "reference", .factory = make_recurrent<Cell::kLstm>});

}  // namespace
}  // namespace quac::ops
