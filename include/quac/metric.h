// Metrics, with POT's contract: update(outputs, annotations) per batch; value() = per-sample values of the last
// batch (what the accuracy-aware ranking needs); avg_value() over everything since reset(); attributes() gives each
// metric's direction and type. Several metrics may be reported at once.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "quac/tensor.h"

namespace quac {

struct MetricAttributes {
  std::string direction = "higher-better";  // or "higher-worse"
  std::string type = "accuracy";
  // true when value() gives each item its own value and avg_value() is the mean of those values (top-k, mse, mae,
  // pixel_accuracy on equally sized items). false when the metric has no per-sample meaning (mAP, F1 / precision /
  // recall, mean IoU over the set): value() then returns empty lists (F1) or a per-item proxy (mAP or IoU of the item
  // alone) that is not the item's share of the aggregate, and the accuracy-aware ranking uses output distance.
  bool per_sample = true;

  bool higher_better() const { return direction != "higher-worse"; }
};

class Metric {
 public:
  virtual ~Metric() = default;
  // outputs: one tensor per model output, batch first. annotations: one per item of the batch.
  virtual void update(const std::vector<Tensor>& outputs, const std::vector<Tensor>& annotations) = 0;
  virtual std::map<std::string, std::vector<double>> value() const = 0;
  virtual std::map<std::string, double> avg_value() const = 0;
  virtual void reset() = 0;
  virtual std::map<std::string, MetricAttributes> attributes() const = 0;
};

// A metric whose aggregate is the mean of one value per item (top-k accuracy, mse, or a user's own): a subclass
// computes the values of a batch, and the running mean, value(), avg_value(), reset() and attributes() are shared.
// A batch is counted only when compute() returns (one value per annotation, all finite).
class PerSampleMetric : public Metric {
 public:
  PerSampleMetric(std::string name, MetricAttributes attributes);
  void update(const std::vector<Tensor>& outputs, const std::vector<Tensor>& annotations) final;
  std::map<std::string, std::vector<double>> value() const override { return {{name_, last_}}; }
  std::map<std::string, double> avg_value() const override;
  void reset() override;
  std::map<std::string, MetricAttributes> attributes() const override { return {{name_, attributes_}}; }
  const std::string& name() const { return name_; }

 protected:
  // One value per item of the batch; throw quac::Error (kMetricError) naming the item on bad input.
  virtual std::vector<double> compute(const std::vector<Tensor>& outputs, const std::vector<Tensor>& annotations) = 0;

 private:
  std::string name_;
  MetricAttributes attributes_;
  std::vector<double> last_;
  double sum_ = 0;
  size_t count_ = 0;
};

// Several metrics reported as one: update() feeds every part, and value(), avg_value() and attributes() list every
// name of every part (a name reported by two parts is refused).
class CompositeMetric : public Metric {
 public:
  CompositeMetric() = default;
  explicit CompositeMetric(std::vector<std::unique_ptr<Metric>> parts);
  // Throws kInvalidArgument when `metric` reports a name another part already reports.
  void add(std::unique_ptr<Metric> metric);
  size_t parts() const { return parts_.size(); }

  void update(const std::vector<Tensor>& outputs, const std::vector<Tensor>& annotations) override;
  std::map<std::string, std::vector<double>> value() const override;
  std::map<std::string, double> avg_value() const override;
  void reset() override;
  std::map<std::string, MetricAttributes> attributes() const override;

 private:
  std::vector<std::unique_ptr<Metric>> parts_;
};

// Built-in metrics by name: "top1", "top5", "topK" / "accuracy@topK" (top-k accuracy of output 0 against integer
// class annotations); "mean_iou", "pixel_accuracy" (segmentation); "map" / "map_voc", "map_coco" (detection outputs
// boxes, scores, classes); "f1" (with precision and recall; no per-sample values), "precision", "recall"; "mse",
// "mae" (higher-worse). A comma-separated list ("top1,top5,mse") gives a CompositeMetric reporting all of them.
// Throws kInvalidArgument listing the known names.
std::unique_ptr<Metric> create_metric(const std::string& name);

// The metric names for help texts ("top1, top5, topK, ...").
const char* metric_names_help();

}  // namespace quac
