// Semantic segmentation metrics: "mean_iou" and "pixel_accuracy".
//
// Output 0 is either per-pixel class scores [N, C, H, W] (float; the prediction is the argmax over C, first index on
// ties) or class indices [N, H, W] (integer). The annotation of each item is an integer class map [H, W] (a leading
// [1, H, W] is accepted too). Pixels labelled 255 in the annotation are ignored.
//
// avg_value(): as segmentation benchmarks do, intersections and unions are summed per class over every item since
// reset(), and mean_iou is the mean over the classes that occur (in prediction or ground truth, on non-ignored pixels)
// of intersection / union; pixel_accuracy is correct / counted pixels over everything.
// value(): the same quantities computed on each item alone. An item whose pixels are all ignored reports 1 for both:
// it cannot be wrong, and a per-sample value must exist for every item of the batch.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "quac/metric.h"

namespace quac {
namespace detail {
namespace {

constexpr int64_t kIgnoreLabel = 255;
// Class indices of integer predictions grow the tables on demand; a bound keeps garbage from allocating gigabytes.
constexpr int64_t kMaxClasses = 1 << 16;

struct ClassCounts {
  std::vector<int64_t> intersection, predicted, truth;  // per class: true positives, predicted pixels, truth pixels
  int64_t correct = 0, counted = 0;

  void grow(int64_t classes) {
    if (static_cast<int64_t>(intersection.size()) >= classes) return;
    intersection.resize(static_cast<size_t>(classes), 0);
    predicted.resize(static_cast<size_t>(classes), 0);
    truth.resize(static_cast<size_t>(classes), 0);
  }
  void add(const ClassCounts& o) {
    grow(static_cast<int64_t>(o.intersection.size()));
    for (size_t c = 0; c < o.intersection.size(); ++c) {
      intersection[c] += o.intersection[c];
      predicted[c] += o.predicted[c];
      truth[c] += o.truth[c];
    }
    correct += o.correct;
    counted += o.counted;
  }
  // Mean over classes with a non-empty union; `empty` when no pixel was counted.
  double mean_iou(double empty) const {
    double sum = 0;
    int64_t classes = 0;
    for (size_t c = 0; c < intersection.size(); ++c) {
      int64_t uni = predicted[c] + truth[c] - intersection[c];
      if (uni <= 0) continue;
      sum += static_cast<double>(intersection[c]) / static_cast<double>(uni);
      ++classes;
    }
    return classes ? sum / static_cast<double>(classes) : empty;
  }
  double pixel_accuracy(double empty) const {
    return counted ? static_cast<double>(correct) / static_cast<double>(counted) : empty;
  }
};

class SegmentationMetric : public Metric {
 public:
  explicit SegmentationMetric(std::string name) : name_(std::move(name)) {}

  void update(const std::vector<Tensor>& outputs, const std::vector<Tensor>& annotations) override {
    QUAC_CHECK(!outputs.empty(), kMetricError, name_, ": the model produced no outputs");
    const Tensor& out = outputs[0];
    bool scores = out.rank() == 4 && dtype_is_float(out.dtype());
    bool indices = out.rank() == 3 && dtype_is_integer(out.dtype());
    QUAC_CHECK(scores || indices, kMetricError, name_,
               ": output 0 must be float class scores [N, C, H, W] or integer class indices [N, H, W], got ",
               dtype_name(out.dtype()), shape_str(out.shape()));
    int64_t n = out.dim(0), classes = scores ? out.dim(1) : 0;
    int64_t h = out.dim(scores ? 2 : 1), w = out.dim(scores ? 3 : 2), pixels = h * w;
    QUAC_CHECK(!scores || classes >= 1, kMetricError, name_, ": output 0 has no classes, shape ",
               shape_str(out.shape()));
    QUAC_CHECK(static_cast<size_t>(n) == annotations.size(), kMetricError, name_, ": ", n, " outputs for ",
               annotations.size(), " annotations");
    // Scores are read as float whatever their float type; class indices as int64.
    std::vector<float> score_values;
    std::vector<int64_t> index_values;
    if (scores)
      score_values = out.to_float_vector();
    else
      index_values = out.to_int_vector();

    std::vector<ClassCounts> items(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      const Tensor& a = annotations[static_cast<size_t>(i)];
      QUAC_CHECK(a.defined(), kMetricError, name_, ": item ", i, " of the batch has no annotation");
      bool shape_ok = (a.rank() == 2 && a.dim(0) == h && a.dim(1) == w) ||
                      (a.rank() == 3 && a.dim(0) == 1 && a.dim(1) == h && a.dim(2) == w);
      QUAC_CHECK(dtype_is_integer(a.dtype()) && shape_ok, kMetricError, name_, ": annotation of item ", i,
                 " must be an integer class map [", h, ", ", w, "] matching output 0, got ", dtype_name(a.dtype()),
                 shape_str(a.shape()));
      std::vector<int64_t> truth = a.to_int_vector();
      ClassCounts& counts = items[static_cast<size_t>(i)];
      if (scores) counts.grow(classes);
      for (int64_t p = 0; p < pixels; ++p) {
        int64_t t = truth[static_cast<size_t>(p)];
        if (t == kIgnoreLabel) continue;
        QUAC_CHECK(t >= 0 && (!scores || t < classes) && t < kMaxClasses, kMetricError, name_, ": annotation of item ",
                   i, " has label ", t, " at pixel ", p, ", outside [0, ", scores ? classes : kMaxClasses,
                   ") and not the ignore label ", kIgnoreLabel);
        int64_t pred = 0;
        if (scores) {
          const float* base = score_values.data() + i * classes * pixels + p;
          float best = base[0];
          for (int64_t c = 1; c < classes; ++c)
            if (base[c * pixels] > best) best = base[c * pixels], pred = c;
        } else {
          pred = index_values[static_cast<size_t>(i * pixels + p)];
          QUAC_CHECK(pred >= 0 && pred < kMaxClasses, kMetricError, name_, ": output 0 predicts class ", pred,
                     " for item ", i, " pixel ", p);
        }
        counts.grow(std::max(pred, t) + 1);
        ++counts.predicted[static_cast<size_t>(pred)];
        ++counts.truth[static_cast<size_t>(t)];
        ++counts.counted;
        if (pred == t) {
          ++counts.intersection[static_cast<size_t>(t)];
          ++counts.correct;
        }
      }
    }
    last_iou_.clear();
    last_accuracy_.clear();
    for (const ClassCounts& c : items) {
      last_iou_.push_back(c.mean_iou(1.0));
      last_accuracy_.push_back(c.pixel_accuracy(1.0));
      total_.add(c);
    }
  }

  std::map<std::string, std::vector<double>> value() const override {
    return {{name_, name_ == "mean_iou" ? last_iou_ : last_accuracy_}};
  }
  std::map<std::string, double> avg_value() const override {
    return {{name_, name_ == "mean_iou" ? total_.mean_iou(0.0) : total_.pixel_accuracy(0.0)}};
  }
  void reset() override {
    last_iou_.clear();
    last_accuracy_.clear();
    total_ = {};
  }
  // mean_iou over the set sums intersections and unions over items, so it has no per-sample meaning (value() is each
  // item's own IoU, a proxy); pixel_accuracy is the mean of the per-item values when items count equally many pixels.
  std::map<std::string, MetricAttributes> attributes() const override {
    return {{name_, {"higher-better", name_, name_ != "mean_iou"}}};
  }

 private:
  std::string name_;
  std::vector<double> last_iou_, last_accuracy_;
  ClassCounts total_;
};

}  // namespace

// "mean_iou" or "pixel_accuracy"; nullptr for other names.
std::unique_ptr<Metric> create_segmentation_metric(const std::string& name) {
  if (name == "mean_iou" || name == "pixel_accuracy") return std::make_unique<SegmentationMetric>(name);
  return nullptr;
}

}  // namespace detail
}  // namespace quac
