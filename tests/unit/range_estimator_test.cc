#include "quant/range_estimator.h"

#include <gtest/gtest.h>

#include <random>

#include "quac/error.h"

namespace quac::quant {
namespace {

TEST(RangeEstimator, SampleStatistics) {
  std::vector<float> v{-3, -1, 0, 2, 5};
  std::vector<float> scratch;
  EXPECT_EQ(sample_statistic(v.data(), v.size(), {"min"}, true, scratch), -3);
  EXPECT_EQ(sample_statistic(v.data(), v.size(), {"max"}, false, scratch), 5);
  EXPECT_EQ(sample_statistic(v.data(), v.size(), {"abs_max"}, true, scratch), -5);
  // numpy.quantile([-3,-1,0,2,5], 0.75) = 2; abs values [0,1,2,3,5] at 0.75 = 3.
  EXPECT_DOUBLE_EQ(sample_statistic(v.data(), v.size(), {"quantile", "mean", 0.25}, false, scratch), 2.0);
  EXPECT_DOUBLE_EQ(sample_statistic(v.data(), v.size(), {"quantile", "mean", 0.25}, true, scratch), -1.0);
  EXPECT_DOUBLE_EQ(sample_statistic(v.data(), v.size(), {"abs_quantile", "mean", 0.25}, false, scratch), 3.0);
}

TEST(RangeEstimator, Aggregators) {
  std::vector<double> s{1, 2, 3, 4, 100};
  auto agg = [&](const char* name, double outlier = 1e-4) {
    std::vector<double> copy = s;
    return aggregate(copy, {"max", name, outlier});
  };
  EXPECT_DOUBLE_EQ(agg("mean"), 22);
  EXPECT_DOUBLE_EQ(agg("median"), 3);
  EXPECT_DOUBLE_EQ(agg("max"), 100);
  EXPECT_DOUBLE_EQ(agg("min"), 1);
  EXPECT_DOUBLE_EQ(agg("mean_no_outliers", 0.1), 3);  // drops 1 and 100 (outside the 10%..90% quantiles)
  // Walsh averages of {1,2,3,4,100}: the median of the 15 pairwise means is 3.
  EXPECT_DOUBLE_EQ(agg("hl_estimator"), 3);
  std::vector<double> copy = s;
  EXPECT_DOUBLE_EQ(aggregate(copy, {"max", "max", 1e-4, 10.0}), 10);
}

TEST(RangeEstimator, PresetsAndValidation) {
  EXPECT_EQ(range_estimator_preset("quantile").max.type, "quantile");
  EXPECT_THROW(range_estimator_preset("tight"), Error);
  RangeEstimatorConfig bad;
  bad.max.aggregator = "average";
  try {
    validate(bad);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("range_estimator.max.aggregator"), std::string::npos);
  }
}

TEST(RangeEstimator, HistogramThresholdsClipOutliers) {
  // Gaussian values (sigma 1) plus a few far outliers at 60: min/max would take 60.
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(200000);
  for (float& x : v) x = normal(rng);
  for (int k = 0; k < 5; ++k) v[static_cast<size_t>(k) * 1000] = 60.0f;
  AbsHistogram h;
  h.init(60.0);
  // Streaming in chunks gives the same histogram as one call.
  for (size_t b = 0; b < v.size(); b += 4096) h.add(v.data() + b, std::min<size_t>(4096, v.size() - b));
  double total = 0;
  for (double c : h.counts) total += c;
  EXPECT_DOUBLE_EQ(total, 200000.0);
  // 8 bits: five outliers cost less to keep (rounding noise) than to clip, so MSE keeps nearly the whole range; with
  // 4 bits (7 positive levels) the rounding noise dominates and MSE clips to a few sigma.
  EXPECT_GT(mse_threshold(h, 127), 40.0);
  double mse4 = mse_threshold(h, 7);
  EXPECT_GT(mse4, 1.5);
  EXPECT_LT(mse4, 6.0);
  // KL matches the distribution's shape, not the outliers: a few sigma at 8 bits.
  double kl = kl_threshold(h, 127);
  EXPECT_GT(kl, 2.0);
  EXPECT_LT(kl, 20.0);
  // Uniform values have no tails worth clipping: the MSE threshold stays near the maximum.
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (float& x : v) x = uniform(rng);
  AbsHistogram u;
  u.init(1.0);
  u.add(v.data(), v.size());
  EXPECT_GT(mse_threshold(u, 127), 0.97);
  EXPECT_EQ(range_estimator_preset("mse").histogram, "mse");
  EXPECT_EQ(range_estimator_preset("kl").histogram, "kl");
  RangeEstimatorConfig bad;
  bad.histogram = "entropy2";
  EXPECT_THROW(validate(bad), Error);
}

}  // namespace
}  // namespace quac::quant
