// The runtime runs nodes with small inputs on one thread (runtime/plan.h, small_step_elements) and every other node
// on the session's threads; the rule can be turned off.
#include <gtest/gtest.h>
#include <omp.h>

#include "ops/kernel.h"
#include "runtime/plan.h"
#include "test_model_builder.h"

namespace quac {
namespace {

int g_seen_threads = 0;

// test.ThreadProbe: copies its input and records how many OpenMP threads a parallel region would get.
QUAC_REGISTER_KERNEL({.domain = "test",
                      .op_type = "ThreadProbe",
                      .impl = "reference",
                      .factory = [](const KernelInfo&, std::string*) -> std::unique_ptr<Kernel> {
                        return std::make_unique<FunctionKernel>([](KernelContext& ctx) {
                          g_seen_threads = omp_get_max_threads();
                          const Tensor& x = ctx.in(0);
                          Tensor& y = ctx.allocate_output(0, DataType::kFloat, x.shape());
                          for (int64_t i = 0; i < x.numel(); ++i) y.data<float>()[i] = x.data<float>()[i];
                        });
                      }});

Model probe_model() {
  testing::ModelBuilder b;
  b.opset("test", 1).input("x", DataType::kFloat, {1, -1});
  b.node("ThreadProbe", {"x"}, {"y"}, {}, "test");
  return b.output("y").build();
}

int threads_seen(Session& s, int64_t elements) {
  g_seen_threads = 0;
  s.run(std::vector<Tensor>{Tensor::zeros(DataType::kFloat, {1, elements})});
  return g_seen_threads;
}

TEST(SmallSteps, RunOnOneThread) {
  const int64_t saved = ExecutionPlan::small_step_elements();
  ExecutionPlan::set_small_step_elements(1000);
  Session s(probe_model(), {.num_threads = 2});
  EXPECT_EQ(threads_seen(s, 999), 1);
  EXPECT_EQ(omp_get_max_threads(), 2) << "the session's thread count is restored after a small step";
  EXPECT_EQ(threads_seen(s, 1000), 2);
  ExecutionPlan::set_small_step_elements(0);
  EXPECT_EQ(threads_seen(s, 10), 2) << "0 turns the rule off";
  Session one(probe_model(), {.num_threads = 1});
  EXPECT_EQ(threads_seen(one, 5000), 1);
  ExecutionPlan::set_small_step_elements(saved);
}

TEST(SmallSteps, MultiplyAddEstimate) {
  ir::Node conv;
  conv.op_type = "Conv";
  Tensor x = Tensor::zeros(DataType::kFloat, {1, 96, 112, 112});
  // A dense 3x3 conv 96 -> 96: 12544 pixels x 96 x 96 x 9.
  EXPECT_EQ(ExecutionPlan::estimated_macs(conv, x, Tensor::zeros(DataType::kFloat, {96, 96, 3, 3})),
            12544LL * 96 * 96 * 9);
  // Depthwise: each output channel reads one input channel, so 12544 x 96 x 9 (not 96 times less: the weights'
  // element count already holds the group division).
  conv.set_attr(ir::make_int_attr("group", 96));
  EXPECT_EQ(ExecutionPlan::estimated_macs(conv, x, Tensor::zeros(DataType::kFloat, {96, 1, 3, 3})), 12544LL * 96 * 9);
  ir::Node mm;
  mm.op_type = "MatMul";
  EXPECT_EQ(ExecutionPlan::estimated_macs(mm, Tensor::zeros(DataType::kFloat, {4, 8, 16}),
                                          Tensor::zeros(DataType::kFloat, {16, 32})),
            4LL * 8 * 16 * 32);
  ir::Node relu;
  relu.op_type = "Relu";
  EXPECT_EQ(ExecutionPlan::estimated_macs(relu, x, x), -1);
}

}  // namespace
}  // namespace quac
