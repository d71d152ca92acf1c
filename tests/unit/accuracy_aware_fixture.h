// The small in-memory model and self-labelled dataset that the AccuracyAwareQuantization tests share: three quantizer
// groups, labels = the FP32 model's own predictions (FP32 top-1 = 1), and 3-bit base parameters that break them.
#pragma once

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/random.h"
#include "quac/dataset.h"
#include "quac/metric.h"
#include "quac/pipeline.h"
#include "quac/session.h"
#include "test_model_builder.h"

namespace quac::testing {

// Conv -> Relu -> Conv -> Relu -> Reshape -> MatMul: four classes, three quantizer groups; the convs have biases
// unless `biases` is false.
inline Model small_model(bool biases = true) {
  testing::ModelBuilder b(13);
  b.input("x", DataType::kFloat, {-1, 2, 6, 6});
  b.initializer("w1", random_tensor(DataType::kFloat, {8, 2, 3, 3}, 5, 0.5f));
  b.initializer("w2", random_tensor(DataType::kFloat, {8, 8, 3, 3}, 6, 0.3f));
  b.initializer("b1", random_tensor(DataType::kFloat, {8}, 8, 0.1f));
  b.initializer("b2", random_tensor(DataType::kFloat, {8}, 9, 0.1f));
  b.initializer("w3", random_tensor(DataType::kFloat, {8 * 6 * 6, 4}, 7, 0.2f));
  b.initializer("shape", Tensor::from_vector<int64_t>({2}, {-1, 8 * 6 * 6}));
  auto conv_inputs = [&](const char* x, const char* w, const char* bias) {
    return biases ? std::vector<std::string>{x, w, bias} : std::vector<std::string>{x, w};
  };
  b.node("Conv", conv_inputs("x", "w1", "b1"), {"c1"}, {ir::make_ints_attr("pads", {1, 1, 1, 1})});
  b.node("Relu", {"c1"}, {"r1"});
  b.node("Conv", conv_inputs("r1", "w2", "b2"), {"c2"}, {ir::make_ints_attr("pads", {1, 1, 1, 1})});
  b.node("Relu", {"c2"}, {"r2"});
  b.node("Reshape", {"r2", "shape"}, {"f"});
  b.node("MatMul", {"f", "w3"}, {"y"});
  return b.output("y", DataType::kFloat, Shape{-1, 4}).build();
}

// Random inputs labelled with the FP32 model's own predictions (FP32 top-1 = 1).
class LabelledByModel : public Dataset {
 public:
  LabelledByModel(const Model& model, size_t n, uint64_t seed = 100) {
    Session session(model);
    for (size_t i = 0; i < n; ++i) {
      Tensor x = random_tensor(DataType::kFloat, {1, 2, 6, 6}, seed + i);
      Tensor y = session.run(std::vector<Tensor>{x})[0];
      const float* s = y.data<float>();
      items_.push_back(x.reshaped({2, 6, 6}));
      labels_.push_back(std::max_element(s, s + 4) - s);
    }
  }
  size_t size() const override { return items_.size(); }
  DataItem get(size_t i) const override {
    DataItem d;
    d.inputs = {items_[i]};
    d.annotation = Tensor::from_vector<int64_t>({}, {labels_[i]});
    return d;
  }
  std::string describe() const override { return "labelled-by-model (" + std::to_string(size()) + " items)"; }

 private:
  std::vector<Tensor> items_;
  std::vector<int64_t> labels_;
};

inline std::shared_ptr<Engine> labelled_engine(const Model& model, size_t n = 64, uint64_t seed = 100) {
  return std::make_shared<Engine>(std::make_shared<LabelledByModel>(model, n, seed), create_metric("top1"),
                                  EngineOptions{.batch_size = 16, .num_threads = 1, .progress = false});
}

inline const nlohmann::json kBase = {
    {"stat_subset_size", 32}, {"use_fast_bias", false}, {"weights", {{"bits", 3}}}, {"activations", {{"bits", 3}}}};

}  // namespace quac::testing
