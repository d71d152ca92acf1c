// The MobileNet-style and ViT fixtures must lose clearly more than 1% top-1 under full INT8 (performance preset,
// POT's default range estimator), and removing the quantizer groups of their outlier tensors
// (QuantizationScope::without_groups, what accuracy control does) must recover it. Needs Fashion-MNIST
// (/usr/share/datasets/fashion-mnist); skipped without it. 2000 test images: a few seconds per model.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "quac/dataset.h"
#include "quac/session.h"
#include "quant/calibrate.h"
#include "quant/placement.h"

namespace quac {
namespace {

namespace fs = std::filesystem;
const char* kData = "/usr/share/datasets/fashion-mnist";

double top1(const Model& model, const Dataset& data, size_t n) {
  SessionOptions so;
  so.num_threads = 1;
  Session s(model, so);
  std::vector<size_t> idx(n);
  for (size_t i = 0; i < n; ++i) idx[i] = i;
  size_t correct = 0;
  for (size_t b = 0; b < n; b += 100) {
    Batch batch = make_batch(data, idx, b, std::min(b + 100, n));
    Tensor logits = s.run(batch.inputs)[0];
    int64_t classes = logits.dim(1);
    for (int64_t r = 0; r < logits.dim(0); ++r) {
      const float* p = logits.data<float>() + r * classes;
      int64_t best = std::max_element(p, p + classes) - p;
      const Tensor& label = batch.annotations[static_cast<size_t>(r)];
      correct += best == (label.dtype() == DataType::kInt64 ? label.data<int64_t>()[0] : label.data<uint8_t>()[0]);
    }
  }
  return static_cast<double>(correct) / static_cast<double>(n);
}

class FixtureSensitivity : public ::testing::TestWithParam<const char*> {};

TEST_P(FixtureSensitivity, LosesAccuracyInInt8AndRecoversWithoutOutlierGroups) {
  if (!fs::exists(fs::path(kData) / "t10k-labels-idx1-ubyte.gz") &&
      !fs::exists(fs::path(kData) / "t10k-labels-idx1-ubyte"))
    GTEST_SKIP() << "Fashion-MNIST not installed at " << kData;
  fs::path dir = fs::path(QUAC_SOURCE_DIR) / "tests/data/fixtures";
  std::ifstream in(dir / "fixtures.json");
  auto meta = nlohmann::json::parse(in).at("models").at(GetParam());
  std::set<std::string> outliers;
  for (const auto& t : meta.at("outlier_tensors")) outliers.insert(t.get<std::string>());

  Model fp32 = load_model((dir / (std::string(GetParam()) + ".onnx")).string());
  auto test = open_dataset(std::string("idx:") + kData + ",split=test,limit=2000,mean=0.2860,std=0.3530", fp32);
  auto train = open_dataset(std::string("idx:") + kData + ",split=train,limit=300,mean=0.2860,std=0.3530", fp32);
  auto scope = std::make_shared<quant::QuantizationScope>(quant::place_quantizers(fp32.ir().graph, {}));
  quant::collect_activation_ranges(fp32, *train, *scope,
                                   {.stat_subset_size = 300, .num_threads = 1, .progress = false});
  quant::compute_weight_ranges(fp32.ir().graph, *scope);
  quant::compute_parameters(*scope, "performance");

  std::set<size_t> groups;
  for (const auto& q : scope->quantizers)
    if (outliers.count(q.value)) groups.insert(static_cast<size_t>(q.group));
  ASSERT_FALSE(groups.empty());
  EXPECT_LE(groups.size(), 4u) << "a few groups, not the whole model";
  auto reverted = std::make_shared<quant::QuantizationScope>(scope->without_groups(groups));

  const size_t n = 2000;
  double a_fp = top1(fp32, *test, n);
  double a_q = top1(fp32.with_scope(scope), *test, n);
  double a_r = top1(fp32.with_scope(reverted), *test, n);
  RecordProperty("fp32", std::to_string(a_fp));
  RecordProperty("int8", std::to_string(a_q));
  RecordProperty("reverted", std::to_string(a_r));
  std::printf("%s: FP32 %.4f INT8 %.4f without %zu outlier groups %.4f\n", GetParam(), a_fp, a_q, groups.size(), a_r);
  EXPECT_LT(a_q, a_fp - 0.015) << "the fixture is not sensitive enough to INT8";
  EXPECT_GT(a_r, a_fp - 0.005) << "reverting the outlier groups must recover the accuracy";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FixtureSensitivity, ::testing::Values("mobilenet", "vit"));

}  // namespace
}  // namespace quac
