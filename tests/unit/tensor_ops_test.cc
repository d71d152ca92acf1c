// Targeted checks of the shape / data-movement reference kernels through a Session on tiny in-memory models.
#include <gtest/gtest.h>

#include <memory>

#include "ir/graph.h"
#include "quac/error.h"
#include "quac/model.h"
#include "quac/session.h"

namespace quac {
namespace {

template <typename T>
std::vector<T> values(const Tensor& t) {
  return std::vector<T>(t.data<T>(), t.data<T>() + t.numel());
}

// One-node model: every input is a graph input (so kernels run at Session::run, not at compile time); an undefined
// tensor marks an omitted optional input.
std::vector<Tensor> run_op(const std::string& op, const std::vector<Tensor>& inputs, size_t num_outputs = 1,
                           std::vector<ir::Attribute> attrs = {}, int64_t opset = 17) {
  auto model = std::make_shared<ir::Model>();
  model->opset_imports[""] = opset;
  ir::Node node;
  node.name = "n";
  node.op_type = op;
  node.attributes = std::move(attrs);
  std::vector<Tensor> feeds;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) {
      node.inputs.push_back("");
      continue;
    }
    feeds.push_back(inputs[i]);
    std::string name = "in" + std::to_string(i);
    ir::ValueInfo vi;
    vi.name = name;
    vi.dtype = inputs[i].dtype();
    model->graph.inputs.push_back(vi);
    node.inputs.push_back(name);
  }
  for (size_t i = 0; i < num_outputs; ++i) {
    std::string name = "out" + std::to_string(i);
    model->graph.outputs.push_back(ir::ValueInfo{name});
    node.outputs.push_back(name);
  }
  model->graph.nodes.push_back(node);
  SessionOptions options;
  options.num_threads = 1;
  Session session(Model(model), options);
  return session.run(feeds);
}

TEST(Reshape, ZeroCopiesDimensionAndMinusOneInfers) {
  Tensor x(DataType::kFloat, {2, 3, 4});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(i);
  auto out = run_op("Reshape", {x, Tensor::from_vector<int64_t>({2}, {0, -1})});
  ASSERT_EQ(out[0].shape(), (Shape{2, 12}));
  EXPECT_EQ(out[0].data<float>()[13], 13.0f);
  EXPECT_THROW(run_op("Reshape", {x, Tensor::from_vector<int64_t>({2}, {-1, -1})}), Error);
  EXPECT_THROW(run_op("Reshape", {x, Tensor::from_vector<int64_t>({2}, {5, -1})}), Error);
}

TEST(Reshape, AllowZeroMakesAnEmptyDimension) {
  Tensor x(DataType::kFloat, {0, 3});
  auto out = run_op("Reshape", {x, Tensor::from_vector<int64_t>({2}, {3, 0})}, 1, {ir::make_int_attr("allowzero", 1)});
  EXPECT_EQ(out[0].shape(), (Shape{3, 0}));
}

TEST(Gather, WrapsNegativeAndRejectsOutOfRangeIndices) {
  Tensor data = Tensor::from_vector<float>({3, 2}, {1, 2, 3, 4, 5, 6});
  auto out = run_op("Gather", {data, Tensor::from_vector<int32_t>({2}, {-1, 0})});
  ASSERT_EQ(out[0].shape(), (Shape{2, 2}));
  EXPECT_EQ(out[0].data<float>()[0], 5.0f);
  EXPECT_EQ(out[0].data<float>()[3], 2.0f);
  EXPECT_THROW(run_op("Gather", {data, Tensor::from_vector<int64_t>({1}, {3})}), Error);
  EXPECT_THROW(run_op("Gather", {data, Tensor::from_vector<int32_t>({1}, {-4})}), Error);
}

TEST(Gather, CopiesStrings) {
  Tensor data = Tensor::from_vector<std::string>({3}, {"a", "bb", "ccc"});
  auto out = run_op("Gather", {data, Tensor::from_vector<int64_t>({2}, {2, 2})});
  EXPECT_EQ(out[0].data<std::string>()[1], "ccc");
}

TEST(Indexing, OutOfRangeIndicesFailInEveryGatherAndScatter) {
  Tensor data = Tensor::from_vector<float>({2, 2}, {1, 2, 3, 4});
  Tensor bad = Tensor::from_vector<int64_t>({2, 2}, {0, 1, 2, 0});
  EXPECT_THROW(run_op("GatherElements", {data, bad}), Error);
  EXPECT_THROW(run_op("ScatterElements", {data, bad, data}), Error);
  EXPECT_THROW(run_op("GatherND", {data, Tensor::from_vector<int32_t>({1, 2}, {1, -3})}), Error);
  auto out = run_op("GatherND", {data, Tensor::from_vector<int32_t>({1, 2}, {1, -2})});
  EXPECT_EQ(values<float>(out[0]), (std::vector<float>{3}));
}

TEST(ScatterND, RejectsOutOfRangeIndex) {
  Tensor data = Tensor::from_vector<float>({4}, {0, 0, 0, 0});
  Tensor updates = Tensor::from_vector<float>({1}, {1});
  EXPECT_THROW(run_op("ScatterND", {data, Tensor::from_vector<int64_t>({1, 1}, {4}), updates}), Error);
  auto out = run_op("ScatterND", {data, Tensor::from_vector<int64_t>({1, 1}, {-1}), updates});
  EXPECT_EQ(out[0].data<float>()[3], 1.0f);
}

TEST(Slice, NegativeStepsAndClamping) {
  Tensor x = Tensor::from_vector<int32_t>({5}, {0, 1, 2, 3, 4});
  auto out = run_op("Slice", {x, Tensor::from_vector<int64_t>({1}, {100}), Tensor::from_vector<int64_t>({1}, {-100}),
                              Tensor::from_vector<int64_t>({1}, {0}), Tensor::from_vector<int64_t>({1}, {-2})});
  ASSERT_EQ(out[0].shape(), (Shape{3}));
  EXPECT_EQ(out[0].data<int32_t>()[0], 4);
  EXPECT_EQ(out[0].data<int32_t>()[2], 0);
}

TEST(TopK, TiesPreferTheLowerIndex) {
  Tensor x = Tensor::from_vector<float>({5}, {1, 3, 3, 2, 3});
  auto out = run_op("TopK", {x, Tensor::from_vector<int64_t>({1}, {2})}, 2);
  ASSERT_EQ(out[1].shape(), (Shape{2}));
  EXPECT_EQ(out[1].data<int64_t>()[0], 1);
  EXPECT_EQ(out[1].data<int64_t>()[1], 2);
}

TEST(Pad, ReflectAndNegativePads) {
  Tensor x = Tensor::from_vector<float>({4}, {1, 2, 3, 4});
  auto out =
      run_op("Pad", {x, Tensor::from_vector<int64_t>({2}, {2, -1})}, 1, {ir::make_string_attr("mode", "reflect")});
  ASSERT_EQ(out[0].shape(), (Shape{5}));
  const float want[] = {3, 2, 1, 2, 3};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(out[0].data<float>()[i], want[i]) << i;
}

TEST(Resize, LinearHalfPixelUpsample) {
  Tensor x = Tensor::from_vector<float>({1, 2}, {0, 4});
  auto out = run_op("Resize", {x, Tensor(), Tensor::from_vector<float>({2}, {1, 2})}, 1,
                    {ir::make_string_attr("mode", "linear")});
  ASSERT_EQ(out[0].shape(), (Shape{1, 4}));
  const float want[] = {0, 1, 3, 4};
  for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(out[0].data<float>()[i], want[i]) << i;
}

TEST(CenterCropPad, CropsAndPadsAroundTheCentre) {
  Tensor x = Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  auto out = run_op("CenterCropPad", {x, Tensor::from_vector<int64_t>({2}, {1, 6})}, 1, {}, 18);
  ASSERT_EQ(out[0].shape(), (Shape{1, 6}));
  const float want[] = {0, 1, 2, 3, 0, 0};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(out[0].data<float>()[i], want[i]) << i;
}

TEST(Col2Im, SumsOverlappingBlocks) {
  Tensor x = Tensor::from_vector<float>({1, 2, 2}, {1, 2, 3, 4});
  auto out =
      run_op("Col2Im", {x, Tensor::from_vector<int64_t>({1}, {3}), Tensor::from_vector<int64_t>({1}, {2})}, 1, {}, 18);
  ASSERT_EQ(out[0].shape(), (Shape{1, 1, 3}));
  const float want[] = {1, 5, 4};
  for (int i = 0; i < 3; ++i) EXPECT_EQ(out[0].data<float>()[i], want[i]) << i;
}

// Older opsets carried these arguments as attributes; the kernels map them to the newer semantics.
TEST(OldOpsets, AttributesInsteadOfInputs) {
  Tensor x = Tensor::from_vector<float>({4}, {1, 2, 3, 4});
  auto sliced =
      run_op("Slice", {x}, 1,
             {ir::make_ints_attr("starts", {1}), ir::make_ints_attr("ends", {-1}), ir::make_ints_attr("axes", {0})}, 9);
  EXPECT_EQ(values<float>(sliced[0]), (std::vector<float>{2, 3}));
  auto padded = run_op("Pad", {x}, 1, {ir::make_ints_attr("pads", {1, 1}), ir::make_float_attr("value", 9)}, 2);
  EXPECT_EQ(values<float>(padded[0]), (std::vector<float>{9, 1, 2, 3, 4, 9}));
  auto parts = run_op("Split", {x}, 2, {ir::make_ints_attr("split", {1, 3})}, 11);
  EXPECT_EQ(parts[1].shape(), (Shape{3}));
  auto squeezed = run_op("Squeeze", {x.reshaped({1, 4})}, 1, {ir::make_ints_attr("axes", {0})}, 11);
  EXPECT_EQ(squeezed[0].shape(), (Shape{4}));
  auto top = run_op("TopK", {x}, 2, {ir::make_int_attr("k", 2)}, 1);
  EXPECT_EQ(values<float>(top[0]), (std::vector<float>{4, 3}));
  auto dropped = run_op("Dropout", {x}, 2, {}, 7);
  EXPECT_EQ(dropped[1].dtype(), DataType::kFloat);
  EXPECT_EQ(values<float>(dropped[1]), (std::vector<float>{1, 1, 1, 1}));
}

TEST(OldOpsets, UpsampleAndResize10RepeatNearest) {
  Tensor x = Tensor::from_vector<float>({1, 2}, {1, 2});
  auto up = run_op("Upsample", {x}, 1, {ir::make_floats_attr("scales", {1, 2})}, 7);
  EXPECT_EQ(values<float>(up[0]), (std::vector<float>{1, 1, 2, 2}));
  auto resized = run_op("Resize", {x, Tensor::from_vector<float>({2}, {1, 2})}, 1, {}, 10);
  EXPECT_EQ(values<float>(resized[0]), (std::vector<float>{1, 1, 2, 2}));
}

}  // namespace
}  // namespace quac
