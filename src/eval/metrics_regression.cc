// Regression metrics: "mse" (mean squared error) and "mae" (mean absolute error) between output 0 and a reference.
//
// Output 0 is float [N, ...]; the annotation of each item is a numeric tensor with the shape of one item of the output
// (output.shape[1:]; an extra leading 1 is accepted). value(): each item's own mean error over its elements.
// avg_value(): the mean of the per-item values since reset() (with fixed-shape outputs, the same as the mean over all
// elements). Both are higher-worse.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "quac/metric.h"

namespace quac {
namespace detail {
namespace {

class RegressionMetric : public PerSampleMetric {
 public:
  explicit RegressionMetric(const std::string& name)
      : PerSampleMetric(name, {"higher-worse", name}), squared_(name == "mse") {}

 protected:
  std::vector<double> compute(const std::vector<Tensor>& outputs, const std::vector<Tensor>& annotations) override {
    const std::string& label = name();
    QUAC_CHECK(!outputs.empty(), kMetricError, label, ": the model produced no outputs");
    const Tensor& out = outputs[0];
    QUAC_CHECK(dtype_is_float(out.dtype()) && out.rank() >= 1, kMetricError, label,
               ": output 0 must be float values [N, ...], got ", dtype_name(out.dtype()), shape_str(out.shape()));
    int64_t n = out.dim(0);
    QUAC_CHECK(static_cast<size_t>(n) == annotations.size(), kMetricError, label, ": ", n, " outputs for ",
               annotations.size(), " annotations");
    Shape item_shape(out.shape().begin() + 1, out.shape().end());
    Shape with_batch = item_shape;
    with_batch.insert(with_batch.begin(), 1);
    int64_t per_item = shape_numel(item_shape);
    std::vector<float> predicted = out.to_float_vector();
    std::vector<double> values(static_cast<size_t>(n), 0.0);
    for (int64_t i = 0; i < n; ++i) {
      const Tensor& a = annotations[static_cast<size_t>(i)];
      QUAC_CHECK(a.defined(), kMetricError, label, ": item ", i, " of the batch has no annotation");
      QUAC_CHECK((dtype_is_float(a.dtype()) || dtype_is_integer(a.dtype())) &&
                     (a.shape() == item_shape || a.shape() == with_batch),
                 kMetricError, label, ": annotation of item ", i, " must be numeric of shape ", shape_str(item_shape),
                 " (one item of output 0), got ", dtype_name(a.dtype()), shape_str(a.shape()));
      std::vector<float> reference = a.to_float_vector();
      double sum = 0;
      for (int64_t k = 0; k < per_item; ++k) {
        double d = static_cast<double>(predicted[static_cast<size_t>(i * per_item + k)]) -
                   static_cast<double>(reference[static_cast<size_t>(k)]);
        sum += squared_ ? d * d : std::fabs(d);
      }
      double v = per_item ? sum / static_cast<double>(per_item) : 0.0;
      QUAC_CHECK(std::isfinite(v), kMetricError, label, ": item ", i,
                 " gives a non-finite error (NaN or infinity in the annotation)");
      values[static_cast<size_t>(i)] = v;
    }
    return values;
  }

 private:
  bool squared_;
};

}  // namespace

// "mse" or "mae"; nullptr for other names.
std::unique_ptr<Metric> create_regression_metric(const std::string& name) {
  if (name == "mse" || name == "mae") return std::make_unique<RegressionMetric>(name);
  return nullptr;
}

}  // namespace detail
}  // namespace quac
