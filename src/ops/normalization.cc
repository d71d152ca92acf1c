// Normalisation ops: BatchNormalization (inference and opset-14 training mode), InstanceNormalization,
// LayerNormalization, LRN and MeanVarianceNormalization. Statistics are accumulated in double so the reference
// does not depend on summation order.
#include <cmath>
#include <string>

#include "core/parallel.h"
#include "ops/kernel.h"
#include "ops/op_util.h"

namespace quac::ops {
namespace {

std::vector<double> to_doubles(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = t.scalar_as_double(i);
  return v;
}

// Writes `values` (double) into a freshly allocated output of `type`.
void write_output(KernelContext& ctx, size_t index, DataType type, const Shape& shape,
                  const std::vector<double>& values) {
  Tensor& out = ctx.allocate_output(index, type, shape);
  QUAC_DISPATCH_FLOAT(type, ctx, {
    T* p = out.data<T>();
    for (size_t i = 0; i < values.size(); ++i) p[i] = static_cast<T>(values[i]);
  });
}

// BatchNormalization. Before opset 9 a `spatial` = 0 model may give per-activation parameters of shape
// [C, D1, ...]; the parameters' size tells the two layouts apart. is_test / consumed_inputs (opsets 1-6) are
// ignored: models of those opsets are run in inference mode, as every runtime does.
void run_batch_norm(KernelContext& ctx) {
  const ir::Node& node = ctx.node();
  const Tensor& x = ctx.in(0);
  if (x.rank() < 2) ctx.fail("input X has shape " + shape_str(x.shape()) + ", expected [N, C, ...]");
  const int64_t batch = x.dim(0), channels = x.dim(1);
  const int64_t inner = batch * channels != 0 ? x.numel() / (batch * channels) : 0;
  const double epsilon = node.attr_float("epsilon", 1e-5f);
  const bool training = ctx.opset() >= 14 && node.attr_int("training_mode", 0) != 0;
  std::vector<std::vector<double>> params;  // scale, B, mean, var
  int64_t param_size = 0;
  for (size_t i = 1; i <= 4; ++i) {
    const Tensor& p = ctx.in(i);
    if (i == 1) param_size = p.numel();
    if (p.numel() != param_size || (param_size != channels && param_size != channels * inner))
      ctx.fail("input " + std::to_string(i) + " has shape " + shape_str(p.shape()) + ", expected [" +
               std::to_string(channels) + "]");
    params.push_back(to_doubles(p));
  }
  const bool per_channel = param_size == channels;
  std::vector<double>& mean = params[2];
  std::vector<double>& var = params[3];
  std::vector<double> batch_mean, batch_var;
  if (training) {
    if (!per_channel) ctx.fail("training mode needs per-channel parameters");
    batch_mean.assign(static_cast<size_t>(channels), 0.0);
    batch_var.assign(static_cast<size_t>(channels), 0.0);
    QUAC_DISPATCH_FLOAT(x.dtype(), ctx, {
      const T* xp = x.data<T>();
      for (int64_t c = 0; c < channels; ++c) {
        double sum = 0, sq = 0;
        for (int64_t n = 0; n < batch; ++n)
          for (int64_t i = 0; i < inner; ++i) sum += static_cast<double>(xp[(n * channels + c) * inner + i]);
        const double count = static_cast<double>(batch * inner), m = count > 0 ? sum / count : 0.0;
        for (int64_t n = 0; n < batch; ++n)
          for (int64_t i = 0; i < inner; ++i) {
            double d = static_cast<double>(xp[(n * channels + c) * inner + i]) - m;
            sq += d * d;
          }
        batch_mean[static_cast<size_t>(c)] = m;
        batch_var[static_cast<size_t>(c)] = count > 0 ? sq / count : 0.0;
      }
    });
  }
  const std::vector<double>& use_mean = training ? batch_mean : mean;
  const std::vector<double>& use_var = training ? batch_var : var;
  Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
  QUAC_DISPATCH_FLOAT(x.dtype(), ctx, {
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    parallel_for(batch * channels, ctx.num_threads(), [&](int64_t begin, int64_t end) {
      for (int64_t nc = begin; nc < end; ++nc) {
        const int64_t c = nc % channels;
        for (int64_t i = 0; i < inner; ++i) {
          const size_t p = static_cast<size_t>(per_channel ? c : c * inner + i);
          const double a = params[0][p] / std::sqrt(use_var[p] + epsilon);
          yp[nc * inner + i] =
              static_cast<T>((static_cast<double>(xp[nc * inner + i]) - use_mean[p]) * a + params[1][p]);
        }
      }
    });
  });
  if (training) {
    const double momentum = node.attr_float("momentum", 0.9f);
    std::vector<double> running_mean(mean.size()), running_var(var.size());
    for (size_t c = 0; c < mean.size(); ++c) {
      running_mean[c] = mean[c] * momentum + batch_mean[c] * (1 - momentum);
      running_var[c] = var[c] * momentum + batch_var[c] * (1 - momentum);
    }
    if (ctx.num_outputs() > 1 && ctx.output_wanted(1))
      write_output(ctx, 1, ctx.in(3).dtype(), ctx.in(3).shape(), running_mean);
    if (ctx.num_outputs() > 2 && ctx.output_wanted(2))
      write_output(ctx, 2, ctx.in(4).dtype(), ctx.in(4).shape(), running_var);
  } else {
    // Old opsets list the (training-only) statistics as outputs; in inference they are the running values.
    for (size_t i = 1; i < ctx.num_outputs() && i <= 2; ++i)
      if (ctx.output_wanted(i)) ctx.set_output(i, ctx.in(i + 2));
    for (size_t i = 3; i < ctx.num_outputs() && i <= 4; ++i)
      if (ctx.output_wanted(i)) ctx.set_output(i, ctx.in(i));
  }
}

void run_instance_norm(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  if (x.rank() < 3) ctx.fail("input has shape " + shape_str(x.shape()) + ", expected [N, C, D1, ...]");
  const int64_t batch = x.dim(0), channels = x.dim(1),
                inner = batch * channels != 0 ? x.numel() / (batch * channels) : 0;
  for (size_t i = 1; i <= 2; ++i)
    if (ctx.in(i).numel() != channels)
      ctx.fail("input " + std::to_string(i) + " has shape " + shape_str(ctx.in(i).shape()) + ", expected [" +
               std::to_string(channels) + "]");
  const std::vector<double> scale = to_doubles(ctx.in(1)), bias = to_doubles(ctx.in(2));
  const double epsilon = ctx.node().attr_float("epsilon", 1e-5f);
  Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
  QUAC_DISPATCH_FLOAT(x.dtype(), ctx, {
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    parallel_for(batch * channels, ctx.num_threads(), [&](int64_t begin, int64_t end) {
      for (int64_t nc = begin; nc < end; ++nc) {
        const T* v = xp + nc * inner;
        double sum = 0, sq = 0;
        for (int64_t i = 0; i < inner; ++i) sum += static_cast<double>(v[i]);
        const double m = inner ? sum / static_cast<double>(inner) : 0.0;
        for (int64_t i = 0; i < inner; ++i) sq += (static_cast<double>(v[i]) - m) * (static_cast<double>(v[i]) - m);
        const double var = inner ? sq / static_cast<double>(inner) : 0.0;
        const size_t c = static_cast<size_t>(nc % channels);
        const double a = scale[c] / std::sqrt(var + epsilon);
        for (int64_t i = 0; i < inner; ++i)
          yp[nc * inner + i] = static_cast<T>((static_cast<double>(v[i]) - m) * a + bias[c]);
      }
    });
  });
}

// LayerNormalization normalises over the axes [axis, rank); Scale and B broadcast to those axes.
void run_layer_norm(KernelContext& ctx) {
  const ir::Node& node = ctx.node();
  const Tensor& x = ctx.in(0);
  const Tensor& scale_t = ctx.in(1);
  const Tensor* bias_t = ctx.input(2);
  const int64_t axis = normalize_axis(ctx, node.attr_int("axis", -1), x.rank());
  const double epsilon = node.attr_float("epsilon", 1e-5f);
  Shape norm_shape(x.shape().begin() + axis, x.shape().end());
  const int64_t outer = shape_numel(Shape(x.shape().begin(), x.shape().begin() + axis));
  const int64_t inner = shape_numel(norm_shape);
  auto param_offsets = [&](const Tensor& p) {
    broadcast_shapes(ctx, {p.shape(), norm_shape});
    if (p.rank() > static_cast<int64_t>(norm_shape.size()))
      ctx.fail("Scale/B of shape " + shape_str(p.shape()) + " do not broadcast to " + shape_str(norm_shape));
    std::vector<int64_t> offsets(static_cast<size_t>(inner));
    for_each_broadcast(norm_shape, {broadcast_strides(p.shape(), norm_shape)},
                       [&](int64_t i, const std::vector<int64_t>& off) { offsets[static_cast<size_t>(i)] = off[0]; });
    for (int64_t o : offsets)
      if (o >= p.numel()) ctx.fail("Scale/B of shape " + shape_str(p.shape()) + " do not fit " + shape_str(norm_shape));
    return offsets;
  };
  const std::vector<double> scale = to_doubles(scale_t), bias = bias_t ? to_doubles(*bias_t) : std::vector<double>{};
  const std::vector<int64_t> scale_off = param_offsets(scale_t);
  const std::vector<int64_t> bias_off = bias_t ? param_offsets(*bias_t) : std::vector<int64_t>{};
  Shape stat_shape = x.shape();
  for (size_t d = static_cast<size_t>(axis); d < stat_shape.size(); ++d) stat_shape[d] = 1;
  std::vector<double> means(static_cast<size_t>(outer)), inv_stds(static_cast<size_t>(outer));
  Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
  QUAC_DISPATCH_FLOAT(x.dtype(), ctx, {
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    parallel_for(outer, ctx.num_threads(), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const T* v = xp + r * inner;
        double sum = 0, sq = 0;
        for (int64_t i = 0; i < inner; ++i) sum += static_cast<double>(v[i]);
        const double m = inner ? sum / static_cast<double>(inner) : 0.0;
        for (int64_t i = 0; i < inner; ++i) sq += (static_cast<double>(v[i]) - m) * (static_cast<double>(v[i]) - m);
        const double inv_std = 1.0 / std::sqrt((inner ? sq / static_cast<double>(inner) : 0.0) + epsilon);
        means[static_cast<size_t>(r)] = m;
        inv_stds[static_cast<size_t>(r)] = inv_std;
        for (int64_t i = 0; i < inner; ++i) {
          double out = (static_cast<double>(v[i]) - m) * inv_std * scale[static_cast<size_t>(scale_off[i])];
          if (bias_t) out += bias[static_cast<size_t>(bias_off[i])];
          yp[r * inner + i] = static_cast<T>(out);
        }
      }
    });
  });
  if (ctx.num_outputs() > 1 && ctx.output_wanted(1)) write_output(ctx, 1, DataType::kFloat, stat_shape, means);
  if (ctx.num_outputs() > 2 && ctx.output_wanted(2)) write_output(ctx, 2, DataType::kFloat, stat_shape, inv_stds);
}

// LRN: y = x / (bias + alpha / size * sum of x^2 over the neighbouring channels) ^ beta.
void run_lrn(KernelContext& ctx) {
  const ir::Node& node = ctx.node();
  const Tensor& x = ctx.in(0);
  if (x.rank() < 3) ctx.fail("input has shape " + shape_str(x.shape()) + ", expected [N, C, D1, ...]");
  const int64_t size = node.attr_int("size", 0);
  if (size < 1) ctx.fail("attribute size must be positive");
  const double alpha = node.attr_float("alpha", 1e-4f), beta = node.attr_float("beta", 0.75f);
  const double bias = node.attr_float("bias", 1.0f);
  const int64_t batch = x.dim(0), channels = x.dim(1),
                inner = batch * channels != 0 ? x.numel() / (batch * channels) : 0;
  const int64_t before = (size - 1) / 2, after = size - 1 - before;
  Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
  QUAC_DISPATCH_FLOAT(x.dtype(), ctx, {
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    parallel_for(batch * channels, ctx.num_threads(), [&](int64_t begin, int64_t end) {
      for (int64_t nc = begin; nc < end; ++nc) {
        const int64_t n = nc / channels, c = nc % channels;
        const int64_t c0 = std::max<int64_t>(0, c - before), c1 = std::min<int64_t>(channels - 1, c + after);
        for (int64_t i = 0; i < inner; ++i) {
          double sq = 0;
          for (int64_t k = c0; k <= c1; ++k) {
            double v = static_cast<double>(xp[(n * channels + k) * inner + i]);
            sq += v * v;
          }
          yp[nc * inner + i] = static_cast<T>(static_cast<double>(xp[nc * inner + i]) /
                                              std::pow(bias + alpha / static_cast<double>(size) * sq, beta));
        }
      }
    });
  });
}

// MeanVarianceNormalization follows its ONNX function body: (X - E[X]) / (sqrt(E[X^2] - E[X]^2) + 1e-9).
void run_mvn(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  std::vector<int64_t> axes = ctx.node().attr_ints("axes", {0, 2, 3});
  Shape reduced = x.shape();
  for (int64_t& a : axes) {
    a = normalize_axis(ctx, a, x.rank());
    reduced[static_cast<size_t>(a)] = 1;
  }
  const int64_t groups = shape_numel(reduced), count = groups ? x.numel() / groups : 0;
  std::vector<double> sum(static_cast<size_t>(groups), 0.0), sq(static_cast<size_t>(groups), 0.0);
  const std::vector<std::vector<int64_t>> strides{broadcast_strides(reduced, x.shape())};
  Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
  QUAC_DISPATCH_FLOAT(x.dtype(), ctx, {
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    for_each_broadcast(x.shape(), strides, [&](int64_t i, const std::vector<int64_t>& off) {
      const double v = static_cast<double>(xp[i]);
      sum[static_cast<size_t>(off[0])] += v;
      sq[static_cast<size_t>(off[0])] += v * v;
    });
    for_each_broadcast(x.shape(), strides, [&](int64_t i, const std::vector<int64_t>& off) {
      const size_t g = static_cast<size_t>(off[0]);
      const double m = sum[g] / static_cast<double>(count);
      const double var = std::max(0.0, sq[g] / static_cast<double>(count) - m * m);
      yp[i] = static_cast<T>((static_cast<double>(xp[i]) - m) / (std::sqrt(var) + 1e-9));
    });
  });
}

QUAC_REGISTER_REFERENCE_OP("BatchNormalization", run_batch_norm);
QUAC_REGISTER_REFERENCE_OP("InstanceNormalization", run_instance_norm);
QUAC_REGISTER_REFERENCE_OP("LayerNormalization", run_layer_norm);
QUAC_REGISTER_REFERENCE_OP("LRN", run_lrn);
QUAC_REGISTER_REFERENCE_OP("MeanVarianceNormalization", run_mvn);

}  // namespace
}  // namespace quac::ops
