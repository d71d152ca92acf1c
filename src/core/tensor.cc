#include "quac/tensor.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <new>
#include <sstream>

namespace quac {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidModel:
      return "InvalidModel";
    case ErrorCode::kInvalidArgument:
      return "InvalidArgument";
    case ErrorCode::kUnsupported:
      return "Unsupported";
    case ErrorCode::kIoError:
      return "IoError";
    case ErrorCode::kDatasetError:
      return "DatasetError";
    case ErrorCode::kMetricError:
      return "MetricError";
    case ErrorCode::kInternal:
      return "Internal";
  }
  return "Unknown";
}

size_t dtype_size(DataType type) {
  switch (type) {
    case DataType::kFloat:
    case DataType::kInt32:
    case DataType::kUInt32:
      return 4;
    case DataType::kUInt8:
    case DataType::kInt8:
    case DataType::kBool:
      return 1;
    case DataType::kUInt16:
    case DataType::kInt16:
    case DataType::kFloat16:
    case DataType::kBFloat16:
      return 2;
    case DataType::kInt64:
    case DataType::kDouble:
    case DataType::kUInt64:
    case DataType::kComplex64:
      return 8;
    case DataType::kComplex128:
      return 16;
    case DataType::kString:
      return sizeof(std::string);
    case DataType::kUndefined:
      return 0;
  }
  return 0;
}

const char* dtype_name(DataType type) {
  switch (type) {
    case DataType::kUndefined:
      return "undefined";
    case DataType::kFloat:
      return "float32";
    case DataType::kUInt8:
      return "uint8";
    case DataType::kInt8:
      return "int8";
    case DataType::kUInt16:
      return "uint16";
    case DataType::kInt16:
      return "int16";
    case DataType::kInt32:
      return "int32";
    case DataType::kInt64:
      return "int64";
    case DataType::kString:
      return "string";
    case DataType::kBool:
      return "bool";
    case DataType::kFloat16:
      return "float16";
    case DataType::kDouble:
      return "float64";
    case DataType::kUInt32:
      return "uint32";
    case DataType::kUInt64:
      return "uint64";
    case DataType::kComplex64:
      return "complex64";
    case DataType::kComplex128:
      return "complex128";
    case DataType::kBFloat16:
      return "bfloat16";
  }
  return "unknown";
}

bool dtype_is_float(DataType t) {
  return t == DataType::kFloat || t == DataType::kDouble || t == DataType::kFloat16 || t == DataType::kBFloat16;
}

bool dtype_is_integer(DataType t) {
  switch (t) {
    case DataType::kUInt8:
    case DataType::kInt8:
    case DataType::kUInt16:
    case DataType::kInt16:
    case DataType::kInt32:
    case DataType::kInt64:
    case DataType::kUInt32:
    case DataType::kUInt64:
      return true;
    default:
      return false;
  }
}

std::string shape_str(const Shape& shape) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? "," : "") << shape[i];
  os << ']';
  return os.str();
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    QUAC_CHECK(d >= 0, kInvalidArgument, "negative dimension in shape ", shape_str(shape));
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d)
      QUAC_THROW(kInvalidArgument, "shape ", shape_str(shape), " has too many elements");
    n *= d;
  }
  return n;
}

float half_to_float(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ffu, bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      bits = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t float_to_half(float value) {
  uint32_t x;
  std::memcpy(&x, &value, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0));
  if (absx >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow to inf (round to nearest)
  if (absx < 0x38800000u) {                                               // subnormal or zero in half
    if (absx < 0x33000000u) return static_cast<uint16_t>(sign);
    uint32_t e = absx >> 23, m = (absx & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e;  // 14 + (113 - e) - 1
    uint32_t half_m = m >> (shift);
    uint32_t rem = m & ((1u << shift) - 1), halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (half_m & 1))) ++half_m;
    return static_cast<uint16_t>(sign | half_m);
  }
  uint32_t h = ((absx >> 13) - (112u << 10));
  uint32_t rem = absx & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) ++h;
  return static_cast<uint16_t>(sign | h);
}

float bfloat16_to_float(uint16_t bits) {
  uint32_t x = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

uint16_t float_to_bfloat16(float value) {
  uint32_t x;
  std::memcpy(&x, &value, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40);  // quiet NaN
  uint32_t rounding = 0x7fffu + ((x >> 16) & 1);
  return static_cast<uint16_t>((x + rounding) >> 16);
}

namespace {
constexpr size_t kAlignment = 64;

std::shared_ptr<void> allocate(DataType type, int64_t numel) {
  if (type == DataType::kString) {
    auto* strings = new std::string[static_cast<size_t>(std::max<int64_t>(numel, 1))];
    return std::shared_ptr<void>(strings, [](void* p) { delete[] static_cast<std::string*>(p); });
  }
  size_t bytes = static_cast<size_t>(numel) * dtype_size(type);
  bytes = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  if (bytes == 0) bytes = kAlignment;
  void* p = std::aligned_alloc(kAlignment, bytes);
  if (!p) QUAC_THROW(kInternal, "out of memory allocating ", bytes, " bytes");
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}
}  // namespace

Tensor::Tensor(DataType type, Shape shape) : type_(type), shape_(std::move(shape)) {
  QUAC_CHECK(type != DataType::kUndefined, kInvalidArgument, "cannot allocate a tensor of undefined type");
  numel_ = shape_numel(shape_);
  QUAC_CHECK(static_cast<uint64_t>(numel_) < (1ull << 40) / std::max<size_t>(dtype_size(type), 1), kInvalidArgument,
             "tensor of shape ", shape_str(shape_), " is too large");
  storage_ = allocate(type, numel_);
  data_ = storage_.get();
}

Tensor Tensor::wrap(DataType type, Shape shape, void* data, std::shared_ptr<void> owner) {
  Tensor t;
  t.type_ = type;
  t.shape_ = std::move(shape);
  t.numel_ = shape_numel(t.shape_);
  t.data_ = data;
  t.storage_ = std::move(owner);
  return t;
}

Tensor Tensor::zeros(DataType type, Shape shape) {
  Tensor t(type, std::move(shape));
  if (type != DataType::kString && t.nbytes()) std::memset(t.raw_data(), 0, t.nbytes());
  return t;
}

int64_t Tensor::dim(int64_t axis) const {
  int64_t r = rank();
  if (axis < 0) axis += r;
  QUAC_CHECK(axis >= 0 && axis < r, kInvalidArgument, "axis ", axis, " out of range for shape ", shape_str(shape_));
  return shape_[static_cast<size_t>(axis)];
}

void Tensor::check_type(DataType expected) const {
  if (type_ != expected)
    QUAC_THROW(kInternal, "tensor holds ", dtype_name(type_), ", accessed as ", dtype_name(expected));
}

Tensor Tensor::clone() const {
  if (!defined()) return Tensor();
  Tensor t(type_, shape_);
  if (type_ == DataType::kString) {
    const auto* src = static_cast<const std::string*>(data_);
    auto* dst = static_cast<std::string*>(t.data_);
    for (int64_t i = 0; i < numel_; ++i) dst[i] = src[i];
  } else if (nbytes()) {
    std::memcpy(t.data_, data_, nbytes());
  }
  return t;
}

Tensor Tensor::reshaped(Shape shape) const {
  int64_t n = shape_numel(shape);
  QUAC_CHECK(n == numel_, kInvalidArgument, "cannot reshape ", shape_str(shape_), " to ", shape_str(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

double Tensor::scalar_as_double(int64_t i) const {
  QUAC_CHECK(i >= 0 && i < numel_, kInvalidArgument, "element ", i, " out of range for shape ", shape_str(shape_));
  switch (type_) {
    case DataType::kFloat:
      return static_cast<const float*>(data_)[i];
    case DataType::kDouble:
      return static_cast<const double*>(data_)[i];
    case DataType::kFloat16:
      return half_to_float(static_cast<const uint16_t*>(data_)[i]);
    case DataType::kBFloat16:
      return bfloat16_to_float(static_cast<const uint16_t*>(data_)[i]);
    case DataType::kUInt8:
      return static_cast<const uint8_t*>(data_)[i];
    case DataType::kInt8:
      return static_cast<const int8_t*>(data_)[i];
    case DataType::kUInt16:
      return static_cast<const uint16_t*>(data_)[i];
    case DataType::kInt16:
      return static_cast<const int16_t*>(data_)[i];
    case DataType::kInt32:
      return static_cast<const int32_t*>(data_)[i];
    case DataType::kInt64:
      return static_cast<double>(static_cast<const int64_t*>(data_)[i]);
    case DataType::kUInt32:
      return static_cast<const uint32_t*>(data_)[i];
    case DataType::kUInt64:
      return static_cast<double>(static_cast<const uint64_t*>(data_)[i]);
    case DataType::kBool:
      return static_cast<const bool*>(data_)[i] ? 1.0 : 0.0;
    default:
      QUAC_THROW(kInvalidArgument, "tensor of type ", dtype_name(type_), " is not numeric");
  }
}

int64_t Tensor::scalar_as_int(int64_t i) const {
  QUAC_CHECK(i >= 0 && i < numel_, kInvalidArgument, "element ", i, " out of range for shape ", shape_str(shape_));
  switch (type_) {
    case DataType::kInt64:
      return static_cast<const int64_t*>(data_)[i];
    case DataType::kInt32:
      return static_cast<const int32_t*>(data_)[i];
    case DataType::kUInt64:
      return static_cast<int64_t>(static_cast<const uint64_t*>(data_)[i]);
    default: {
      double v = scalar_as_double(i);
      if (std::isnan(v)) return 0;
      if (v >= 9.2e18) return std::numeric_limits<int64_t>::max();
      if (v <= -9.2e18) return std::numeric_limits<int64_t>::min();
      return static_cast<int64_t>(v);
    }
  }
}

std::vector<int64_t> Tensor::to_int_vector() const {
  std::vector<int64_t> out(static_cast<size_t>(numel_));
  for (int64_t i = 0; i < numel_; ++i) out[static_cast<size_t>(i)] = scalar_as_int(i);
  return out;
}

std::vector<float> Tensor::to_float_vector() const {
  std::vector<float> out(static_cast<size_t>(numel_));
  for (int64_t i = 0; i < numel_; ++i) out[static_cast<size_t>(i)] = static_cast<float>(scalar_as_double(i));
  return out;
}

}  // namespace quac
