// Built-in metrics beyond top-k: segmentation (mean_iou, pixel_accuracy), detection (map/map_voc, map_coco),
// classification F1 (with precision and recall) and regression (mse, mae), checked against hand-computed values.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/npy.h"
#include "quac/evaluator.h"
#include "quac/metric.h"
#include "quac/pipeline.h"
#include "test_model_builder.h"

namespace quac {
namespace {

// Expects `fn` to throw a kMetricError whose message contains every string of `parts`.
template <typename Fn>
void expect_metric_error(Fn fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kMetricError) << e.what();
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Segmentation

// Item 0: truth is two vertical halves (class 0 left, class 1 right); the prediction moves two pixels of class 1
// into class 0. Class 0: intersection 8, union 10; class 1: intersection 6, union 8 -> mIoU 0.775, accuracy 14/16.
const std::vector<int64_t> kTruth0 = {0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1};
const std::vector<int64_t> kPred0 = {0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 1};
// Item 1: first row ignored (255), the rest class 0; one counted pixel predicted as class 1 (the first row's
// predictions do not count). Class 0: 11 / 12; class 1: 0 / 1 -> mIoU 11/24, accuracy 11/12.
const std::vector<int64_t> kTruth1 = {255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
const std::vector<int64_t> kPred1 = {1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};

// One-hot scores [N, 2, 4, 4] for class maps.
Tensor one_hot_scores(const std::vector<std::vector<int64_t>>& maps) {
  std::vector<float> s;
  for (const auto& m : maps)
    for (int64_t c = 0; c < 2; ++c)
      for (int64_t v : m) s.push_back(v == c ? 3.0f : -1.0f);
  return Tensor::from_vector<float>({static_cast<int64_t>(maps.size()), 2, 4, 4}, s);
}

TEST(SegmentationMetrics, MeanIouAndPixelAccuracyByHand) {
  auto miou = create_metric("mean_iou");
  auto acc = create_metric("pixel_accuracy");
  std::vector<Tensor> truth = {Tensor::from_vector<int64_t>({4, 4}, kTruth0),
                               Tensor::from_vector<int64_t>({4, 4}, kTruth1)};
  Tensor scores = one_hot_scores({kPred0, kPred1});
  miou->update({scores}, truth);
  acc->update({scores}, truth);
  auto v = miou->value().at("mean_iou");
  ASSERT_EQ(v.size(), 2u);
  EXPECT_DOUBLE_EQ(v[0], (0.8 + 0.75) / 2);
  EXPECT_DOUBLE_EQ(v[1], 11.0 / 24);
  // Accumulated: class 0 intersection 19, union 22; class 1 intersection 6, union 9.
  EXPECT_DOUBLE_EQ(miou->avg_value().at("mean_iou"), (19.0 / 22 + 6.0 / 9) / 2);
  EXPECT_EQ(acc->value().at("pixel_accuracy"), (std::vector<double>{14.0 / 16, 11.0 / 12}));
  EXPECT_DOUBLE_EQ(acc->avg_value().at("pixel_accuracy"), 25.0 / 28);
  EXPECT_EQ(miou->attributes().at("mean_iou").direction, "higher-better");
  EXPECT_EQ(miou->attributes().at("mean_iou").type, "mean_iou");

  // Class indices [N, H, W] give the same, and batches accumulate: one item per update.
  auto by_index = create_metric("mean_iou");
  by_index->update({Tensor::from_vector<int32_t>({1, 4, 4}, std::vector<int32_t>(kPred0.begin(), kPred0.end()))},
                   {truth[0]});
  EXPECT_DOUBLE_EQ(by_index->avg_value().at("mean_iou"), 0.775);
  by_index->update({Tensor::from_vector<int64_t>({1, 4, 4}, kPred1)}, {truth[1].reshaped({1, 4, 4})});
  EXPECT_EQ(by_index->value().at("mean_iou"), (std::vector<double>{11.0 / 24}));
  EXPECT_DOUBLE_EQ(by_index->avg_value().at("mean_iou"), (19.0 / 22 + 6.0 / 9) / 2);
  by_index->reset();
  EXPECT_DOUBLE_EQ(by_index->avg_value().at("mean_iou"), 0.0);

  // An item whose pixels are all ignored cannot be wrong: 1.
  auto ignored = create_metric("mean_iou");
  ignored->update({Tensor::from_vector<int64_t>({1, 4, 4}, kPred0)},
                  {Tensor::from_vector<uint8_t>({4, 4}, std::vector<uint8_t>(16, 255))});
  EXPECT_EQ(ignored->value().at("mean_iou"), (std::vector<double>{1.0}));
}

TEST(SegmentationMetrics, BadOutputsAndAnnotations) {
  auto miou = create_metric("mean_iou");
  Tensor scores = one_hot_scores({kPred0});
  Tensor truth = Tensor::from_vector<int64_t>({4, 4}, kTruth0);
  expect_metric_error([&] { miou->update({}, {truth}); }, {"mean_iou", "no outputs"});
  expect_metric_error(
      [&] {
        miou->update({Tensor::from_vector<float>({1, 16}, std::vector<float>(16))}, {truth});
      },
      {"mean_iou", "output 0"});
  expect_metric_error([&] { miou->update({scores}, {truth, truth}); }, {"mean_iou", "1 outputs for 2"});
  expect_metric_error([&] { miou->update({scores}, {Tensor()}); }, {"mean_iou", "item 0", "no annotation"});
  expect_metric_error(
      [&] {
        miou->update({scores}, {Tensor::from_vector<int64_t>({2, 8}, kTruth0)});
      },
      {"mean_iou", "item 0", "[4, 4]"});
  expect_metric_error(
      [&] {
        miou->update({scores}, {Tensor::from_vector<float>({4, 4}, std::vector<float>(16))});
      },
      {"mean_iou", "item 0", "integer"});
  std::vector<int64_t> bad = kTruth0;
  bad[5] = 7;
  expect_metric_error(
      [&] {
        miou->update({scores}, {Tensor::from_vector<int64_t>({4, 4}, bad)});
      },
      {"mean_iou", "item 0", "label 7", "pixel 5"});
  expect_metric_error(
      [&] {
        miou->update({Tensor::from_vector<int64_t>({1, 4, 4}, std::vector<int64_t>(16, -1))}, {truth});
      },
      {"mean_iou", "class -1", "item 0"});
}

// ---------------------------------------------------------------------------------------------------------------
// Detection

struct Det {
  float x1, y1, x2, y2, score, cls;
};

// Three outputs (boxes [N, K, 4], scores [N, K], classes [N, K] as int64) from per-image lists padded to K with
// score -1 / class -1.
std::vector<Tensor> detections(const std::vector<std::vector<Det>>& images, int64_t k) {
  std::vector<float> boxes, scores;
  std::vector<int64_t> classes;
  for (const auto& im : images) {
    for (int64_t j = 0; j < k; ++j) {
      Det d = j < static_cast<int64_t>(im.size()) ? im[static_cast<size_t>(j)] : Det{0, 0, 0, 0, -1, -1};
      boxes.insert(boxes.end(), {d.x1, d.y1, d.x2, d.y2});
      scores.push_back(d.score);
      classes.push_back(static_cast<int64_t>(d.cls));
    }
  }
  int64_t n = static_cast<int64_t>(images.size());
  return {Tensor::from_vector<float>({n, k, 4}, boxes), Tensor::from_vector<float>({n, k}, scores),
          Tensor::from_vector<int64_t>({n, k}, classes)};
}

Tensor truths(const std::vector<std::vector<float>>& rows, int64_t cols = 5) {
  std::vector<float> v;
  for (const auto& r : rows) v.insert(v.end(), r.begin(), r.end());
  return Tensor::from_vector<float>({static_cast<int64_t>(rows.size()), cols}, v);
}

// Image A: class 0 truths g1 (0,0,10,10), g2 (20,20,30,30); class 1 truth (0,0,10,10). Detections: class 0 on g1
// (0.9, TP), again on g1 (0.8, duplicate: FP), on nothing (0.7, FP); class 1 half of its truth (0.6, IoU exactly 0.5).
// Image B: class 0 truth (0,0,10,10), detected exactly (0.85, TP); a class 2 detection with no class 2 truth anywhere.
const std::vector<std::vector<Det>> kDets = {
    {{0, 0, 10, 10, 0.9f, 0}, {0, 0, 10, 10, 0.8f, 0}, {50, 50, 60, 60, 0.7f, 0}, {0, 0, 10, 5, 0.6f, 1}},
    {{0, 0, 10, 10, 0.85f, 0}, {0, 0, 5, 5, 0.5f, 2}}};
const std::vector<Tensor> kTruths = {truths({{0, 0, 0, 10, 10}, {0, 20, 20, 30, 30}, {1, 0, 0, 10, 10}}),
                                     truths({{0, 0, 0, 10, 10}})};

TEST(DetectionMetrics, VocMapByHand) {
  // Class 0 over both images: TP 0.9, TP 0.85, FP 0.8, FP 0.7 with 3 positives -> recall 1/3, 2/3, 2/3, 2/3 at
  // precision 1, 1, 2/3, 1/2: AP = 1/3 + 1/3 = 2/3. Class 1: AP 1. Class 2 has no truth: left out. mAP = 5/6.
  for (const char* name : {"map", "map_voc"}) {
    auto m = create_metric(name);
    m->update(detections(kDets, 5), kTruths);
    EXPECT_NEAR(m->avg_value().at(name), 5.0 / 6, 1e-12) << name;
    // Per image: A has class 0 AP 1/2 (TP, FP, FP with 2 positives) and class 1 AP 1; B has class 0 AP 1.
    auto v = m->value().at(name);
    ASSERT_EQ(v.size(), 2u);
    EXPECT_NEAR(v[0], 0.75, 1e-12);
    EXPECT_NEAR(v[1], 1.0, 1e-12);
    EXPECT_EQ(m->attributes().at(name).type, "map");
  }
  // The same images in two updates accumulate to the same dataset mAP.
  auto m = create_metric("map");
  m->update(detections({kDets[0]}, 4), {kTruths[0]});
  m->update(detections({kDets[1]}, 2), {kTruths[1]});
  EXPECT_NEAR(m->avg_value().at("map"), 5.0 / 6, 1e-12);
  EXPECT_EQ(m->value().at("map").size(), 1u);
  m->reset();
  EXPECT_DOUBLE_EQ(m->avg_value().at("map"), 0.0);
}

TEST(DetectionMetrics, CocoMapByHand) {
  // Class 0 matches are exact (IoU 1) at every threshold: recall 1/3, 2/3, 2/3, 2/3, precision envelope 1, 1, 2/3, 1/2.
  // 101-point: recall 0..0.33 (34 points) and 0.34..0.66 (33 points) at precision 1, 0.67..1 unreached -> 67/101.
  // Class 1 (IoU 0.5) is a TP only at threshold 0.50 (AP 1) and a FP at the other nine (AP 0) -> 0.1.
  auto m = create_metric("map_coco");
  m->update(detections(kDets, 4), kTruths);
  EXPECT_NEAR(m->avg_value().at("map_coco"), (67.0 / 101 + 0.1) / 2, 1e-12);
  auto v = m->value().at("map_coco");
  ASSERT_EQ(v.size(), 2u);
  // Image A alone, class 0: TP, FP, FP with 2 positives -> recall 0..0.5 at precision 1: 51/101.
  EXPECT_NEAR(v[0], (51.0 / 101 + 0.1) / 2, 1e-12);
  EXPECT_NEAR(v[1], 1.0, 1e-12);
  EXPECT_EQ(m->attributes().at("map_coco").type, "coco_precision");
}

TEST(DetectionMetrics, CocoRecallThresholdsRoundLikePycocotools) {
  // 20 disjoint truths of class 0; detections: 7 exact hits, a miss, an exact hit. Recall 0.05 .. 0.35 at precision
  // 1, 0.35 at 7/8, 0.40 at 8/9 (envelope 8/9). pycocotools' recall thresholds come from np.linspace, whose 36th value
  // is 35 * 0.01 = 0.35000000000000003 > 7/20: the point at 0.35 takes the precision of recall 0.40. So 35 points
  // at 1 and 6 (0.35 .. 0.40) at 8/9, the same at every IoU threshold (exact boxes); 35/100 would give 36 and 5.
  std::vector<std::vector<float>> rows;
  std::vector<Det> dets;
  for (int g = 0; g < 20; ++g) rows.push_back({0, 20.0f * g, 0, 20.0f * g + 10, 10});
  for (int g = 0; g < 7; ++g) dets.push_back({20.0f * g, 0, 20.0f * g + 10, 10, 0.9f - 0.05f * g, 0});
  dets.push_back({500, 500, 510, 510, 0.5f, 0});
  dets.push_back({140, 0, 150, 10, 0.4f, 0});
  auto m = create_metric("map_coco");
  m->update(detections({dets}, 9), {truths(rows)});
  EXPECT_NEAR(m->avg_value().at("map_coco"), (35 + 6 * 8.0 / 9) / 101, 1e-12);
}

TEST(DetectionMetrics, DifficultTruthsAndEmptyImages) {
  // Truths: class 0 (0,0,10,10) difficult, (20,20,30,30) normal. Detections: the difficult box (0.9), nothing
  // (0.85), the normal box (0.8).
  std::vector<std::vector<Det>> dets = {
      {{0, 0, 10, 10, 0.9f, 0}, {40, 40, 50, 50, 0.85f, 0}, {20, 20, 30, 30, 0.8f, 0}}};
  // With the flag: the first is ignored; FP then TP with 1 positive -> recall 0, 1 at precision 0, 1/2: AP 1/2.
  auto m = create_metric("map");
  m->update(detections(dets, 3), {truths({{0, 0, 0, 10, 10, 1}, {0, 20, 20, 30, 30, 0}}, 6)});
  EXPECT_NEAR(m->avg_value().at("map"), 0.5, 1e-12);
  // Without it ([M, 5]): TP, FP, TP with 2 positives -> AP 1/2 * 1 + 1/2 * 2/3 = 5/6.
  m->reset();
  m->update(detections(dets, 3), {truths({{0, 0, 0, 10, 10}, {0, 20, 20, 30, 30}})});
  EXPECT_NEAR(m->avg_value().at("map"), 5.0 / 6, 1e-12);

  // No truth: 1 without detections, 0 with one. A [0, 5] annotation and an empty tensor both mean no truth.
  m->reset();
  m->update(detections({{}, {{0, 0, 1, 1, 0.3f, 4}}}, 1),
            {Tensor::from_vector<float>({0, 5}, {}), Tensor::from_vector<float>({0}, {})});
  EXPECT_EQ(m->value().at("map"), (std::vector<double>{1.0, 0.0}));
  EXPECT_DOUBLE_EQ(m->avg_value().at("map"), 0.0);
  // A detection explained by a difficult truth is not a false positive.
  m->reset();
  m->update(detections({{{0, 0, 10, 10, 0.9f, 0}}}, 1), {truths({{0, 0, 0, 10, 10, 1}}, 6)});
  EXPECT_EQ(m->value().at("map"), (std::vector<double>{1.0}));
}

TEST(DetectionMetrics, FloatClassesAndCocoMaxDetections) {
  // Classes as float; 150 detections of one class on one image, the 100 best are false positives: COCO keeps only
  // them (AP 0), VOC sees the true positive last (AP = 1/150 at recall 1).
  std::vector<float> boxes, scores, classes;
  for (int j = 0; j < 150; ++j) {
    bool hit = j == 149;
    boxes.insert(boxes.end(), {hit ? 0.0f : 100.0f, hit ? 0.0f : 100.0f, hit ? 10.0f : 110.0f, hit ? 10.0f : 110.0f});
    scores.push_back(1.0f - static_cast<float>(j) / 200);
    classes.push_back(3.0f);
  }
  std::vector<Tensor> out = {Tensor::from_vector<float>({1, 150, 4}, boxes),
                             Tensor::from_vector<float>({1, 150}, scores),
                             Tensor::from_vector<float>({1, 150}, classes)};
  auto coco = create_metric("map_coco");
  coco->update(out, {truths({{3, 0, 0, 10, 10}})});
  EXPECT_DOUBLE_EQ(coco->avg_value().at("map_coco"), 0.0);
  auto voc = create_metric("map_voc");
  voc->update(out, {truths({{3, 0, 0, 10, 10}})});
  EXPECT_NEAR(voc->avg_value().at("map_voc"), 1.0 / 150, 1e-12);
}

TEST(DetectionMetrics, BadOutputsAndAnnotations) {
  auto m = create_metric("map");
  auto out = detections(kDets, 4);
  expect_metric_error([&] { m->update({out[0], out[1]}, kTruths); }, {"map", "three model outputs"});
  expect_metric_error(
      [&] {
        m->update({out[0].reshaped({2, 16}), out[1], out[2]}, kTruths);
      },
      {"map", "output 0 (boxes)"});
  expect_metric_error([&] { m->update({out[0], out[2], out[2]}, kTruths); }, {"map", "output 1 (scores)"});
  expect_metric_error(
      [&] {
        m->update({out[0], out[1], out[2].reshaped({8})}, kTruths);
      },
      {"map", "output 2 (classes)"});
  expect_metric_error([&] { m->update(out, {kTruths[0]}); }, {"map", "2 outputs for 1"});
  expect_metric_error([&] { m->update(out, {kTruths[0], Tensor()}); }, {"map", "item 1", "no annotation"});
  expect_metric_error(
      [&] {
        m->update(out, {kTruths[0], truths({{0, 0, 0, 10}}, 4)});
      },
      {"map", "annotation of item 1", "[M, 5]"});
  expect_metric_error(
      [&] {
        m->update(out, {kTruths[0], truths({{0.5f, 0, 0, 10, 10}})});
      },
      {"map", "ground truth 0 of item 1", "not an integer"});
  expect_metric_error(
      [&] {
        m->update(out, {kTruths[0], truths({{0, 10, 0, 0, 10}})});
      },
      {"map", "ground truth 0 of item 1", "x1 <= x2"});
  auto bad = kDets;
  bad[1][1] = {5, 5, 0, 0, 0.5f, 2};
  expect_metric_error([&] { m->update(detections(bad, 4), kTruths); }, {"map", "detection 1 of item 1"});
}

// ---------------------------------------------------------------------------------------------------------------
// F1

Tensor one_hot_logits(const std::vector<int64_t>& predictions, int64_t classes) {
  std::vector<float> v;
  for (int64_t p : predictions)
    for (int64_t c = 0; c < classes; ++c) v.push_back(c == p ? 1.0f : 0.0f);
  return Tensor::from_vector<float>({static_cast<int64_t>(predictions.size()), classes}, v);
}

std::vector<Tensor> labels(const std::vector<int64_t>& ls) {
  std::vector<Tensor> out;
  for (int64_t l : ls) out.push_back(Tensor::scalar<int64_t>(l));
  return out;
}

TEST(F1Metric, MacroAverageFromConfusionMatrix) {
  // labels 0 0 0 1 1 2, predictions 0 0 1 1 2 2.
  // class 0: P 2/2, R 2/3, F1 0.8; class 1: P 1/2, R 1/2, F1 1/2; class 2: P 1/2, R 1/1, F1 2/3.
  auto m = create_metric("f1");
  m->update({one_hot_logits({0, 0, 1}, 3)}, labels({0, 0, 0}));
  m->update({one_hot_logits({1, 2, 2}, 3)}, labels({1, 1, 2}));
  auto avg = m->avg_value();
  EXPECT_NEAR(avg.at("f1"), (0.8 + 0.5 + 2.0 / 3) / 3, 1e-12);
  EXPECT_NEAR(avg.at("precision"), (1 + 0.5 + 0.5) / 3, 1e-12);
  EXPECT_NEAR(avg.at("recall"), (2.0 / 3 + 0.5 + 1) / 3, 1e-12);
  // No per-sample values (see metrics_classification.cc): empty lists, which the evaluator drops.
  for (const auto& [name, values] : m->value()) EXPECT_TRUE(values.empty()) << name;
  EXPECT_EQ(m->attributes().at("f1").type, "f1");
  EXPECT_EQ(m->attributes().at("recall").direction, "higher-better");
  // A class that never occurs (class 3 of 4) is not averaged.
  auto four = create_metric("f1");
  four->update({one_hot_logits({0, 0, 1, 1, 2, 2}, 4)}, labels({0, 0, 0, 1, 1, 2}));
  EXPECT_NEAR(four->avg_value().at("f1"), (0.8 + 0.5 + 2.0 / 3) / 3, 1e-12);
}

TEST(F1Metric, BinaryIsForThePositiveClass) {
  // labels 1 1 0 0 1, predictions 1 0 0 1 1: TP 2, FP 1, FN 1.
  auto m = create_metric("f1");
  m->update({one_hot_logits({1, 0, 0, 1, 1}, 2)}, labels({1, 1, 0, 0, 1}));
  EXPECT_NEAR(m->avg_value().at("f1"), 2.0 / 3, 1e-12);
  EXPECT_NEAR(m->avg_value().at("precision"), 2.0 / 3, 1e-12);
  EXPECT_NEAR(m->avg_value().at("recall"), 2.0 / 3, 1e-12);
  m->reset();
  m->update({one_hot_logits({1, 1, 0}, 2)}, labels({1, 0, 0}));  // TP 1, FP 1, FN 0
  EXPECT_NEAR(m->avg_value().at("precision"), 0.5, 1e-12);
  EXPECT_NEAR(m->avg_value().at("recall"), 1.0, 1e-12);
  EXPECT_NEAR(m->avg_value().at("f1"), 2.0 / 3, 1e-12);
}

TEST(F1Metric, BadOutputsAndAnnotations) {
  auto m = create_metric("f1");
  expect_metric_error(
      [&] {
        m->update({Tensor::from_vector<float>({2, 1}, {0, 1})}, labels({0, 0}));
      },
      {"f1", "output 0"});
  expect_metric_error([&] { m->update({one_hot_logits({0, 1}, 2)}, labels({0})); }, {"f1", "2 outputs for 1"});
  expect_metric_error(
      [&] {
        m->update({one_hot_logits({0, 1}, 2)}, {Tensor::scalar<int64_t>(0), Tensor()});
      },
      {"f1", "item 1"});
  expect_metric_error([&] { m->update({one_hot_logits({0, 1}, 2)}, labels({0, 5})); }, {"f1", "label 5", "item 1"});
  expect_metric_error(
      [&] {
        m->update({one_hot_logits({0, 1}, 2)}, {Tensor::scalar<float>(0), Tensor::scalar<float>(0.5f)});
      },
      {"f1", "item 1", "not an integer"});
  m->update({one_hot_logits({0, 1}, 2)}, {Tensor::scalar<float>(0), Tensor::scalar<float>(1)});  // float labels
  EXPECT_DOUBLE_EQ(m->avg_value().at("f1"), 1.0);
  expect_metric_error([&] { m->update({one_hot_logits({0, 1}, 3)}, labels({0, 1})); }, {"f1", "3 classes"});
  // A failed update leaves the counts as they were: labels 1 then 7 (bad) after a perfect batch.
  expect_metric_error([&] { m->update({one_hot_logits({0, 0}, 2)}, labels({1, 7})); }, {"f1", "label 7"});
  EXPECT_DOUBLE_EQ(m->avg_value().at("f1"), 1.0);
}

// ---------------------------------------------------------------------------------------------------------------
// Regression

TEST(RegressionMetrics, MseAndMaePerItem) {
  // Item 0: (1, 2, 3) vs (1, 2, 5): MSE 4/3, MAE 2/3. Item 1: (0, 0, 0) vs (1, 1, 1) as int: MSE 1, MAE 1.
  Tensor out = Tensor::from_vector<float>({2, 3}, {1, 2, 3, 0, 0, 0});
  std::vector<Tensor> ref = {Tensor::from_vector<float>({3}, {1, 2, 5}),
                             Tensor::from_vector<int32_t>({1, 3}, {1, 1, 1})};
  auto mse = create_metric("mse");
  auto mae = create_metric("mae");
  mse->update({out}, ref);
  mae->update({out}, ref);
  auto v = mse->value().at("mse");
  ASSERT_EQ(v.size(), 2u);
  EXPECT_DOUBLE_EQ(v[0], 4.0 / 3);
  EXPECT_DOUBLE_EQ(v[1], 1.0);
  EXPECT_DOUBLE_EQ(mse->avg_value().at("mse"), 7.0 / 6);
  EXPECT_EQ(mae->value().at("mae"), (std::vector<double>{2.0 / 3, 1.0}));
  EXPECT_DOUBLE_EQ(mae->avg_value().at("mae"), 5.0 / 6);
  EXPECT_EQ(mse->attributes().at("mse").direction, "higher-worse");
  EXPECT_EQ(mae->attributes().at("mae").direction, "higher-worse");
  mse->update({Tensor::from_vector<float>({1, 3}, {0, 0, 0})}, {Tensor::from_vector<float>({3}, {0, 0, 0})});
  EXPECT_EQ(mse->value().at("mse"), (std::vector<double>{0.0}));
  EXPECT_DOUBLE_EQ(mse->avg_value().at("mse"), 7.0 / 9);  // (4/3 + 1 + 0) / 3
}

TEST(RegressionMetrics, BadOutputsAndAnnotations) {
  auto m = create_metric("mse");
  Tensor out = Tensor::from_vector<float>({2, 3}, {1, 2, 3, 0, 0, 0});
  Tensor good = Tensor::from_vector<float>({3}, {1, 2, 3});
  expect_metric_error([&] { m->update({}, {good}); }, {"mse", "no outputs"});
  expect_metric_error(
      [&] {
        m->update({Tensor::from_vector<int64_t>({1, 3}, {1, 2, 3})}, {good});
      },
      {"mse", "output 0"});
  expect_metric_error([&] { m->update({out}, {good}); }, {"mse", "2 outputs for 1"});
  expect_metric_error([&] { m->update({out}, {good, Tensor()}); }, {"mse", "item 1", "no annotation"});
  expect_metric_error(
      [&] {
        m->update({out}, {good, Tensor::from_vector<float>({4}, {1, 2, 3, 4})});
      },
      {"mse", "item 1", "[3]"});
  expect_metric_error(
      [&] {
        m->update({out}, {good, Tensor::from_vector<float>({3}, {0, NAN, 0})});
      },
      {"mse", "item 1", "non-finite"});
  // Failed updates accumulated nothing.
  EXPECT_DOUBLE_EQ(m->avg_value().at("mse"), 0.0);
  m->update({out}, {good, Tensor::from_vector<float>({3}, {0, 0, 3})});
  EXPECT_DOUBLE_EQ(m->avg_value().at("mse"), 1.5);  // item errors 0 and 3
}

// ---------------------------------------------------------------------------------------------------------------
// Names and the evaluator

TEST(Metrics, NamesAreKnownAndCaseSensitive) {
  for (const char* name : {"mean_iou", "pixel_accuracy", "map", "map_voc", "map_coco", "f1", "mse", "mae", "top1"})
    EXPECT_NE(create_metric(name), nullptr) << name;
  for (const char* name : {"MSE", "mAP", "F1", "miou", "map_coco50"}) {
    try {
      create_metric(name);
      ADD_FAILURE() << name;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find("map_coco"), std::string::npos) << e.what();
    }
  }
}

TEST(Metrics, EvaluatorDropsF1PerSampleValues) {
  namespace fs = std::filesystem;
  testing::ModelBuilder b;
  b.input("x", DataType::kFloat, {-1, 4}).node("Identity", {"x"}, {"y"}).output("y");
  Model model = b.build();
  fs::path dir = fs::temp_directory_path() / "quac_metrics_evaluator";
  fs::remove_all(dir);
  fs::create_directories(dir);
  // Predictions argmax 0, 1, 2 vs labels 0, 1, 1.
  write_npy((dir / "x.npy").string(), Tensor::from_vector<float>({3, 4}, {9, 0, 0, 0, 0, 9, 0, 0, 0, 0, 9, 0}));
  write_npy((dir / "y.npy").string(), Tensor::from_vector<int64_t>({3}, {0, 1, 1}));
  auto data = open_dataset("npy:" + dir.string(), model);
  Session session(model);
  EvaluationOptions options;
  options.batch_size = 2;
  auto f1 = create_metric("f1");
  auto r = evaluate(session, *data, *f1, options);
  // Classes 0, 1, 2: F1 1, 2/3, 0.
  EXPECT_NEAR(r.metrics.at("f1"), (1 + 2.0 / 3) / 3, 1e-12);
  EXPECT_TRUE(r.per_sample.empty());
}

// ---------------------------------------------------------------------------------------------------------------
// Several metrics at once, directions, per-sample meaning, and a user's own metrics

// Scores [N, 4] with argmax = the given classes.
Tensor scores_for(const std::vector<int>& argmax) {
  std::vector<float> v;
  for (int a : argmax)
    for (int c = 0; c < 4; ++c) v.push_back(c == a ? 9.0f : 0.3f - 0.1f * static_cast<float>(c));
  return Tensor::from_vector<float>({static_cast<int64_t>(argmax.size()), 4}, v);
}
std::vector<Tensor> labels_for(const std::vector<int64_t>& labels) {
  std::vector<Tensor> out;
  for (int64_t l : labels) out.push_back(Tensor::scalar<int64_t>(l));
  return out;
}

TEST(CompositeMetric, ListReportsEveryNameWithItsDirection) {
  auto m = create_metric("top1, top2,f1");
  auto attributes = m->attributes();
  std::vector<std::string> names;
  for (const auto& [name, a] : attributes) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"f1", "precision", "recall", "top1", "top2"}));
  // Argmax 3, 0 vs labels 3, 1; in item 1, class 1 scores second highest.
  m->update({scores_for({3, 0})}, labels_for({3, 1}));
  auto v = m->value();
  EXPECT_EQ(v.at("top1"), (std::vector<double>{1, 0}));
  EXPECT_EQ(v.at("top2"), (std::vector<double>{1, 1}));
  EXPECT_TRUE(v.at("f1").empty());
  auto avg = m->avg_value();
  EXPECT_DOUBLE_EQ(avg.at("top1"), 0.5);
  EXPECT_DOUBLE_EQ(avg.at("top2"), 1.0);
  EXPECT_EQ(avg.size(), 5u);
  m->reset();
  EXPECT_DOUBLE_EQ(m->avg_value().at("top1"), 0.0);
  EXPECT_TRUE(m->value().at("top1").empty());
  // Per-sample meaning and direction, per name.
  auto all = create_metric("top1,mse,mae,map,map_coco,mean_iou,pixel_accuracy,precision,recall")->attributes();
  EXPECT_TRUE(all.at("top1").per_sample && all.at("top1").higher_better());
  EXPECT_TRUE(all.at("mse").per_sample && !all.at("mse").higher_better());
  EXPECT_EQ(all.at("mae").direction, "higher-worse");
  EXPECT_TRUE(all.at("pixel_accuracy").per_sample);
  for (const char* name : {"map", "map_coco", "mean_iou", "precision", "recall"})
    EXPECT_FALSE(all.at(name).per_sample) << name;
  EXPECT_FALSE(create_metric("f1")->attributes().at("f1").per_sample);
  EXPECT_EQ(create_metric("precision")->avg_value().size(), 1u);
}

TEST(CompositeMetric, ListErrors) {
  for (const char* bad : {"top1,top1", "f1,precision", "top1,", ",top1", "top1,,top5", "top1,banana", ""}) {
    try {
      create_metric(bad);
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << bad;
    }
  }
  try {
    create_metric("top1,top1");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'top1' is reported twice"), std::string::npos) << e.what();
  }
}

// A user's own metric on the shared running-mean base: how far the top score is from 1 (higher-worse).
class Overconfidence : public PerSampleMetric {
 public:
  Overconfidence() : PerSampleMetric("overconfidence", {"higher-worse", "calibration"}) {}

 protected:
  std::vector<double> compute(const std::vector<Tensor>& outputs, const std::vector<Tensor>& annotations) override {
    const Tensor& t = outputs.at(0);
    std::vector<double> v;
    for (int64_t i = 0; i < t.dim(0); ++i) {
      float best = -1e30f;
      for (int64_t c = 0; c < t.dim(1); ++c) best = std::max(best, t.data<float>()[i * t.dim(1) + c]);
      if (best > 100) QUAC_THROW(kMetricError, "overconfidence: item ", i, " scores ", best);
      v.push_back(std::fabs(best - 1.0));
    }
    return v;
  }
};

// A user's own metric straight on the Metric interface, with no per-sample meaning: the share of items labelled 0.
class LabelZeroShare : public Metric {
 public:
  void update(const std::vector<Tensor>&, const std::vector<Tensor>& annotations) override {
    for (const auto& a : annotations) zeros_ += a.scalar_as_int() == 0;
    count_ += annotations.size();
  }
  std::map<std::string, std::vector<double>> value() const override { return {{"zero_share", {}}}; }
  std::map<std::string, double> avg_value() const override {
    return {{"zero_share", count_ ? static_cast<double>(zeros_) / static_cast<double>(count_) : 0.0}};
  }
  void reset() override { zeros_ = count_ = 0; }
  std::map<std::string, MetricAttributes> attributes() const override {
    return {{"zero_share", {"higher-better", "share", false}}};
  }

 private:
  size_t zeros_ = 0, count_ = 0;
};

TEST(CompositeMetric, UserMetricsPlugInLikeBuiltIns) {
  namespace fs = std::filesystem;
  testing::ModelBuilder b;
  b.input("x", DataType::kFloat, {-1, 4}).node("Identity", {"x"}, {"y"}).output("y");
  Model model = b.build();
  fs::path dir = fs::temp_directory_path() / "quac_metrics_user";
  fs::remove_all(dir);
  fs::create_directories(dir);
  // Top scores 3, 1, 0.5; argmax 0, 1, 2 vs labels 0, 1, 1.
  write_npy((dir / "x.npy").string(), Tensor::from_vector<float>({3, 4}, {3, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0.5f, 0}));
  write_npy((dir / "y.npy").string(), Tensor::from_vector<int64_t>({3}, {0, 1, 1}));
  auto data = open_dataset("npy:" + dir.string(), model);

  auto composite = std::make_shared<CompositeMetric>();
  composite->add(create_metric("top1"));
  composite->add(std::make_unique<Overconfidence>());
  composite->add(std::make_unique<LabelZeroShare>());
  EXPECT_THROW(composite->add(std::make_unique<Overconfidence>()), Error);
  EXPECT_EQ(composite->parts(), 3u);

  Session session(model);
  EvaluationOptions options;
  options.batch_size = 2;
  auto r = evaluate(session, *data, *composite, options);
  EXPECT_NEAR(r.metrics.at("top1"), 2.0 / 3, 1e-12);
  EXPECT_NEAR(r.metrics.at("overconfidence"), (2 + 0 + 0.5) / 3, 1e-12);
  EXPECT_NEAR(r.metrics.at("zero_share"), 1.0 / 3, 1e-12);
  EXPECT_EQ(r.per_sample.at("overconfidence"), (std::vector<double>{2, 0, 0.5}));
  EXPECT_EQ(r.per_sample.at("top1"), (std::vector<double>{1, 1, 0}));
  EXPECT_FALSE(r.per_sample.count("zero_share"));  // no per-sample meaning: not reported per item
  EXPECT_EQ(r.attributes.at("overconfidence").direction, "higher-worse");
  EXPECT_FALSE(r.attributes.at("zero_share").per_sample);

  // The Engine reports every metric too.
  auto engine = std::make_shared<Engine>(data, composite, EngineOptions{.batch_size = 3, .progress = false});
  auto e = engine->evaluate(model);
  EXPECT_EQ(e.metrics.size(), 3u);
  EXPECT_NEAR(e.metrics.at("overconfidence"), (2 + 0 + 0.5) / 3, 1e-12);

  // A user's metric that throws is reported as a metric error, and a batch it rejects is not counted.
  write_npy((dir / "x.npy").string(), Tensor::from_vector<float>({1, 4}, {300, 0, 0, 0}));
  write_npy((dir / "y.npy").string(), Tensor::from_vector<int64_t>({1}, {0}));
  auto bad = open_dataset("npy:" + dir.string(), model);
  Overconfidence alone;
  expect_metric_error([&] { evaluate(session, *bad, alone, {}); }, {"overconfidence", "300"});
  EXPECT_DOUBLE_EQ(alone.avg_value().at("overconfidence"), 0.0);
}

TEST(PerSampleMetric, RejectsWrongCountsAndNonFiniteValues) {
  struct Broken : PerSampleMetric {
    std::vector<double> result;
    Broken() : PerSampleMetric("broken", {}) {}
    std::vector<double> compute(const std::vector<Tensor>&, const std::vector<Tensor>&) override { return result; }
  } m;
  m.result = {1.0};
  expect_metric_error([&] { m.update({}, labels_for({0, 1})); }, {"broken", "1 values for a batch of 2"});
  m.result = {1.0, NAN};
  expect_metric_error([&] { m.update({}, labels_for({0, 1})); }, {"broken", "item 1", "non-finite"});
  m.result = {1.0, 0.0};
  m.update({}, labels_for({0, 1}));
  EXPECT_DOUBLE_EQ(m.avg_value().at("broken"), 0.5);
}

}  // namespace
}  // namespace quac
