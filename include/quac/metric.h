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

// Built-in metrics by name: "top1", "top5", "topK" / "accuracy@topK" (top-k accuracy of output 0 against integer
// class annotations); "mean_iou", "pixel_accuracy" (segmentation); "map" / "map_voc", "map_coco" (detection outputs
// boxes, scores, classes); "f1" (with precision and recall; no per-sample values); "mse", "mae" (higher-worse).
// Throws kInvalidArgument listing the known names.
std::unique_ptr<Metric> create_metric(const std::string& name);

}  // namespace quac
