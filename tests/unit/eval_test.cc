// Datasets, metrics and the Evaluator on tiny in-memory models.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/npy.h"
#include "quac/evaluator.h"
#include "test_model_builder.h"

namespace quac {
namespace {
namespace fs = std::filesystem;

// Identity over [N, 4] "logits": the data decides the predictions.
Model identity_model() {
  testing::ModelBuilder b;
  b.input("x", DataType::kFloat, {-1, 4}).node("Identity", {"x"}, {"y"}).output("y");
  return b.build();
}

fs::path make_npy_dir(const std::string& name, const std::vector<float>& x, const std::vector<int64_t>& y) {
  fs::path dir = fs::temp_directory_path() / ("quac_eval_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  int64_t n = static_cast<int64_t>(x.size() / 4);
  write_npy((dir / "x.npy").string(), Tensor::from_vector<float>({n, 4}, x));
  if (!y.empty())
    write_npy((dir / "y.npy").string(), Tensor::from_vector<int64_t>({static_cast<int64_t>(y.size())}, y));
  return dir;
}

TEST(Eval, Top1OnNpyDatasetWithPerSampleValues) {
  // Predictions: argmax = 0, 1, 2, 3, 0; labels 0, 1, 0, 3, 2 -> 3 of 5 correct.
  std::vector<float> x = {9, 0, 0, 0, 0, 9, 0, 0, 0, 0, 9, 0, 0, 0, 0, 9, 9, 0, 0, 0};
  fs::path dir = make_npy_dir("top1", x, {0, 1, 0, 3, 2});
  Model model = identity_model();
  auto data = open_dataset("npy:" + dir.string(), model);
  ASSERT_EQ(data->size(), 5u);
  auto metric = create_metric("top1");
  Session session(model);
  EvaluationOptions options;
  options.batch_size = 2;
  auto r = evaluate(session, *data, *metric, options);
  EXPECT_DOUBLE_EQ(r.metrics.at("top1"), 0.6);
  EXPECT_EQ(r.per_sample.at("top1"), (std::vector<double>{1, 1, 0, 1, 0}));
  options.indices = {2, 4};
  options.keep_outputs = true;
  r = evaluate(session, *data, *metric, options);
  EXPECT_DOUBLE_EQ(r.metrics.at("top1"), 0.0);
  ASSERT_EQ(r.outputs.size(), 2u);
  EXPECT_EQ(r.outputs[1][0].data<float>()[0], 9.0f);
  auto top2 = create_metric("top2");
  r = evaluate(session, *data, *top2, {});
  EXPECT_GE(r.metrics.at("top2"), 0.6);
}

TEST(Eval, NanOutputNamesOutputAndItem) {
  std::vector<float> x = {1, 0, 0, 0, 0, NAN, 0, 0};
  fs::path dir = make_npy_dir("nan", x, {0, 1});
  Model model = identity_model();
  auto data = open_dataset("npy:" + dir.string(), model);
  auto metric = create_metric("top1");
  Session session(model);
  try {
    evaluate(session, *data, *metric, {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kMetricError);
    EXPECT_NE(std::string(e.what()).find("NaN"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("item 1"), std::string::npos) << e.what();
  }
}

TEST(Eval, MissingAnnotationsAndBadLabelsAreMetricErrors) {
  fs::path dir = make_npy_dir("nolabels", {1, 0, 0, 0}, {});
  Model model = identity_model();
  auto data = open_dataset("npy:" + dir.string(), model);
  auto metric = create_metric("top1");
  Session session(model);
  EXPECT_THROW(evaluate(session, *data, *metric, {}), Error);
  fs::path bad = make_npy_dir("badlabel", {1, 0, 0, 0}, {7});
  auto data2 = open_dataset("npy:" + bad.string(), model);
  try {
    evaluate(session, *data2, *metric, {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("label 7"), std::string::npos) << e.what();
  }
}

TEST(Eval, DatasetSpecErrorsAreClear) {
  Model model = identity_model();
  EXPECT_THROW(open_dataset("csv:/tmp", model), Error);
  EXPECT_THROW(open_dataset("npy:/nonexistent", model), Error);
  EXPECT_THROW(open_dataset("idx:/tmp,colour=red", model), Error);
  EXPECT_THROW(create_metric("top0"), Error);
  EXPECT_THROW(create_metric("mAP@banana"), Error);
  // Wrong sample shape for the model's input [N,4].
  fs::path dir = fs::temp_directory_path() / "quac_eval_shape";
  fs::remove_all(dir);
  fs::create_directories(dir);
  write_npy((dir / "x.npy").string(), Tensor::zeros(DataType::kFloat, {3, 5}));
  try {
    open_dataset("npy:" + dir.string(), model);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDatasetError);
    EXPECT_NE(std::string(e.what()).find("x.npy"), std::string::npos) << e.what();
  }
}

TEST(Eval, FashionMnistIdxReader) {
  const char* dir = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(dir)) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  testing::ModelBuilder b;
  b.input("input", DataType::kFloat, {-1, 1, 28, 28}).node("Identity", {"input"}, {"y"}).output("y");
  Model model = b.build();
  auto data = open_dataset(std::string("idx:") + dir + ",split=test,mean=0.5,std=0.5,limit=100", model);
  ASSERT_EQ(data->size(), 100u);
  DataItem item = data->get(0);
  EXPECT_EQ(item.inputs[0].shape(), (Shape{1, 28, 28}));
  EXPECT_EQ(item.annotation.scalar_as_int(), 9);  // the first Fashion-MNIST test image is an ankle boot
  float lo = 1e9f, hi = -1e9f;
  for (int i = 0; i < 784; ++i) {
    lo = std::min(lo, item.inputs[0].data<float>()[i]);
    hi = std::max(hi, item.inputs[0].data<float>()[i]);
  }
  EXPECT_FLOAT_EQ(lo, -1.0f);
  EXPECT_LE(hi, 1.0f);
  EXPECT_EQ(open_dataset(std::string("idx:") + dir + ",split=train", model)->size(), 60000u);
}

}  // namespace
}  // namespace quac
