// Session and execution plan: taps, buffer reuse, dynamic shapes, determinism, errors from kernels.
#include <gtest/gtest.h>

#include <atomic>

#include "ops/kernel.h"
#include "quac/session.h"
#include "test_model_builder.h"

namespace quac {
namespace {

std::atomic<int> g_scale_runs{0};

// Test-only kernels in their own domain, so these tests do not depend on the op library.
// test.Scale: y = x * factor (float).
void scale(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  float factor = ctx.node().attr_float("factor", 1.0f);
  Tensor& y = ctx.allocate_output(0, DataType::kFloat, x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) y.data<float>()[i] = x.data<float>()[i] * factor;
  ++g_scale_runs;
}
QUAC_REGISTER_KERNEL({.domain = "test",
                      .op_type = "Scale",
                      .impl = "reference",
                      .factory = [](const KernelInfo&, std::string*) -> std::unique_ptr<Kernel> {
                        return std::make_unique<FunctionKernel>(scale);
                      }});
// test.Fail: always fails with a data error.
QUAC_REGISTER_KERNEL({.domain = "test",
                      .op_type = "Fail",
                      .impl = "reference",
                      .factory = [](const KernelInfo&, std::string*) -> std::unique_ptr<Kernel> {
                        return std::make_unique<FunctionKernel>([](KernelContext& ctx) { ctx.fail("bad data"); });
                      }});
// test.Fast: a high-priority kernel that declines, so the reference kernel must be chosen.
QUAC_REGISTER_KERNEL({.domain = "test",
                      .op_type = "Scale",
                      .impl = "declining",
                      .priority = 10,
                      .factory = [](const KernelInfo&, std::string* why) -> std::unique_ptr<Kernel> {
                        *why = "never accepts";
                        return nullptr;
                      }});

Model chain(int length) {
  testing::ModelBuilder b;
  b.opset("test", 1).input("x", DataType::kFloat, {-1, 4});
  std::string prev = "x";
  for (int i = 0; i < length; ++i) {
    std::string out = i + 1 == length ? "y" : "v" + std::to_string(i);
    b.node("Scale", {prev}, {out}, {ir::make_float_attr("factor", 2.0f)}, "test");
    prev = out;
  }
  return b.output("y").build();
}

TEST(Runtime, RunsChainWithDynamicBatch) {
  Session s(chain(3), {.num_threads = 1});
  for (int64_t batch : {1, 5, 2}) {
    Tensor x = Tensor::zeros(DataType::kFloat, {batch, 4});
    x.data<float>()[0] = 1.5f;
    auto out = s.run(std::vector<Tensor>{x});
    ASSERT_EQ(out[0].shape(), (Shape{batch, 4}));
    EXPECT_EQ(out[0].data<float>()[0], 12.0f);
  }
  EXPECT_EQ(s.kernel_counts().at("reference"), 3);
}

TEST(Runtime, ProfileTimesEveryNodeOfEveryRun) {
  EXPECT_TRUE(Session(chain(3), {.num_threads = 1}).profile().empty()) << "off unless asked for";
  Session s(chain(3), {.num_threads = 1, .profile = true});
  Tensor x = Tensor::zeros(DataType::kFloat, {64, 4});
  for (int i = 0; i < 4; ++i) s.run(std::vector<Tensor>{x});
  auto p = s.profile();
  ASSERT_EQ(p.size(), 3u);
  for (size_t i = 0; i < p.size(); ++i) {
    EXPECT_EQ(p[i].op_type, "test.Scale");
    EXPECT_EQ(p[i].impl, "reference");
    EXPECT_EQ(p[i].runs, 4);
    EXPECT_GT(p[i].total_ms, 0.0);
  }
  EXPECT_EQ(p[0].node, s.profile()[0].node);
}

TEST(Runtime, TapsSeeIntermediateValues) {
  Session s(chain(3), {.num_threads = 1, .taps = {"x", "v0", "v1"}});
  std::map<std::string, float> seen;
  Tensor x = Tensor::from_vector<float>({1, 4}, {1, 2, 3, 4});
  s.run(std::vector<Tensor>{x}, [&](const std::string& name, const Tensor& t) { seen[name] = t.data<float>()[1]; });
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen["x"], 2.0f);
  EXPECT_EQ(seen["v0"], 4.0f);
  EXPECT_EQ(seen["v1"], 8.0f);
  EXPECT_THROW(Session(chain(2), {.taps = {"nope"}}), Error);
}

TEST(Runtime, ReusesBuffersAcrossNodes) {
  // A long chain needs only a couple of live buffers: intermediate values die after their one reader.
  Session s(chain(50), {.num_threads = 1});
  Tensor x = Tensor::zeros(DataType::kFloat, {1024, 4});
  auto y1 = s.run(std::vector<Tensor>{x});
  auto y2 = s.run(std::vector<Tensor>{x});
  EXPECT_NE(y1[0].raw_data(), y2[0].raw_data());  // the caller's outputs are never recycled under it
}

TEST(Runtime, KernelErrorsNameTheNode) {
  testing::ModelBuilder b;
  b.opset("test", 1).input("x", DataType::kFloat, {1});
  b.node("Fail", {"x"}, {"y"}, {}, "test").output("y");
  Session s(b.build());
  try {
    s.run(std::vector<Tensor>{Tensor::zeros(DataType::kFloat, {1})});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("test.Fail"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad data"), std::string::npos) << e.what();
  }
}

TEST(Runtime, OutputsAreIndependentOfThreadCount) {
  Tensor x = Tensor::from_vector<float>({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  auto a = Session(chain(4), {.num_threads = 1}).run(std::vector<Tensor>{x});
  auto b = Session(chain(4), {.num_threads = 2}).run(std::vector<Tensor>{x});
  EXPECT_EQ(0, std::memcmp(a[0].raw_data(), b[0].raw_data(), a[0].nbytes()));
}

}  // namespace
}  // namespace quac
