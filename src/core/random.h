// Random tensors for benchmarks and tests: normal floats, small non-negative integers, random booleans.
#pragma once

#include <cstdint>

#include "quac/tensor.h"

namespace quac {

Tensor random_tensor(DataType type, const Shape& shape, uint64_t seed, float stddev = 1.0f);

}  // namespace quac
