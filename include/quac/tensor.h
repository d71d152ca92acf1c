// Tensor and DataType: the values that flow through a quac Session.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "quac/error.h"

namespace quac {

// Numbering follows ONNX TensorProto.DataType so conversion is a cast.
enum class DataType : int32_t {
  kUndefined = 0,
  kFloat = 1,
  kUInt8 = 2,
  kInt8 = 3,
  kUInt16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kFloat16 = 10,
  kDouble = 11,
  kUInt32 = 12,
  kUInt64 = 13,
  kComplex64 = 14,
  kComplex128 = 15,
  kBFloat16 = 16,
};

using Shape = std::vector<int64_t>;

size_t dtype_size(DataType type);  // bytes per element; 0 for string/undefined
const char* dtype_name(DataType type);
bool dtype_is_float(DataType type);         // float, double, float16, bfloat16
bool dtype_is_integer(DataType type);       // signed or unsigned integers (not bool)
std::string shape_str(const Shape& shape);  // "[1,3,224,224]"
int64_t shape_numel(const Shape& shape);    // throws kInvalidArgument on negative dims or overflow

// 16-bit float storage types (bit patterns) and conversions.
struct Float16 {
  uint16_t bits;
};
struct BFloat16 {
  uint16_t bits;
};
float half_to_float(uint16_t bits);
uint16_t float_to_half(float value);
float bfloat16_to_float(uint16_t bits);
uint16_t float_to_bfloat16(float value);

template <typename T>
constexpr DataType dtype_of();
template <>
constexpr DataType dtype_of<float>() {
  return DataType::kFloat;
}
template <>
constexpr DataType dtype_of<double>() {
  return DataType::kDouble;
}
template <>
constexpr DataType dtype_of<uint8_t>() {
  return DataType::kUInt8;
}
template <>
constexpr DataType dtype_of<int8_t>() {
  return DataType::kInt8;
}
template <>
constexpr DataType dtype_of<uint16_t>() {
  return DataType::kUInt16;
}
template <>
constexpr DataType dtype_of<int16_t>() {
  return DataType::kInt16;
}
template <>
constexpr DataType dtype_of<int32_t>() {
  return DataType::kInt32;
}
template <>
constexpr DataType dtype_of<int64_t>() {
  return DataType::kInt64;
}
template <>
constexpr DataType dtype_of<uint32_t>() {
  return DataType::kUInt32;
}
template <>
constexpr DataType dtype_of<uint64_t>() {
  return DataType::kUInt64;
}
template <>
constexpr DataType dtype_of<bool>() {
  return DataType::kBool;
}
template <>
constexpr DataType dtype_of<Float16>() {
  return DataType::kFloat16;
}
template <>
constexpr DataType dtype_of<BFloat16>() {
  return DataType::kBFloat16;
}
template <>
constexpr DataType dtype_of<std::string>() {
  return DataType::kString;
}

// A dense, row-major (C order) n-dimensional array. Copies share storage (like a shared_ptr); use clone() for a deep
// copy. Storage is 64-byte aligned. String tensors hold std::string elements.
class Tensor {
 public:
  Tensor() = default;
  // Allocates uninitialised storage (zeroed for strings).
  Tensor(DataType type, Shape shape);
  // Wraps external memory without copying; `owner` keeps it alive (an mmap, a NumPy array, a pool buffer).
  static Tensor wrap(DataType type, Shape shape, void* data, std::shared_ptr<void> owner);
  static Tensor zeros(DataType type, Shape shape);
  template <typename T>
  static Tensor from_vector(Shape shape, const std::vector<T>& values);
  template <typename T>
  static Tensor scalar(T value) {
    return from_vector<T>({}, std::vector<T>{value});
  }

  bool defined() const { return type_ != DataType::kUndefined; }
  DataType dtype() const { return type_; }
  const Shape& shape() const { return shape_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t dim(int64_t axis) const;  // negative axes count from the end
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(type_); }

  void* raw_data() { return data_; }
  const void* raw_data() const { return data_; }
  template <typename T>
  T* data() {
    check_type(dtype_of<T>());
    return static_cast<T*>(data_);
  }
  template <typename T>
  const T* data() const {
    check_type(dtype_of<T>());
    return static_cast<const T*>(data_);
  }

  Tensor clone() const;
  // Same storage, new shape with the same number of elements.
  Tensor reshaped(Shape shape) const;
  // Element i converted to double / int64 (any numeric type); for small tensors such as shapes and scalars.
  double scalar_as_double(int64_t i = 0) const;
  int64_t scalar_as_int(int64_t i = 0) const;
  std::vector<int64_t> to_int_vector() const;  // any integer tensor
  std::vector<float> to_float_vector() const;  // any numeric tensor

  const std::shared_ptr<void>& storage() const { return storage_; }

 private:
  void check_type(DataType expected) const;

  DataType type_ = DataType::kUndefined;
  Shape shape_;
  int64_t numel_ = 0;
  void* data_ = nullptr;
  std::shared_ptr<void> storage_;
};

template <typename T>
Tensor Tensor::from_vector(Shape shape, const std::vector<T>& values) {
  Tensor t(dtype_of<T>(), std::move(shape));
  QUAC_CHECK(static_cast<int64_t>(values.size()) == t.numel(), kInvalidArgument, "from_vector: ", values.size(),
             " values for shape ", shape_str(t.shape()));
  if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, bool>) {
    T* out = t.data<T>();
    for (size_t i = 0; i < values.size(); ++i) out[i] = values[i];
  } else {
    if (!values.empty()) std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(T));
  }
  return t;
}

}  // namespace quac
