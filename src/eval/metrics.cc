// The metric base classes (PerSampleMetric, CompositeMetric), top-k accuracy, and create_metric's name lookup.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <regex>
#include <sstream>

#include "quac/metric.h"

namespace quac {

PerSampleMetric::PerSampleMetric(std::string name, MetricAttributes attributes)
    : name_(std::move(name)), attributes_(std::move(attributes)) {}

void PerSampleMetric::update(const std::vector<Tensor>& outputs, const std::vector<Tensor>& annotations) {
  std::vector<double> values = compute(outputs, annotations);
  QUAC_CHECK(values.size() == annotations.size(), kMetricError, name_, ": computed ", values.size(),
             " values for a batch of ", annotations.size(), " items");
  for (size_t i = 0; i < values.size(); ++i)
    QUAC_CHECK(std::isfinite(values[i]), kMetricError, name_, ": item ", i, " of the batch has a non-finite value");
  // Accumulated only once every item of the batch is valid.
  for (double v : values) sum_ += v;
  count_ += values.size();
  last_ = std::move(values);
}

std::map<std::string, double> PerSampleMetric::avg_value() const {
  return {{name_, count_ ? sum_ / static_cast<double>(count_) : 0.0}};
}

void PerSampleMetric::reset() {
  last_.clear();
  sum_ = 0;
  count_ = 0;
}

CompositeMetric::CompositeMetric(std::vector<std::unique_ptr<Metric>> parts) {
  for (auto& p : parts) add(std::move(p));
}

void CompositeMetric::add(std::unique_ptr<Metric> metric) {
  QUAC_CHECK(metric != nullptr, kInvalidArgument, "CompositeMetric: null metric");
  auto known = attributes();
  for (const auto& [name, attr] : metric->attributes())
    QUAC_CHECK(!known.count(name), kInvalidArgument, "metric '", name, "' is reported twice");
  parts_.push_back(std::move(metric));
}

void CompositeMetric::update(const std::vector<Tensor>& outputs, const std::vector<Tensor>& annotations) {
  for (auto& p : parts_) p->update(outputs, annotations);
}

std::map<std::string, std::vector<double>> CompositeMetric::value() const {
  std::map<std::string, std::vector<double>> out;
  for (const auto& p : parts_) out.merge(p->value());
  return out;
}

std::map<std::string, double> CompositeMetric::avg_value() const {
  std::map<std::string, double> out;
  for (const auto& p : parts_) out.merge(p->avg_value());
  return out;
}

void CompositeMetric::reset() {
  for (auto& p : parts_) p->reset();
}

std::map<std::string, MetricAttributes> CompositeMetric::attributes() const {
  std::map<std::string, MetricAttributes> out;
  for (const auto& p : parts_) out.merge(p->attributes());
  return out;
}

namespace {

class TopKAccuracy : public PerSampleMetric {
 public:
  TopKAccuracy(int k, std::string name) : PerSampleMetric(std::move(name), {"higher-better", "accuracy"}), k_(k) {}

 protected:
  std::vector<double> compute(const std::vector<Tensor>& outputs, const std::vector<Tensor>& annotations) override {
    QUAC_CHECK(!outputs.empty(), kMetricError, name(), ": the model produced no outputs");
    const Tensor& logits = outputs[0];
    QUAC_CHECK(logits.dtype() == DataType::kFloat && logits.rank() >= 2, kMetricError, name(),
               ": output 0 must be float32 scores of shape [N, classes], got ", dtype_name(logits.dtype()),
               shape_str(logits.shape()));
    int64_t n = logits.dim(0), classes = logits.numel() / std::max<int64_t>(n, 1);
    QUAC_CHECK(static_cast<size_t>(n) == annotations.size(), kMetricError, name(), ": ", n, " outputs for ",
               annotations.size(), " annotations");
    std::vector<double> values(static_cast<size_t>(n), 0.0);
    const float* p = logits.data<float>();
    for (int64_t i = 0; i < n; ++i) {
      const Tensor& a = annotations[static_cast<size_t>(i)];
      QUAC_CHECK(a.defined() && a.numel() == 1 && (dtype_is_integer(a.dtype()) || dtype_is_float(a.dtype())),
                 kMetricError, name(), ": annotation of item ", i, " of the batch must be one class index");
      int64_t label = a.scalar_as_int(0);
      QUAC_CHECK(label >= 0 && label < classes, kMetricError, name(), ": label ", label, " out of range for ", classes,
                 " classes");
      const float* row = p + i * classes;
      float target = row[label];
      // Rank of the label: how many classes score strictly higher (ties favour the label, as argsort-based
      // implementations do for the last index only; counting strictly-greater is the stable choice).
      int64_t higher = 0;
      for (int64_t c = 0; c < classes; ++c) higher += row[c] > target;
      values[static_cast<size_t>(i)] = higher < k_ ? 1.0 : 0.0;
    }
    return values;
  }

 private:
  int k_;
};

}  // namespace

namespace detail {
// Defined in metrics_{segmentation,detection,classification,regression}.cc; nullptr for names they do not know.
std::unique_ptr<Metric> create_segmentation_metric(const std::string& name);
std::unique_ptr<Metric> create_detection_metric(const std::string& name);
std::unique_ptr<Metric> create_classification_metric(const std::string& name);
std::unique_ptr<Metric> create_regression_metric(const std::string& name);
}  // namespace detail

namespace {

std::unique_ptr<Metric> create_one_metric(const std::string& name) {
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
  QUAC_THROW(kInvalidArgument, "unknown metric '", name, "' (known: ", metric_names_help(), ")");
}

}  // namespace

const char* metric_names_help() {
  return "top1, top5, topK, accuracy@topK, mean_iou, pixel_accuracy, map, map_voc, map_coco, f1, precision, recall, "
         "mse, mae; several at once as a comma-separated list (top1,top5)";
}

std::unique_ptr<Metric> create_metric(const std::string& names) {
  std::vector<std::string> parts;
  std::stringstream ss(names);
  std::string part;
  while (std::getline(ss, part, ',')) {
    size_t b = part.find_first_not_of(" \t"), e = part.find_last_not_of(" \t");
    QUAC_CHECK(b != std::string::npos, kInvalidArgument, "metric list '", names, "' has an empty name");
    parts.push_back(part.substr(b, e - b + 1));
  }
  QUAC_CHECK(!parts.empty() && names.back() != ',', kInvalidArgument, "empty metric name in '", names,
             "' (known: ", metric_names_help(), ")");
  if (parts.size() == 1 && names.find(',') == std::string::npos) return create_one_metric(parts[0]);
  auto composite = std::make_unique<CompositeMetric>();
  for (const auto& p : parts) composite->add(create_one_metric(p));
  return composite;
}

}  // namespace quac
