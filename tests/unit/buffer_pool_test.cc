// BufferPool: a freed buffer serves the next allocation of a similar size (best fit within 2x), so steady-state runs
// allocate nothing; larger requests get fresh memory.
#include "runtime/buffer_pool.h"

#include <gtest/gtest.h>

namespace quac {
namespace {

TEST(BufferPool, ReusesTheBestFittingFreeBuffer) {
  auto pool = std::make_shared<BufferPool>();
  const void *small_p, *large_p;
  {
    Tensor small = pool->allocate(DataType::kFloat, {100});  // 400 bytes -> 448 with 64-byte rounding
    Tensor large = pool->allocate(DataType::kFloat, {150});  // 600 -> 640
    small_p = small.raw_data();
    large_p = large.raw_data();
  }
  EXPECT_EQ(pool->cached_bytes(), 448u + 640u);
  Tensor a = pool->allocate(DataType::kFloat, {90});  // 360 -> 384: both fit within 2x, the smaller one is taken
  EXPECT_EQ(a.raw_data(), small_p);
  Tensor b = pool->allocate(DataType::kFloat, {500});  // 2000 bytes: nothing cached is large enough
  EXPECT_NE(b.raw_data(), large_p);
  Tensor c = pool->allocate(DataType::kFloat, {16});  // 64 bytes: the 640-byte buffer is more than 2x too large
  EXPECT_NE(c.raw_data(), large_p);
  Tensor d = pool->allocate(DataType::kFloat, {140});
  EXPECT_EQ(d.raw_data(), large_p);
  EXPECT_EQ(pool->cached_bytes(), 0u);
  float* f = d.data<float>();
  for (int i = 0; i < 140; ++i) f[i] = static_cast<float>(i);  // the whole requested size is usable
  EXPECT_EQ(f[139], 139.f);
}

}  // namespace
}  // namespace quac
