// Signal processing (opset 17): DFT, STFT, HannWindow, HammingWindow, BlackmanWindow, MelWeightMatrix. Complex values
// are stored as a trailing dimension of 2 (real, imaginary). Transforms are direct O(n^2) sums in double precision:
// this is the oracle, not a fast path.
#include <cmath>
#include <complex>
#include <string>
#include <vector>

#include "ops/kernel.h"
#include "ops/op_util.h"

namespace quac::ops {
namespace {

using Complex = std::complex<double>;
constexpr double kPi = 3.14159265358979323846;

// The output_datatype attribute: any numeric type (checked before anything is allocated with it).
DataType output_type(const KernelContext& ctx) {
  const auto type = static_cast<DataType>(ctx.node().attr_int("output_datatype", 1));
  if (!dtype_is_float(type) && !dtype_is_integer(type))
    ctx.fail("output_datatype " + std::to_string(static_cast<int>(type)) + " is not a numeric type");
  return type;
}

// Writes doubles into a fresh output of any numeric type.
Tensor& store(KernelContext& ctx, size_t index, DataType type, const Shape& shape, const std::vector<double>& v) {
  Tensor& t = ctx.allocate_output(index, type, shape);
  const size_t n = v.size();
  if (type == DataType::kFloat16) {
    for (size_t i = 0; i < n; ++i) t.data<Float16>()[i].bits = float_to_half(static_cast<float>(v[i]));
  } else if (type == DataType::kBFloat16) {
    for (size_t i = 0; i < n; ++i) t.data<BFloat16>()[i].bits = float_to_bfloat16(static_cast<float>(v[i]));
  } else {
    QUAC_DISPATCH_NUMERIC(type, ctx, {
      for (size_t i = 0; i < n; ++i) t.data<T>()[i] = static_cast<T>(v[i]);
    });
  }
  return t;
}

int64_t scalar_int(const KernelContext& ctx, const Tensor& t, const char* what) {
  if (t.numel() != 1 || !dtype_is_integer(t.dtype()))
    ctx.fail(std::string(what) + " must be a single integer, got " + dtype_name(t.dtype()) + " " +
             shape_str(t.shape()));
  return t.scalar_as_int(0);
}

double scalar_double(const KernelContext& ctx, const Tensor& t, const char* what) {
  if (t.numel() != 1 || t.dtype() == DataType::kString || t.dtype() == DataType::kBool)
    ctx.fail(std::string(what) + " must be a single number, got " + shape_str(t.shape()));
  return t.scalar_as_double(0);
}

// out[k] = sum_m in[m] e^{-+2 pi i k m / n}, for k < out.size(); `in` is zero-padded or truncated to n.
void dft(const std::vector<Complex>& in, int64_t n, bool inverse, std::vector<Complex>& out) {
  const double sign = inverse ? 1.0 : -1.0;
  const auto m_end = std::min<int64_t>(n, static_cast<int64_t>(in.size()));
  for (size_t k = 0; k < out.size(); ++k) {
    Complex acc = 0;
    for (int64_t m = 0; m < m_end; ++m) {
      // Reduce k*m modulo n first so the angle stays exact for long transforms.
      double angle = sign * 2 * kPi * static_cast<double>((static_cast<int64_t>(k) * m) % n) / static_cast<double>(n);
      acc += in[static_cast<size_t>(m)] * Complex(std::cos(angle), std::sin(angle));
    }
    out[k] = inverse ? acc / static_cast<double>(n) : acc;
  }
}

void check_float(const KernelContext& ctx, const Tensor& t) {
  if (!dtype_is_float(t.dtype()))
    ctx.fail(std::string("expected a floating-point tensor, got ") + dtype_name(t.dtype()));
}

// DFT-17: x [batch, n1, ..., nk, 1|2]; the transform runs along `axis` (0 .. rank-2, negative from the back).
void run_dft(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  check_float(ctx, x);
  const int64_t rank = x.rank();
  if (rank < 3) ctx.fail("input must be [batch, signal dims..., 1 or 2], got " + shape_str(x.shape()));
  const int64_t comps = x.dim(-1);
  if (comps != 1 && comps != 2) ctx.fail("the last dimension must be 1 (real) or 2 (complex)");
  int64_t axis = ctx.node().attr_int("axis", 1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis > rank - 2) ctx.fail("axis " + std::to_string(axis) + " is not a signal dimension");
  const bool inverse = ctx.node().attr_int("inverse", 0) != 0;
  const bool onesided = ctx.node().attr_int("onesided", 0) != 0;
  const int64_t len = x.dim(axis);
  int64_t n = len;
  if (const Tensor* dl = ctx.num_inputs() > 1 ? ctx.input(1) : nullptr) n = scalar_int(ctx, *dl, "dft_length");
  if (n < 1) ctx.fail("dft_length must be positive, got " + std::to_string(n));
  const int64_t out_len = onesided ? n / 2 + 1 : n;
  Shape shape = x.shape();
  shape[static_cast<size_t>(axis)] = out_len;
  shape.back() = 2;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.dim(d);
  for (int64_t d = axis + 1; d < rank - 1; ++d) inner *= x.dim(d);
  std::vector<double> result(static_cast<size_t>(shape_numel(shape)));
  std::vector<Complex> line(static_cast<size_t>(len)), out(static_cast<size_t>(out_len));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      for (int64_t m = 0; m < len; ++m) {
        int64_t base = ((o * len + m) * inner + i) * comps;
        line[static_cast<size_t>(m)] =
            Complex(x.scalar_as_double(base), comps == 2 ? x.scalar_as_double(base + 1) : 0.0);
      }
      dft(line, n, inverse, out);
      for (int64_t k = 0; k < out_len; ++k) {
        auto base = static_cast<size_t>(((o * out_len + k) * inner + i) * 2);
        result[base] = out[static_cast<size_t>(k)].real();
        result[base + 1] = out[static_cast<size_t>(k)].imag();
      }
    }
  store(ctx, 0, x.dtype(), shape, result);
}

// STFT-17: signal [batch, length, 1|2], frame_step, window [frame_length]?, frame_length? ->
// [batch, frames, bins, 2].
void run_stft(KernelContext& ctx) {
  const Tensor& signal = ctx.in(0);
  check_float(ctx, signal);
  if (signal.rank() != 3 && signal.rank() != 2)
    ctx.fail("signal must be [batch, length, 1 or 2], got " + shape_str(signal.shape()));
  const int64_t batch = signal.dim(0), length = signal.dim(1), comps = signal.rank() == 3 ? signal.dim(2) : 1;
  if (comps != 1 && comps != 2) ctx.fail("the signal's last dimension must be 1 (real) or 2 (complex)");
  const int64_t step = scalar_int(ctx, ctx.in(1), "frame_step");
  const Tensor* window = ctx.input(2);
  const Tensor* fl = ctx.input(3);
  int64_t frame_length = -1;
  if (window) {
    if (window->rank() != 1) ctx.fail("window must be 1-D, got " + shape_str(window->shape()));
    frame_length = window->dim(0);
  }
  if (fl) {
    int64_t v = scalar_int(ctx, *fl, "frame_length");
    if (window && v != frame_length)
      ctx.fail("frame_length " + std::to_string(v) + " differs from the window length " + std::to_string(frame_length));
    frame_length = v;
  }
  if (frame_length < 1) ctx.fail("STFT needs a window or a positive frame_length");
  if (step < 1) ctx.fail("frame_step must be positive, got " + std::to_string(step));
  if (frame_length > length)
    ctx.fail("frame_length " + std::to_string(frame_length) + " exceeds the signal length " + std::to_string(length));
  const bool onesided = ctx.node().attr_int("onesided", 1) != 0;
  const int64_t frames = (length - frame_length) / step + 1;
  const int64_t bins = onesided ? frame_length / 2 + 1 : frame_length;
  std::vector<double> win(static_cast<size_t>(frame_length), 1.0);
  if (window)
    for (int64_t m = 0; m < frame_length; ++m) win[static_cast<size_t>(m)] = window->scalar_as_double(m);
  Shape shape{batch, frames, bins, 2};
  std::vector<double> result(static_cast<size_t>(shape_numel(shape)));
  std::vector<Complex> line(static_cast<size_t>(frame_length)), out(static_cast<size_t>(bins));
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t f = 0; f < frames; ++f) {
      for (int64_t m = 0; m < frame_length; ++m) {
        int64_t base = (b * length + f * step + m) * comps;
        Complex v(signal.scalar_as_double(base), comps == 2 ? signal.scalar_as_double(base + 1) : 0.0);
        line[static_cast<size_t>(m)] = v * win[static_cast<size_t>(m)];
      }
      dft(line, frame_length, false, out);
      for (int64_t k = 0; k < bins; ++k) {
        auto base = static_cast<size_t>(((b * frames + f) * bins + k) * 2);
        result[base] = out[static_cast<size_t>(k)].real();
        result[base + 1] = out[static_cast<size_t>(k)].imag();
      }
    }
  store(ctx, 0, signal.dtype(), shape, result);
}

// Generalised cosine windows: w[n] = a0 - a1 cos(2 pi n / N) + a2 cos(4 pi n / N), N = size (periodic) or size - 1.
void run_window(KernelContext& ctx, double a0, double a1, double a2) {
  const int64_t size = scalar_int(ctx, ctx.in(0), "size");
  if (size < 0) ctx.fail("window size must not be negative, got " + std::to_string(size));
  const bool periodic = ctx.node().attr_int("periodic", 1) != 0;
  const DataType type = output_type(ctx);
  const double denom = periodic ? static_cast<double>(size) : static_cast<double>(size - 1);
  std::vector<double> w(static_cast<size_t>(size));
  for (int64_t n = 0; n < size; ++n) {
    double phase = denom > 0 ? 2 * kPi * static_cast<double>(n) / denom : 0.0;
    w[static_cast<size_t>(n)] = a0 - a1 * std::cos(phase) + a2 * std::cos(2 * phase);
  }
  store(ctx, 0, type, {size}, w);
}

// MelWeightMatrix-17 as in the ONNX reference: triangular filters between mel-spaced FFT bins.
void run_mel(KernelContext& ctx) {
  const int64_t num_mel = scalar_int(ctx, ctx.in(0), "num_mel_bins");
  const int64_t dft_length = scalar_int(ctx, ctx.in(1), "dft_length");
  const int64_t sample_rate = scalar_int(ctx, ctx.in(2), "sample_rate");
  const double lower = scalar_double(ctx, ctx.in(3), "lower_edge_hertz");
  const double upper = scalar_double(ctx, ctx.in(4), "upper_edge_hertz");
  if (num_mel < 1 || dft_length < 1 || sample_rate < 1)
    ctx.fail("num_mel_bins, dft_length and sample_rate must be positive");
  if (lower < 0 || upper < lower) ctx.fail("need 0 <= lower_edge_hertz <= upper_edge_hertz");
  const DataType type = output_type(ctx);
  const int64_t spec_bins = dft_length / 2 + 1;
  auto to_mel = [](double hz) { return 2595 * std::log10(1 + hz / 700); };
  const double low_mel = to_mel(lower), high_mel = to_mel(upper);
  const double mel_step = (high_mel - low_mel) / static_cast<double>(num_mel + 2);
  std::vector<int64_t> points(static_cast<size_t>(num_mel + 2));
  for (int64_t i = 0; i < num_mel + 2; ++i) {
    double hz = 700 * (std::pow(10.0, (static_cast<double>(i) * mel_step + low_mel) / 2595) - 1);
    points[static_cast<size_t>(i)] =
        static_cast<int64_t>(std::floor(static_cast<double>(dft_length + 1) * hz / static_cast<double>(sample_rate)));
  }
  std::vector<double> w(static_cast<size_t>(spec_bins * num_mel), 0.0);
  auto set = [&](int64_t row, int64_t col, double v) {
    if (row >= 0 && row < spec_bins) w[static_cast<size_t>(row * num_mel + col)] = v;
  };
  for (int64_t i = 0; i < num_mel; ++i) {
    const int64_t left = points[static_cast<size_t>(i)], center = points[static_cast<size_t>(i + 1)],
                  right = points[static_cast<size_t>(i + 2)];
    if (center == left) {
      set(center, i, 1.0);
    } else {
      for (int64_t j = left; j <= center; ++j)
        set(j, i, static_cast<double>(j - left) / static_cast<double>(center - left));
    }
    if (right > center)
      for (int64_t j = center; j < right; ++j)
        set(j, i, static_cast<double>(right - j) / static_cast<double>(right - center));
  }
  store(ctx, 0, type, {spec_bins, num_mel}, w);
}

QUAC_REGISTER_REFERENCE_OP("DFT", run_dft);
QUAC_REGISTER_REFERENCE_OP("STFT", run_stft);
QUAC_REGISTER_REFERENCE_OP("HannWindow", [](KernelContext& ctx) { run_window(ctx, 0.5, 0.5, 0.0); });
QUAC_REGISTER_REFERENCE_OP("HammingWindow",
                           [](KernelContext& ctx) { run_window(ctx, 25.0 / 46.0, 1.0 - 25.0 / 46.0, 0.0); });
QUAC_REGISTER_REFERENCE_OP("BlackmanWindow", [](KernelContext& ctx) { run_window(ctx, 0.42, 0.5, 0.08); });
QUAC_REGISTER_REFERENCE_OP("MelWeightMatrix", run_mel);

}  // namespace
}  // namespace quac::ops
