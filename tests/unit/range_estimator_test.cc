#include "quant/range_estimator.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace quac::quant
