// Cast and CastLike between every numeric type, bool, float16, bfloat16 and string.
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>

#include "ops/elementwise_util.h"

namespace quac::ops {
namespace {

// Rounds v to a binary format with `mantissa_bits` explicit bits and minimum normal exponent `min_exponent`,
// to nearest even, in one step (going through float first could round twice).
double round_to_format(double v, int mantissa_bits, int min_exponent) {
  if (!std::isfinite(v) || v == 0) return v;
  int e = 0;
  std::frexp(v, &e);  // |v| = m * 2^e with m in [0.5, 1)
  const double quantum = std::ldexp(1.0, std::max(e - 1, min_exponent) - mantissa_bits);
  double r = std::nearbyint(v / quantum) * quantum;
  if (std::fabs(r) > std::numeric_limits<float>::max()) r = std::copysign(std::numeric_limits<double>::infinity(), r);
  return r;
}

template <typename D, typename S>
D convert(S s) {
  if constexpr (std::is_same_v<D, S>) {
    return s;
  } else if constexpr (is_half_v<S>) {
    return convert<D>(load(s));
  } else if constexpr (std::is_same_v<D, bool>) {
    return s != S{0};  // NaN is true, as in numpy
  } else if constexpr (std::is_same_v<D, Float16>) {
    return Float16{float_to_half(static_cast<float>(round_to_format(static_cast<double>(s), 10, -14)))};
  } else if constexpr (std::is_same_v<D, BFloat16>) {
    return BFloat16{float_to_bfloat16(static_cast<float>(round_to_format(static_cast<double>(s), 7, -126)))};
  } else if constexpr (std::is_integral_v<D> && std::is_floating_point_v<S>) {
    // Out-of-range float -> int is undefined in C++: NaN gives 0, the rest saturates. Negative values to unsigned
    // types wrap like numpy (through int64).
    if (std::isnan(s)) return D{0};
    if constexpr (std::is_unsigned_v<D>) {
      if (s < 0) return s > -9.2e18 ? static_cast<D>(static_cast<int64_t>(s)) : D{0};
    }
    if (s >= static_cast<S>(std::numeric_limits<D>::max())) return std::numeric_limits<D>::max();
    if (s <= static_cast<S>(std::numeric_limits<D>::lowest())) return std::numeric_limits<D>::lowest();
    return static_cast<D>(s);
  } else {
    return static_cast<D>(s);  // integer wrap, int -> float and double -> float round to nearest
  }
}

// Shortest decimal that reads back as the same value, laid out like numpy's str() of a float scalar: positional
// for 1e-4 <= |v| < 1e16 ("0.5", "1.0", "123.25"), scientific otherwise ("1e-05", "1.5e+16").
template <typename S>
std::string format_float(S value) {
  const double v = static_cast<double>(load(value));
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::string sign = std::signbit(v) ? "-" : "";
  if (v == 0) return sign + "0.0";
  char buf[64];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*e", precision - 1, std::fabs(v));
    double back = std::strtod(buf, nullptr);
    if (static_cast<double>(load(convert<S>(back))) == std::fabs(v)) break;
  }
  std::string text = buf, digits;
  const size_t e_pos = text.find('e');
  for (size_t i = 0; i < e_pos; ++i)
    if (std::isdigit(static_cast<unsigned char>(text[i]))) digits += text[i];
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  const int exponent = std::atoi(text.c_str() + e_pos + 1);
  const int n = static_cast<int>(digits.size());
  if (exponent < -4 || exponent >= 16) {
    std::string out = sign;
    out += digits[0];
    if (n > 1) out.append(".").append(digits, 1, std::string::npos);
    char exp_buf[16];
    std::snprintf(exp_buf, sizeof exp_buf, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    return out + exp_buf;
  }
  if (exponent < 0) return sign + "0." + std::string(static_cast<size_t>(-exponent - 1), '0').append(digits);
  std::string int_part = digits.substr(0, static_cast<size_t>(std::min(n, exponent + 1)));
  int_part += std::string(static_cast<size_t>(std::max(0, exponent + 1 - n)), '0');
  std::string frac = n > exponent + 1 ? digits.substr(static_cast<size_t>(exponent + 1)) : "0";
  return sign + int_part + "." + frac;
}

template <typename S>
std::string to_string_value(S s) {
  if constexpr (std::is_same_v<S, bool>)
    return s ? "True" : "False";
  else if constexpr (std::is_integral_v<S>)
    return std::to_string(s);
  else
    return format_float(s);
}

// Parses like numpy's string -> number conversion ("1.5", "-INF", "NaN", "1e-7", " 3 "). Returns false on garbage.
template <typename D>
bool parse_value(const std::string& text, D& out) {
  const char* begin = text.c_str();
  char* end = nullptr;
  auto at_end = [&] {
    while (*end && std::isspace(static_cast<unsigned char>(*end))) ++end;
    return *end == '\0' && end != begin;
  };
  if constexpr (std::is_same_v<D, bool>) {
    std::string t;
    for (char c : text)
      if (!std::isspace(static_cast<unsigned char>(c))) t += static_cast<char>(std::tolower(c));
    if (t == "true" || t.empty() || t == "false") {
      out = t == "true";
      return true;
    }
    double d = std::strtod(begin, &end);
    out = d != 0;
    return at_end();
  } else {
    if constexpr (std::is_integral_v<D>) {
      errno = 0;
      if constexpr (std::is_signed_v<D>) {
        long long i = std::strtoll(begin, &end, 10);
        if (at_end() && errno == 0) {
          out = static_cast<D>(i);
          return true;
        }
      } else {
        unsigned long long u = std::strtoull(begin, &end, 10);
        if (at_end() && errno == 0) {
          out = static_cast<D>(u);
          return true;
        }
      }
    }
    double d = std::strtod(begin, &end);
    out = convert<D>(d);
    return at_end();
  }
}

DataType type_from_name(const KernelContext& ctx, std::string name) {
  for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  static const std::pair<const char*, DataType> kNames[] = {
      {"FLOAT", DataType::kFloat},     {"UINT8", DataType::kUInt8},      {"INT8", DataType::kInt8},
      {"UINT16", DataType::kUInt16},   {"INT16", DataType::kInt16},      {"INT32", DataType::kInt32},
      {"INT64", DataType::kInt64},     {"STRING", DataType::kString},    {"BOOL", DataType::kBool},
      {"FLOAT16", DataType::kFloat16}, {"DOUBLE", DataType::kDouble},    {"UINT32", DataType::kUInt32},
      {"UINT64", DataType::kUInt64},   {"BFLOAT16", DataType::kBFloat16}};
  for (const auto& [n, t] : kNames)
    if (name == n) return t;
  ctx.fail("unknown Cast target type '" + name + "'");
}

// `to` is an int from opset 6; opset 1..5 spelled it as a string ("FLOAT").
DataType cast_target(const KernelContext& ctx) {
  const ir::Attribute* to = ctx.node().find("to");
  if (!to) ctx.fail("missing attribute 'to'");
  if (to->kind == ir::Attribute::Kind::kString) return type_from_name(ctx, to->s);
  return static_cast<DataType>(ctx.node().attr_int("to", 0));
}

void cast_tensor(KernelContext& ctx, const Tensor& x, DataType to) {
  if (x.dtype() == to) {
    ctx.set_output(0, x);
    return;
  }
  const int code = static_cast<int>(to);
  if (code < 1 || code > 16 || to == DataType::kComplex64 || to == DataType::kComplex128)
    ctx.fail("unsupported Cast target type " + std::to_string(code));
  Tensor& y = ctx.allocate_output(0, to, x.shape());
  const int64_t n = x.numel();
  if (x.dtype() == DataType::kString) {
    const std::string* px = x.data<std::string>();
    int64_t bad = -1;
    QUAC_EW_DISPATCH_ALL(to, ctx, {
      T* py = y.data<T>();
      for (int64_t i = 0; i < n && bad < 0; ++i)
        if (!parse_value<T>(px[i], py[i])) bad = i;
    });
    if (bad >= 0) ctx.fail("cannot parse '" + px[bad] + "' as " + dtype_name(to));
    return;
  }
  if (to == DataType::kString) {
    std::string* py = y.data<std::string>();
    QUAC_EW_DISPATCH_ALL(x.dtype(), ctx, {
      const T* px = x.data<T>();
      for (int64_t i = 0; i < n; ++i) py[i] = to_string_value(px[i]);
    });
    return;
  }
  QUAC_EW_DISPATCH_ALL(x.dtype(), ctx, {
    using S = T;
    const S* px = x.data<S>();
    QUAC_EW_DISPATCH_ALL(to, ctx, {
      T* py = y.data<T>();
      parallel_for(
          n, ctx.num_threads(),
          [&](int64_t begin, int64_t end) {
            for (int64_t i = begin; i < end; ++i) py[i] = convert<T>(px[i]);
          },
          kElementwiseGrain);
    });
  });
}

}  // namespace

QUAC_EW_REGISTER("Cast", [](KernelContext& ctx) { cast_tensor(ctx, ctx.in(0), cast_target(ctx)); });
QUAC_EW_REGISTER("CastLike", [](KernelContext& ctx) { cast_tensor(ctx, ctx.in(0), ctx.in(1).dtype()); });

}  // namespace quac::ops
