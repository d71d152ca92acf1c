// The POT-style C++ workflow: Engine, create_pipeline from {name, params}, run, compress_model_weights, save_model.
#include "quac/pipeline.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/file_util.h"
#include "core/random.h"
#include "quac/session.h"
#include "quant/scope.h"
#include "test_model_builder.h"

namespace quac {
namespace {

Model conv_model() {
  testing::ModelBuilder b(13);
  b.input("x", DataType::kFloat, {-1, 3, 8, 8});
  b.initializer("w", random_tensor(DataType::kFloat, {16, 3, 3, 3}, 5, 0.3f));
  b.initializer("w2", random_tensor(DataType::kFloat, {16 * 8 * 8, 4}, 6, 0.1f));
  b.initializer("shape", Tensor::from_vector<int64_t>({2}, {-1, 16 * 8 * 8}));
  b.node("Conv", {"x", "w"}, {"c"}, {ir::make_ints_attr("pads", {1, 1, 1, 1})});
  b.node("Relu", {"c"}, {"r"});
  b.node("Reshape", {"r", "shape"}, {"f"});
  b.node("MatMul", {"f", "w2"}, {"y"});
  return b.output("y", DataType::kFloat, Shape{-1, 4}).build();
}

std::shared_ptr<Engine> random_engine(const Model& model) {
  return std::make_shared<Engine>(open_dataset("random,n=16", model), nullptr, EngineOptions{.progress = false});
}

TEST(Pipeline, DefaultQuantizationProducesAQuantizedModel) {
  Model model = conv_model();
  auto pipeline = create_pipeline(
      {{"DefaultQuantization", {{"preset", "performance"}, {"stat_subset_size", 16}, {"use_fast_bias", false}}}},
      random_engine(model));
  Model q = pipeline->run(model);
  ASSERT_TRUE(q.quantized());
  EXPECT_EQ(q.scope()->groups.size(), 2u);
  EXPECT_FALSE(model.quantized());  // the input model is untouched

  auto dir = std::filesystem::temp_directory_path() / "quac_pipeline";
  std::filesystem::create_directories(dir);
  save_model(q, (dir / "q.onnx").string());
  compress_model_weights(q);
  save_model(q, (dir / "qc.onnx").string());
  save_model(model, (dir / "fp.onnx").string());
  auto size = [&](const char* f) { return std::filesystem::file_size(dir / f); };
  EXPECT_LT(size("qc.onnx") * 3, size("fp.onnx"));  // INT8 weights: about 4x smaller
  EXPECT_GT(size("q.onnx"), size("fp.onnx"));       // FP32 weights plus quantizer parameters
  // The saved QDQ model loads back and computes what the in-memory quantized model computes.
  Model reloaded = load_model((dir / "qc.onnx").string());
  Tensor x = random_tensor(DataType::kFloat, {2, 3, 8, 8}, 11);
  Tensor a = Session(q).run(std::vector<Tensor>{x})[0];
  Tensor b = Session(reloaded).run(std::vector<Tensor>{x})[0];
  ASSERT_EQ(a.shape(), b.shape());
  for (int64_t i = 0; i < a.numel(); ++i) EXPECT_NEAR(a.data<float>()[i], b.data<float>()[i], 1e-5f);
}

TEST(Pipeline, ParameterErrorsNameThePath) {
  Model model = conv_model();
  auto engine = random_engine(model);
  auto message = [&](const std::vector<AlgorithmSpec>& specs) {
    try {
      create_pipeline(specs, engine);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(message({{"DefaultQuantisation", {}}}).find("unknown algorithm 'DefaultQuantisation'"), std::string::npos);
  EXPECT_NE(message({{"DefaultQuantization", {{"stat_subset_sise", 3}}}})
                .find("algorithms[0].params: unknown key 'stat_subset_sise'"),
            std::string::npos);
  EXPECT_NE(
      message({{"MinMaxQuantization", {{"stat_subset_size", "many"}}}}).find("stat_subset_size: expected an integer"),
      std::string::npos);
  EXPECT_NE(
      message({{"MinMaxQuantization", {{"activations", {{"range_estimator", {{"max", {{"aggregator", "avg"}}}}}}}}}})
          .find("range_estimator.max.aggregator"),
      std::string::npos);
  EXPECT_NE(message({{"MinMaxQuantization", {{"use_layerwise_tuning", true}}}}).find("not implemented yet"),
            std::string::npos);
  EXPECT_NE(message({{"MinMaxQuantization", {{"model_type", "cnn"}}}}).find("model_type"), std::string::npos);
}

}  // namespace
}  // namespace quac
