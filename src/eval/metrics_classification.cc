// Classification metrics from the confusion matrix: "f1", reported together with "precision" and "recall".
//
// Output 0 is float class scores [N, C] (C >= 2; the prediction is the argmax, first index on ties); the annotation of
// each item is one class index (integer, or float holding an integer). With C == 2 the metrics are binary, for the
// positive class 1. With C > 2 they are macro averages (as scikit-learn's average="macro"): precision, recall and F1
// are computed per class and averaged over the classes that occur in the labels or the predictions; a class never
// predicted has precision 0, a class never labelled has recall 0, and F1 is 0 when precision + recall is 0. macro F1 is
// the mean of the per-class F1 values, not the harmonic mean of macro precision and recall. Everything is computed from
// the confusion matrix accumulated since reset(); with no counted item every value is 0.
//
// Per-sample values: none. F1, precision and recall are ratios of dataset-level counts, and no per-item quantity sums
// or averages to them: per-item correctness (1/0) would be top-1 accuracy in disguise and would mis-rank items (a
// correct item of a rare class moves macro F1 much more than one of a common class). value() therefore reports an
// empty vector for each name; the evaluator drops per-sample lists that do not cover the batch, and the
// accuracy-aware ranking falls back to the distance between the quantized and the reference outputs.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "quac/metric.h"

namespace quac {
namespace detail {
namespace {

class F1Metric : public Metric {
 public:
  // `names`: which of f1, precision, recall to report.
  explicit F1Metric(std::vector<std::string> names) : names_(std::move(names)) {}

  void update(const std::vector<Tensor>& outputs, const std::vector<Tensor>& annotations) override {
    QUAC_CHECK(!outputs.empty(), kMetricError, "f1: the model produced no outputs");
    const Tensor& logits = outputs[0];
    QUAC_CHECK(dtype_is_float(logits.dtype()) && logits.rank() == 2 && logits.dim(1) >= 2, kMetricError,
               "f1: output 0 must be float scores of shape [N, classes] with at least 2 classes, got ",
               dtype_name(logits.dtype()), shape_str(logits.shape()));
    int64_t n = logits.dim(0), classes = logits.dim(1);
    QUAC_CHECK(static_cast<size_t>(n) == annotations.size(), kMetricError, "f1: ", n, " outputs for ",
               annotations.size(), " annotations");
    QUAC_CHECK(confusion_.empty() || classes_ == classes, kMetricError, "f1: output 0 has ", classes,
               " classes, earlier batches had ", classes_);
    // Counted into a copy so that a bad item leaves the accumulated counts untouched.
    std::vector<int64_t> confusion = confusion_;
    if (confusion.empty()) confusion.assign(static_cast<size_t>(classes * classes), 0);
    std::vector<float> scores = logits.to_float_vector();
    for (int64_t i = 0; i < n; ++i) {
      const Tensor& a = annotations[static_cast<size_t>(i)];
      QUAC_CHECK(a.defined() && a.numel() == 1 && (dtype_is_integer(a.dtype()) || dtype_is_float(a.dtype())),
                 kMetricError, "f1: annotation of item ", i, " of the batch must be one class index");
      double value = a.scalar_as_double(0);
      QUAC_CHECK(value == std::floor(value), kMetricError, "f1: annotation of item ", i, " is ", value,
                 ", not an integer class index");
      QUAC_CHECK(value >= 0 && value < static_cast<double>(classes), kMetricError, "f1: label ", value, " of item ", i,
                 " out of range for ", classes, " classes");
      auto label = static_cast<int64_t>(value);
      const float* row = scores.data() + i * classes;
      int64_t pred = 0;
      for (int64_t c = 1; c < classes; ++c)
        if (row[c] > row[pred]) pred = c;
      ++confusion[static_cast<size_t>(label * classes + pred)];  // rows: truth, columns: prediction
    }
    classes_ = classes;
    confusion_ = std::move(confusion);
  }

  std::map<std::string, std::vector<double>> value() const override {
    std::map<std::string, std::vector<double>> out;
    for (const auto& n : names_) out[n] = {};
    return out;
  }

  std::map<std::string, double> avg_value() const override {
    double precision = 0, recall = 0, f1 = 0;
    int64_t averaged = 0;
    auto at = [&](int64_t t, int64_t p) { return confusion_[static_cast<size_t>(t * classes_ + p)]; };
    for (int64_t c = 0; c < classes_; ++c) {
      if (classes_ == 2 && c != 1) continue;  // binary: the positive class only
      int64_t tp = at(c, c), predicted = 0, labelled = 0;
      for (int64_t k = 0; k < classes_; ++k) {
        predicted += at(k, c);
        labelled += at(c, k);
      }
      if (classes_ > 2 && predicted == 0 && labelled == 0) continue;  // absent class: not averaged
      double p = predicted ? static_cast<double>(tp) / static_cast<double>(predicted) : 0.0;
      double r = labelled ? static_cast<double>(tp) / static_cast<double>(labelled) : 0.0;
      precision += p;
      recall += r;
      f1 += p + r > 0 ? 2 * p * r / (p + r) : 0.0;
      ++averaged;
    }
    if (averaged) {
      precision /= static_cast<double>(averaged);
      recall /= static_cast<double>(averaged);
      f1 /= static_cast<double>(averaged);
    }
    std::map<std::string, double> all = {{"f1", f1}, {"precision", precision}, {"recall", recall}}, out;
    for (const auto& n : names_) out[n] = all[n];
    return out;
  }

  void reset() override {
    confusion_.clear();
    classes_ = 0;
  }

  std::map<std::string, MetricAttributes> attributes() const override {
    std::map<std::string, MetricAttributes> out;
    for (const auto& n : names_) out[n] = {"higher-better", n, false};
    return out;
  }

 private:
  std::vector<std::string> names_;
  int64_t classes_ = 0;
  std::vector<int64_t> confusion_;
};

}  // namespace

// "f1" (also reports "precision" and "recall"), "precision" or "recall" alone; nullptr for other names.
std::unique_ptr<Metric> create_classification_metric(const std::string& name) {
  if (name == "f1") return std::make_unique<F1Metric>(std::vector<std::string>{"f1", "precision", "recall"});
  if (name == "precision" || name == "recall") return std::make_unique<F1Metric>(std::vector<std::string>{name});
  return nullptr;
}

}  // namespace detail
}  // namespace quac
