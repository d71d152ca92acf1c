#include "core/random.h"

#include <random>

namespace quac {

Tensor random_tensor(DataType type, const Shape& shape, uint64_t seed, float stddev) {
  Tensor t(type, shape);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, stddev);
  std::uniform_int_distribution<int> small(0, 9);
  int64_t n = t.numel();
  switch (type) {
    case DataType::kFloat: {
      float* p = t.data<float>();
      for (int64_t i = 0; i < n; ++i) p[i] = normal(rng);
      break;
    }
    case DataType::kDouble: {
      double* p = t.data<double>();
      for (int64_t i = 0; i < n; ++i) p[i] = normal(rng);
      break;
    }
    case DataType::kFloat16: {
      auto* p = static_cast<uint16_t*>(t.raw_data());
      for (int64_t i = 0; i < n; ++i) p[i] = float_to_half(normal(rng));
      break;
    }
    case DataType::kBool: {
      bool* p = t.data<bool>();
      for (int64_t i = 0; i < n; ++i) p[i] = small(rng) < 5;
      break;
    }
    case DataType::kInt8: {
      auto* p = t.data<int8_t>();
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
      break;
    }
    case DataType::kUInt8: {
      auto* p = t.data<uint8_t>();
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(rng() % 256);
      break;
    }
    case DataType::kInt32: {
      auto* p = t.data<int32_t>();
      for (int64_t i = 0; i < n; ++i) p[i] = small(rng);
      break;
    }
    case DataType::kInt64: {
      auto* p = t.data<int64_t>();
      for (int64_t i = 0; i < n; ++i) p[i] = small(rng);
      break;
    }
    default:
      QUAC_THROW(kUnsupported, "random data of type ", dtype_name(type), " is not supported");
  }
  return t;
}

}  // namespace quac
