#include "quac/evaluator.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>

#include "core/progress.h"

namespace quac {

namespace {
void check_finite(const Tensor& t, const std::string& output, const std::vector<size_t>& items) {
  if (t.dtype() != DataType::kFloat) return;
  const float* p = t.data<float>();
  int64_t per_item = items.empty() ? t.numel() : t.numel() / static_cast<int64_t>(items.size());
  for (int64_t i = 0; i < t.numel(); ++i)
    if (!std::isfinite(p[i]))
      QUAC_THROW(kMetricError, "model output '", output, "' is ", std::isnan(p[i]) ? "NaN" : "infinite", " for item ",
                 items.empty() ? 0 : items[static_cast<size_t>(i / std::max<int64_t>(per_item, 1))]);
}

// Row i of a batch-first tensor, copied (the batch buffer is recycled by the session).
Tensor item_row(const Tensor& t, int64_t i) {
  Shape shape(t.shape().begin() + 1, t.shape().end());
  Tensor out(t.dtype(), shape);
  size_t bytes = out.nbytes();
  std::memcpy(out.raw_data(), static_cast<const char*>(t.raw_data()) + bytes * static_cast<size_t>(i), bytes);
  return out;
}
}  // namespace

EvaluationResult evaluate(Session& session, const Dataset& dataset, Metric& metric, const EvaluationOptions& options) {
  auto start = std::chrono::steady_clock::now();
  EvaluationResult result;
  result.indices = options.indices;
  if (result.indices.empty()) {
    result.indices.resize(dataset.size());
    std::iota(result.indices.begin(), result.indices.end(), size_t{0});
  }
  QUAC_CHECK(!result.indices.empty(), kDatasetError, dataset.describe(), ": no items to evaluate");
  size_t batch = std::max<size_t>(options.batch_size, 1);
  for (const auto& in : session.inputs())
    if (in.has_shape && !in.shape.empty() && in.shape[0] > 0)
      batch = std::min<size_t>(batch, static_cast<size_t>(in.shape[0]));
  metric.reset();
  Progress progress(options.progress_label, result.indices.size(), !options.progress_label.empty());
  const auto& outs = session.outputs();
  for (size_t begin = 0; begin < result.indices.size(); begin += batch) {
    size_t end = std::min(begin + batch, result.indices.size());
    Batch b = make_batch(dataset, result.indices, begin, end);
    std::vector<Tensor> outputs = session.run(b.inputs);
    for (size_t o = 0; o < outputs.size(); ++o) check_finite(outputs[o], outs[o].name, b.indices);
    try {
      metric.update(outputs, b.annotations);
    } catch (const Error& e) {
      if (e.code() == ErrorCode::kMetricError) throw;
      QUAC_THROW(kMetricError, "metric failed on items ", b.indices.front(), "..", b.indices.back(), ": ", e.what());
    } catch (const std::exception& e) {
      QUAC_THROW(kMetricError, "metric failed on items ", b.indices.front(), "..", b.indices.back(), ": ", e.what());
    }
    for (const auto& [name, values] : metric.value()) {
      auto& dst = result.per_sample[name];
      if (values.size() == b.indices.size()) dst.insert(dst.end(), values.begin(), values.end());
    }
    if (options.keep_outputs) {
      for (size_t i = 0; i < b.indices.size(); ++i) {
        std::vector<Tensor> item;
        for (const auto& t : outputs) item.push_back(item_row(t, static_cast<int64_t>(i)));
        result.outputs.push_back(std::move(item));
      }
    }
    progress.advance(end - begin);
  }
  progress.finish();
  result.metrics = metric.avg_value();
  result.attributes = metric.attributes();
  // Metrics with no per-sample meaning report fewer values: drop partial lists so callers can tell.
  for (auto it = result.per_sample.begin(); it != result.per_sample.end();) {
    if (it->second.size() != result.indices.size())
      it = result.per_sample.erase(it);
    else
      ++it;
  }
  result.items = result.indices.size();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace quac
