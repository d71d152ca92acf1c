#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/file_util.h"
#include "core/npy.h"
#include "ir/graph.h"
#include "quac/tensor.h"

namespace quac {
namespace {

TEST(Tensor, AllocatesAlignedAndReshapes) {
  Tensor t(DataType::kFloat, {2, 3});
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % 64, 0u);
  Tensor r = t.reshaped({3, 2});
  EXPECT_EQ(r.raw_data(), t.raw_data());
  EXPECT_THROW(t.reshaped({4}), Error);
  EXPECT_THROW(t.data<int32_t>(), Error);
}

TEST(Tensor, RejectsNegativeDims) { EXPECT_THROW(Tensor(DataType::kFloat, {2, -1}), Error); }

TEST(Float16, RoundTripsAndRounds) {
  for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f})
    EXPECT_FLOAT_EQ(half_to_float(float_to_half(f)), f) << f;
  EXPECT_NEAR(half_to_float(float_to_half(1e-3f)), 1e-3f, 1e-6f);
  EXPECT_EQ(float_to_half(1e6f), 0x7c00);
  EXPECT_TRUE(std::isnan(half_to_float(float_to_half(std::nanf("")))));
  EXPECT_FLOAT_EQ(bfloat16_to_float(float_to_bfloat16(3.0f)), 3.0f);
}

TEST(Npy, RoundTrip) {
  auto dir = std::filesystem::temp_directory_path() / "quac_npy_test";
  std::filesystem::create_directories(dir);
  Tensor t = Tensor::from_vector<float>({2, 2}, {1, 2, 3, 4});
  write_npy((dir / "a.npy").string(), t);
  Tensor u = read_npy((dir / "a.npy").string());
  ASSERT_EQ(u.shape(), (Shape{2, 2}));
  EXPECT_EQ(u.data<float>()[3], 4.0f);
  Tensor s = Tensor::scalar<int64_t>(7);
  write_npy((dir / "s.npy").string(), s);
  EXPECT_EQ(read_npy((dir / "s.npy").string()).scalar_as_int(), 7);
}

TEST(Npy, RejectsGarbage) {
  auto path = (std::filesystem::temp_directory_path() / "quac_bad.npy").string();
  write_file_atomic(path, "not an npy file at all");
  EXPECT_THROW(read_npy(path), Error);
  EXPECT_THROW(read_npy("/nonexistent/x.npy"), Error);
}

TEST(Graph, TopologicalSortDetectsCycleAndUndefined) {
  ir::Graph g;
  g.inputs.push_back({"x"});
  ir::Node a{"a", "Relu", "", {"y"}, {"z"}, {}};
  ir::Node b{"b", "Relu", "", {"x"}, {"y"}, {}};
  g.nodes = {a, b};
  g.topological_sort();
  EXPECT_EQ(g.nodes[0].name, "b");
  g.nodes[0].inputs = {"z"};
  EXPECT_THROW(g.topological_sort(), Error);
  g.nodes = {ir::Node{"c", "Relu", "", {"nope"}, {"w"}, {}}};
  EXPECT_THROW(g.topological_sort(), Error);
}

}  // namespace
}  // namespace quac
