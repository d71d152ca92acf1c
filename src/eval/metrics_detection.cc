// Object detection metrics: "map" / "map_voc" (PASCAL VOC 2010+ style: all-point interpolated AP at IoU >= 0.5) and
// "map_coco" (COCO style: AP averaged over IoU thresholds 0.50:0.05:0.95 with 101-point interpolation).
//
// Outputs (three model outputs, batch first): boxes [N, K, 4] float (x1, y1, x2, y2), scores [N, K] float,
// classes [N, K] (integer, or float holding integral values). Entries with score < 0 or class < 0 are padding and
// ignored. Annotation per item: a numeric tensor [M, 5] (class, x1, y1, x2, y2) or [M, 6] whose last column is a
// "difficult" flag (non-zero = difficult); M may be 0.
//
// Conventions (documented choices):
// - Boxes are continuous: area = (x2 - x1) * (y2 - y1), no VOC "+1 pixel". Degenerate boxes have area 0.
// - Difficult ground truths are neither counted as positives nor penalise the detections they explain: a detection
//   matched to a difficult box is ignored (VOC semantics; in the COCO style they play the role of COCO's "ignore").
// - VOC matching: each detection (highest score first within its image) takes the ground truth of its class with the
//   highest IoU; IoU >= 0.5 and not yet taken -> true positive; already taken -> false positive.
//   COCO matching: the best IoU among ground truths not yet taken (non-difficult ones first), IoU >= threshold, at
//   most 100 detections per image and class (maxDets=100, area range "all").
// - AP is computed per class over the classes that have at least one non-difficult ground truth; mAP is their mean.
//   Classes only ever predicted (no ground truth) are left out, as COCO does. With no such class at all, mAP is
//   1 when no detection counts as a false positive and 0 otherwise.
// - avg_value(): the dataset-level mAP: detections and ground truths of every item since reset() are kept and AP is
//   computed per class at avg_value().
// - value(): per image, the same computation on that image alone: the mean AP over the classes present in its
//   ground truth (false positives of other classes are therefore not penalised), or, with no non-difficult ground
//   truth, 1 if no detection counts as a false positive else 0.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "quac/metric.h"

namespace quac {
namespace detail {
namespace {

struct Box {
  double x1, y1, x2, y2;
};

double iou(const Box& a, const Box& b) {
  double iw = std::min(a.x2, b.x2) - std::max(a.x1, b.x1), ih = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  if (iw <= 0 || ih <= 0) return 0.0;
  double inter = iw * ih;
  double uni = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return uni > 0 ? inter / uni : 0.0;
}

struct Detection {
  Box box;
  double score;
};
struct Truth {
  Box box;
  bool difficult;
};
// One image: its detections (sorted by score, highest first, stable) and ground truths, by class.
struct Image {
  std::map<int64_t, std::vector<Detection>> detections;
  std::map<int64_t, std::vector<Truth>> truths;
};

enum class Style { kVoc, kCoco };
constexpr size_t kCocoMaxDetections = 100;  // maxDets, per image and class

// The k-th of `num` evenly spaced values from `start` to `stop`, rounded exactly as NumPy's linspace (which
// pycocotools uses for its IoU and recall thresholds): k * step + start, and `stop` itself last. A recall such as
// 3/100 sits exactly on a threshold, so the last bit decides whether it counts.
double linspace(double start, double stop, int num, int k) {
  if (k == num - 1) return stop;
  double step = (stop - start) / (num - 1);
  return static_cast<double>(k) * step + start;
}

// Matches one image's detections of one class at an IoU threshold: per detection 1 (true positive), 0 (false
// positive) or -1 (ignored: explained by a difficult ground truth).
std::vector<int> match(const std::vector<Detection>& dets, const std::vector<Truth>& truths, double threshold,
                       Style style) {
  std::vector<int> result(dets.size(), 0);
  std::vector<bool> taken(truths.size(), false);
  for (size_t d = 0; d < dets.size(); ++d) {
    int best = -1;
    if (style == Style::kVoc) {
      double best_iou = -1;
      for (size_t t = 0; t < truths.size(); ++t) {
        double o = iou(dets[d].box, truths[t].box);
        if (o > best_iou) best_iou = o, best = static_cast<int>(t);
      }
      if (best < 0 || best_iou < threshold) continue;  // false positive
      const Truth& g = truths[static_cast<size_t>(best)];
      if (g.difficult)
        result[d] = -1;
      else if (!taken[static_cast<size_t>(best)])
        result[d] = 1, taken[static_cast<size_t>(best)] = true;
    } else {
      // COCO: non-difficult truths first; a difficult truth only when no non-difficult one matches. Difficult truths
      // may explain several detections (like COCO's crowd regions).
      double best_iou = std::min(threshold, 1 - 1e-10);
      for (int pass = 0; pass < 2 && best < 0; ++pass) {
        for (size_t t = 0; t < truths.size(); ++t) {
          if (truths[t].difficult != (pass == 1) || (taken[t] && !truths[t].difficult)) continue;
          double o = iou(dets[d].box, truths[t].box);
          if (o >= best_iou) best_iou = o, best = static_cast<int>(t);
        }
      }
      if (best < 0) continue;
      if (truths[static_cast<size_t>(best)].difficult) {
        result[d] = -1;
      } else {
        result[d] = 1;
        taken[static_cast<size_t>(best)] = true;
      }
    }
  }
  return result;
}

// AP of one class from (score, 1 = TP / 0 = FP) pairs listed image by image, each image highest score first, and
// the number of positives (> 0).
double average_precision(std::vector<std::pair<double, int>> scored, int64_t positives, Style style) {
  std::stable_sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<double> recall, precision;
  double tp = 0, fp = 0;
  for (const auto& [score, hit] : scored) {
    (hit ? tp : fp) += 1;
    recall.push_back(tp / static_cast<double>(positives));
    precision.push_back(tp / (tp + fp));
  }
  // Precision envelope: the maximum precision at any recall >= this one.
  for (size_t i = precision.size(); i-- > 1;) precision[i - 1] = std::max(precision[i - 1], precision[i]);
  if (style == Style::kVoc) {
    // All-point interpolation: area under the envelope, summed where recall changes.
    double ap = 0, previous_recall = 0;
    for (size_t i = 0; i < recall.size(); ++i) {
      ap += (recall[i] - previous_recall) * precision[i];
      previous_recall = recall[i];
    }
    return ap;
  }
  // COCO: precision at recall 0, 0.01, ..., 1 (the first point reaching that recall; 0 beyond the last recall).
  double sum = 0;
  for (int k = 0; k <= 100; ++k) {
    double r = linspace(0.0, 1.0, 101, k);
    auto it = std::lower_bound(recall.begin(), recall.end(), r);
    if (it != recall.end()) sum += precision[static_cast<size_t>(it - recall.begin())];
  }
  return sum / 101.0;
}

// mAP over `images` (see the conventions at the top).
double mean_average_precision(const std::vector<const Image*>& images, Style style) {
  std::vector<double> thresholds;
  if (style == Style::kVoc)
    thresholds = {0.5};
  else
    for (int k = 0; k < 10; ++k) thresholds.push_back(linspace(0.5, 0.95, 10, k));
  // Classes with a non-difficult ground truth, and their number of positives.
  std::map<int64_t, int64_t> positives;
  for (const Image* im : images)
    for (const auto& [c, truths] : im->truths)
      for (const Truth& t : truths)
        if (!t.difficult) ++positives[c];
  static const std::vector<Detection> kNone;
  static const std::vector<Truth> kNoTruth;
  auto detections_of = [&](const Image* im, int64_t c) -> const std::vector<Detection>& {
    auto it = im->detections.find(c);
    return it == im->detections.end() ? kNone : it->second;
  };
  auto truths_of = [&](const Image* im, int64_t c) -> const std::vector<Truth>& {
    auto it = im->truths.find(c);
    return it == im->truths.end() ? kNoTruth : it->second;
  };
  if (positives.empty()) {
    // No class to average: perfect unless some detection is a false positive.
    for (const Image* im : images)
      for (const auto& [c, dets] : im->detections) {
        for (int m : match(dets, truths_of(im, c), thresholds.front(), style))
          if (m == 0) return 0.0;
      }
    return 1.0;
  }
  double sum = 0;
  for (const auto& [c, count] : positives) {
    double class_sum = 0;
    for (double threshold : thresholds) {
      std::vector<std::pair<double, int>> scored;
      for (const Image* im : images) {
        const std::vector<Detection>& dets = detections_of(im, c);
        std::vector<int> m = match(dets, truths_of(im, c), threshold, style);
        for (size_t d = 0; d < dets.size(); ++d)
          if (m[d] >= 0) scored.emplace_back(dets[d].score, m[d]);
      }
      class_sum += average_precision(std::move(scored), count, style);
    }
    sum += class_sum / static_cast<double>(thresholds.size());
  }
  return sum / static_cast<double>(positives.size());
}

// Reads an integral class value; throws naming `what` when it is not one.
int64_t class_index(double v, const std::string& metric, const std::string& what) {
  QUAC_CHECK(std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15, kMetricError, metric, ": ", what,
             " has class ", v, ", not an integer");
  return static_cast<int64_t>(v);
}

class DetectionMetric : public Metric {
 public:
  DetectionMetric(std::string name, Style style) : name_(std::move(name)), style_(style) {}

  void update(const std::vector<Tensor>& outputs, const std::vector<Tensor>& annotations) override {
    QUAC_CHECK(outputs.size() >= 3, kMetricError, name_,
               ": needs three model outputs (boxes [N, K, 4], scores [N, K], classes [N, K]), got ", outputs.size());
    const Tensor &boxes = outputs[0], &scores = outputs[1], &classes = outputs[2];
    QUAC_CHECK(dtype_is_float(boxes.dtype()) && boxes.rank() == 3 && boxes.dim(2) == 4, kMetricError, name_,
               ": output 0 (boxes) must be float [N, K, 4], got ", dtype_name(boxes.dtype()), shape_str(boxes.shape()));
    int64_t n = boxes.dim(0), k = boxes.dim(1);
    QUAC_CHECK(dtype_is_float(scores.dtype()) && scores.shape() == (Shape{n, k}), kMetricError, name_,
               ": output 1 (scores) must be float [", n, ", ", k, "] like the boxes, got ", dtype_name(scores.dtype()),
               shape_str(scores.shape()));
    QUAC_CHECK(
        (dtype_is_float(classes.dtype()) || dtype_is_integer(classes.dtype())) && classes.shape() == (Shape{n, k}),
        kMetricError, name_, ": output 2 (classes) must be numeric [", n, ", ", k, "] like the boxes, got ",
        dtype_name(classes.dtype()), shape_str(classes.shape()));
    QUAC_CHECK(static_cast<size_t>(n) == annotations.size(), kMetricError, name_, ": ", n, " outputs for ",
               annotations.size(), " annotations");
    std::vector<float> box_values = boxes.to_float_vector(), score_values = scores.to_float_vector();
    std::vector<double> class_values(static_cast<size_t>(n * k));
    for (int64_t j = 0; j < n * k; ++j) class_values[static_cast<size_t>(j)] = classes.scalar_as_double(j);

    std::vector<Image> batch(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      Image& im = batch[static_cast<size_t>(i)];
      for (int64_t j = 0; j < k; ++j) {
        size_t at = static_cast<size_t>(i * k + j);
        double score = score_values[at], cls = class_values[at];
        QUAC_CHECK(!std::isnan(score) && !std::isnan(cls), kMetricError, name_, ": detection ", j, " of item ", i,
                   " has a NaN score or class");
        if (score < 0 || cls < 0) continue;  // padding
        int64_t c = class_index(cls, name_, "detection " + std::to_string(j) + " of item " + std::to_string(i));
        const float* b = box_values.data() + at * 4;
        Box box{b[0], b[1], b[2], b[3]};
        QUAC_CHECK(std::isfinite(box.x1) && std::isfinite(box.y1) && std::isfinite(box.x2) && std::isfinite(box.y2) &&
                       box.x2 >= box.x1 && box.y2 >= box.y1,
                   kMetricError, name_, ": detection ", j, " of item ", i, " has box (", box.x1, ", ", box.y1, ", ",
                   box.x2, ", ", box.y2, "); expected finite x1 <= x2, y1 <= y2");
        im.detections[c].push_back({box, score});
      }
      for (auto& [c, dets] : im.detections) {
        std::stable_sort(dets.begin(), dets.end(), [](const auto& a, const auto& b) { return a.score > b.score; });
        if (style_ == Style::kCoco && dets.size() > kCocoMaxDetections) dets.resize(kCocoMaxDetections);
      }

      const Tensor& a = annotations[static_cast<size_t>(i)];
      QUAC_CHECK(a.defined(), kMetricError, name_, ": item ", i, " of the batch has no annotation");
      bool empty = a.numel() == 0 && a.rank() <= 2;
      QUAC_CHECK((dtype_is_float(a.dtype()) || dtype_is_integer(a.dtype())) &&
                     (empty || (a.rank() == 2 && (a.dim(1) == 5 || a.dim(1) == 6))),
                 kMetricError, name_, ": annotation of item ", i,
                 " must be numeric [M, 5] (class, x1, y1, x2, y2) or [M, 6] (..., difficult), got ",
                 dtype_name(a.dtype()), shape_str(a.shape()));
      if (empty) continue;
      std::vector<float> v = a.to_float_vector();
      int64_t cols = a.dim(1);
      for (int64_t m = 0; m < a.dim(0); ++m) {
        const float* row = v.data() + m * cols;
        std::string what = "ground truth " + std::to_string(m) + " of item " + std::to_string(i);
        int64_t c = class_index(row[0], name_, what);
        QUAC_CHECK(c >= 0, kMetricError, name_, ": ", what, " has negative class ", c);
        Box box{row[1], row[2], row[3], row[4]};
        QUAC_CHECK(std::isfinite(box.x1) && std::isfinite(box.y1) && std::isfinite(box.x2) && std::isfinite(box.y2) &&
                       box.x2 >= box.x1 && box.y2 >= box.y1,
                   kMetricError, name_, ": ", what, " has box (", box.x1, ", ", box.y1, ", ", box.x2, ", ", box.y2,
                   "); expected finite x1 <= x2, y1 <= y2");
        im.truths[c].push_back({box, cols == 6 && row[5] != 0});
      }
    }
    last_.clear();
    for (const Image& im : batch) {
      // Per image: AP over the classes of its own ground truth, or 1/0 by false positives when it has none.
      last_.push_back(mean_average_precision({&im}, style_));
      images_.push_back(im);
    }
  }

  std::map<std::string, std::vector<double>> value() const override { return {{name_, last_}}; }
  std::map<std::string, double> avg_value() const override {
    if (images_.empty()) return {{name_, 0.0}};
    std::vector<const Image*> all;
    for (const Image& im : images_) all.push_back(&im);
    return {{name_, mean_average_precision(all, style_)}};
  }
  void reset() override {
    last_.clear();
    images_.clear();
  }
  std::map<std::string, MetricAttributes> attributes() const override {
    // No per-sample meaning: value() is each image's own mAP, a proxy, not its share of the dataset-level mAP.
    return {{name_, {"higher-better", style_ == Style::kVoc ? "map" : "coco_precision", false}}};
  }

 private:
  std::string name_;
  Style style_;
  std::vector<double> last_;
  std::vector<Image> images_;
};

}  // namespace

// "map" / "map_voc" or "map_coco"; nullptr for other names.
std::unique_ptr<Metric> create_detection_metric(const std::string& name) {
  if (name == "map" || name == "map_voc") return std::make_unique<DetectionMetric>(name, Style::kVoc);
  if (name == "map_coco") return std::make_unique<DetectionMetric>(name, Style::kCoco);
  return nullptr;
}

}  // namespace detail
}  // namespace quac
