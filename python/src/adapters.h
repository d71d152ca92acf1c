// The C++ faces of a user's Python DataLoader and Metric: quac's engine calls them through the Dataset and Metric
// interfaces of include/quac while it runs without the GIL; each call takes the GIL, and a Python exception or a
// wrong return type becomes a quac::Error naming the class and the method ("MyMetric.update raised ValueError: ...").
#pragma once

#include <pybind11/pybind11.h>

#include <set>
#include <string>
#include <vector>

#include "quac/dataset.h"
#include "quac/metric.h"
#include "quac/model.h"

namespace quac::python {

namespace py = pybind11;

// POT's DataLoader: __len__() and __getitem__(index) -> (data, annotation) or (data, annotation, metadata). data is
// an array for a one-input model, or a dict {input name: array} / a list with one array per input; an item may carry
// a leading batch dimension of 1 (dropped, as POT does). Arrays of another numeric type than the model input are
// converted; C-contiguous arrays of the right type are used without copying.
class PyDataset : public Dataset {
 public:
  explicit PyDataset(py::object loader);
  ~PyDataset() override;
  size_t size() const override;
  DataItem get(size_t index) const override;
  std::string describe() const override;
  // The inputs of the model about to run (names for dict data, ranks and types for conversions). Set under the GIL
  // before the engine starts.
  void set_model_inputs(std::vector<ValueDesc> inputs) { inputs_ = std::move(inputs); }
  const py::object& loader() const { return loader_; }

 private:
  Tensor convert_input(const py::handle& value, const ValueDesc* desc, const std::string& what) const;

  py::object loader_;
  std::string name_;
  std::vector<ValueDesc> inputs_;
};

// POT's Metric: properties value ({name: per-sample values of the last batch}), avg_value ({name: number}),
// higher_better; methods update(output, target), reset(), get_attributes(). update gets a list of NumPy arrays (one
// per model output, batch first, read-only views of the engine's buffers) and the list of the batch's annotations as
// the DataLoader returned them. A value that is a single number (or None) means "no per-sample values".
// With `per_item`, update is called once per item of each batch (batches of one, as POT's engine calls it), and
// value() returns the values collected over the batch's items.
class PyMetric : public Metric {
 public:
  PyMetric(py::object metric, bool per_item);
  ~PyMetric() override;
  void update(const std::vector<Tensor>& outputs, const std::vector<Tensor>& annotations) override;
  std::map<std::string, std::vector<double>> value() const override;
  std::map<std::string, double> avg_value() const override;
  void reset() override;
  std::map<std::string, MetricAttributes> attributes() const override;
  const py::object& metric() const { return metric_; }

 private:
  template <typename... Args>
  py::object call(const char* method, Args&&... args) const;
  py::object property(const char* name) const;
  std::map<std::string, std::vector<double>> read_value() const;

  py::object metric_;
  std::string name_;
  bool per_item_;
  std::map<std::string, std::vector<double>> batch_values_;  // per_item: the values of the last batch's items
  mutable std::set<std::string> batch_level_;                // names whose value was one number (no per-sample)
};

}  // namespace quac::python
