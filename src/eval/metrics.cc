#include <algorithm>
#include <cmath>
#include <numeric>
#include <regex>

#include "quac/metric.h"

namespace quac {
namespace {

class TopKAccuracy : public Metric {
 public:
  TopKAccuracy(int k, std::string name) : k_(k), name_(std::move(name)) {}

  void update(const std::vector<Tensor>& outputs, const std::vector<Tensor>& annotations) override {
    QUAC_CHECK(!outputs.empty(), kMetricError, name_, ": the model produced no outputs");
    const Tensor& logits = outputs[0];
    QUAC_CHECK(logits.dtype() == DataType::kFloat && logits.rank() >= 2, kMetricError, name_,
               ": output 0 must be float32 scores of shape [N, classes], got ", dtype_name(logits.dtype()),
               shape_str(logits.shape()));
    int64_t n = logits.dim(0), classes = logits.numel() / std::max<int64_t>(n, 1);
    QUAC_CHECK(static_cast<size_t>(n) == annotations.size(), kMetricError, name_, ": ", n, " outputs for ",
               annotations.size(), " annotations");
    last_.assign(static_cast<size_t>(n), 0.0);
    const float* p = logits.data<float>();
    for (int64_t i = 0; i < n; ++i) {
      const Tensor& a = annotations[static_cast<size_t>(i)];
      QUAC_CHECK(a.defined() && a.numel() == 1 && (dtype_is_integer(a.dtype()) || dtype_is_float(a.dtype())),
                 kMetricError, name_, ": annotation of item ", i, " of the batch must be one class index");
      int64_t label = a.scalar_as_int(0);
      QUAC_CHECK(label >= 0 && label < classes, kMetricError, name_, ": label ", label, " out of range for ", classes,
                 " classes");
      const float* row = p + i * classes;
      float target = row[label];
      // Rank of the label: how many classes score strictly higher (ties favour the label, as argsort-based
      // implementations do for the last index only; counting strictly-greater is the stable choice).
      int64_t higher = 0;
      for (int64_t c = 0; c < classes; ++c) higher += row[c] > target;
      last_[static_cast<size_t>(i)] = higher < k_ ? 1.0 : 0.0;
    }
    sum_ += std::accumulate(last_.begin(), last_.end(), 0.0);
    count_ += last_.size();
  }
  std::map<std::string, std::vector<double>> value() const override { return {{name_, last_}}; }
  std::map<std::string, double> avg_value() const override {
    return {{name_, count_ ? sum_ / static_cast<double>(count_) : 0.0}};
  }
  void reset() override {
    last_.clear();
    sum_ = 0;
    count_ = 0;
  }
  std::map<std::string, MetricAttributes> attributes() const override {
    return {{name_, {"higher-better", "accuracy"}}};
  }

 private:
  int k_;
  std::string name_;
  std::vector<double> last_;
  double sum_ = 0;
  size_t count_ = 0;
};

}  // namespace

namespace detail {
// Defined in metrics_{segmentation,detection,classification,regression}.cc; nullptr for names they do not know.
std::unique_ptr<Metric> create_segmentation_metric(const std::string& name);
std::unique_ptr<Metric> create_detection_metric(const std::string& name);
std::unique_ptr<Metric> create_classification_metric(const std::string& name);
std::unique_ptr<Metric> create_regression_metric(const std::string& name);
}  // namespace detail

std::unique_ptr<Metric> create_metric(const std::string& name) {
  std::smatch m;
  static const std::regex topk(R"((?:accuracy@)?top(\d{1,4}))");
  if (std::regex_match(name, m, topk)) {
    int k = std::stoi(m[1]);
    QUAC_CHECK(k >= 1, kInvalidArgument, "metric '", name, "': k must be at least 1");
    return std::make_unique<TopKAccuracy>(k, name);
  }
  for (auto factory : {detail::create_segmentation_metric, detail::create_detection_metric,
                       detail::create_classification_metric, detail::create_regression_metric})
    if (auto metric = factory(name)) return metric;
  QUAC_THROW(kInvalidArgument, "unknown metric '", name,
             "' (known: top1, top5, topK, accuracy@topK, mean_iou, pixel_accuracy, map, map_voc, map_coco, f1, mse, "
             "mae)");
}

}  // namespace quac
