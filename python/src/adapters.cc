#include "adapters.h"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <set>

#include "convert.h"

namespace quac::python {

namespace {

// Drops a Python reference from C++ code that may run without the GIL (or after the interpreter is gone).
void release(py::object& object) {
  if (!object || !Py_IsInitialized() || _Py_IsFinalizing()) {
    object.release();
    return;
  }
  py::gil_scoped_acquire gil;
  object = py::object();
}

std::string shape_pattern(const ValueDesc& desc) {
  std::string s = "[";
  for (size_t i = 0; i < desc.shape.size(); ++i) {
    if (i) s += ",";
    s += desc.shape[i] < 0 ? (i < desc.dim_names.size() && !desc.dim_names[i].empty() ? desc.dim_names[i] : "?")
                           : std::to_string(desc.shape[i]);
  }
  return s + "]";
}

std::string array_shape(const py::array& a) {
  std::string s = "[";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? "," : "") + std::to_string(a.shape(i));
  return s + "]";
}

// A number from a metric's dict: a Python or NumPy scalar, or an array of one element.
double metric_number(const py::handle& value, const std::string& what) {
  py::array a = null_array();
  try {
    a = py::array_t<double, py::array::forcecast>::ensure(value);
  } catch (py::error_already_set&) {
  }
  if (!a || a.size() != 1 || py::isinstance<py::str>(value) || value.is_none())
    QUAC_THROW(kMetricError, what, " is ", type_name(value), "; expected a number");
  return *static_cast<const double*>(a.data());
}

}  // namespace

// ---- DataLoader ----

PyDataset::PyDataset(py::object loader) : loader_(std::move(loader)), name_(class_name(loader_)) {
  for (const char* method : {"__len__", "__getitem__"})
    QUAC_CHECK(py::hasattr(loader_, method), kInvalidArgument, "data_loader ", name_, " has no ", method,
               "; derive it from quac.DataLoader and define __len__ and __getitem__");
}

PyDataset::~PyDataset() { release(loader_); }

std::string PyDataset::describe() const { return name_; }

size_t PyDataset::size() const {
  py::gil_scoped_acquire gil;
  py::object n;
  try {
    n = loader_.attr("__len__")();
  } catch (py::error_already_set& e) {
    QUAC_THROW(kDatasetError, describe_python_error(name_, "__len__", e));
  }
  bool is_int = py::isinstance<py::int_>(n) && !py::isinstance<py::bool_>(n);
  if (!is_int && py::hasattr(n, "__index__") && !py::isinstance<py::bool_>(n)) n = py::int_(n), is_int = true;
  QUAC_CHECK(is_int && n.cast<long long>() >= 0, kDatasetError, name_, ".__len__ returned ", type_name(n), " ",
             std::string(py::repr(n)), "; expected a non-negative int");
  return n.cast<size_t>();
}

Tensor PyDataset::convert_input(const py::handle& value, const ValueDesc* desc, const std::string& what) const {
  py::array array = null_array();
  if (py::isinstance<py::array>(value)) {
    array = py::reinterpret_borrow<py::array>(value);
  } else if (!value.is_none() && !py::isinstance<py::str>(value) && !py::isinstance<py::bytes>(value) &&
             !py::isinstance<py::dict>(value)) {
    try {
      array = py::module_::import("numpy").attr("asarray")(value);
    } catch (py::error_already_set&) {
    }
  }
  if (!array || quac_dtype(array.dtype()) == DataType::kUndefined)
    QUAC_THROW(kDatasetError, what, " is ", type_name(value), array ? " of NumPy dtype " : "",
               array ? std::string(py::str(array.dtype())) : "", "; expected a numeric NumPy array");
  if (desc && desc->dtype != DataType::kUndefined && quac_dtype(array.dtype()) != desc->dtype) {
    // POT feeds whatever numeric type the loader makes; the model's type decides (the only conversion copy).
    array = array.attr("astype")(numpy_dtype(desc->dtype));
  }
  if (desc && desc->has_shape) {
    auto rank = static_cast<py::ssize_t>(desc->shape.size());
    // POT accepts items with a leading batch dimension of 1; the engine batches items itself.
    if (array.ndim() == rank && rank > 0 && array.shape(0) == 1)
      array = array.attr("reshape")(py::tuple(array.attr("shape"))[py::slice(1, rank, 1)]);
    bool ok = array.ndim() == rank - 1;
    for (py::ssize_t i = 0; ok && i < array.ndim(); ++i) {
      int64_t expected = desc->shape[static_cast<size_t>(i + 1)];
      ok = expected < 0 || expected == array.shape(i);
    }
    QUAC_CHECK(ok, kDatasetError, what, " has shape ", array_shape(array), " but model input '", desc->name, "' is ",
               shape_pattern(*desc), " (an item is one sample: without the batch dimension, or with a batch ",
               "dimension of 1)");
  }
  return tensor_from_array(array, what);
}

DataItem PyDataset::get(size_t index) const {
  py::gil_scoped_acquire gil;
  std::string call = "__getitem__(" + std::to_string(index) + ")";
  std::string where = name_ + "." + call;
  py::object item;
  try {
    item = loader_.attr("__getitem__")(index);
  } catch (py::error_already_set& e) {
    QUAC_THROW(kDatasetError, describe_python_error(name_, call, e));
  }
  bool sequence = py::isinstance<py::tuple>(item) || py::isinstance<py::list>(item);
  size_t length = sequence ? py::len(item) : 0;
  QUAC_CHECK(sequence && (length == 2 || length == 3), kDatasetError, where, " returned ", type_name(item),
             "; expected a tuple (data, annotation) or (data, annotation, metadata)");
  py::sequence parts = py::reinterpret_borrow<py::sequence>(item);
  py::object data = parts[0];

  DataItem out;
  if (py::isinstance<py::dict>(data)) {
    py::dict feeds = py::reinterpret_borrow<py::dict>(data);
    if (inputs_.empty()) {
      QUAC_CHECK(feeds.size() == 1, kDatasetError, where, " returned a dict of ", feeds.size(),
                 " inputs before the model was known");
      for (auto kv : feeds) out.inputs.push_back(convert_input(kv.second, nullptr, where + " data"));
    } else {
      for (const auto& in : inputs_) {
        QUAC_CHECK(feeds.contains(py::str(in.name)), kDatasetError, where, " data has no entry for model input '",
                   in.name, "'");
        out.inputs.push_back(convert_input(feeds[py::str(in.name)], &in, where + " data['" + in.name + "']"));
      }
      QUAC_CHECK(feeds.size() == inputs_.size(), kDatasetError, where, " data has ", feeds.size(),
                 " entries; the model has ", inputs_.size(), " inputs");
    }
  } else if (inputs_.size() > 1) {
    bool ok = (py::isinstance<py::tuple>(data) || py::isinstance<py::list>(data)) && py::len(data) == inputs_.size();
    QUAC_CHECK(ok, kDatasetError, where, " data is ", type_name(data), "; the model has ", inputs_.size(),
               " inputs: return a dict {input name: array} or a list with one array per input");
    py::sequence list = py::reinterpret_borrow<py::sequence>(data);
    for (size_t i = 0; i < inputs_.size(); ++i)
      out.inputs.push_back(convert_input(list[i], &inputs_[i], where + " data[" + std::to_string(i) + "]"));
  } else {
    out.inputs.push_back(convert_input(data, inputs_.empty() ? nullptr : &inputs_[0], where + " data"));
  }

  out.annotation = tensor_from_annotation(parts[1]);
  if (length == 3 && !parts[2].is_none()) {
    py::object metadata = parts[2];
    QUAC_CHECK(py::isinstance<py::dict>(metadata), kDatasetError, where, " returned metadata of type ",
               type_name(metadata), "; expected a dict");
    for (auto kv : py::reinterpret_borrow<py::dict>(metadata))
      out.metadata[py::str(kv.first).cast<std::string>()] = py::str(kv.second).cast<std::string>();
  }
  return out;
}

// ---- Metric ----

PyMetric::PyMetric(py::object metric, bool per_item)
    : metric_(std::move(metric)), name_(class_name(metric_)), per_item_(per_item) {
  for (const char* attr : {"update", "reset", "get_attributes"})
    QUAC_CHECK(py::hasattr(py::type::handle_of(metric_), attr), kInvalidArgument, "metric ", name_, " has no ", attr,
               "; derive it from quac.Metric");
}

PyMetric::~PyMetric() { release(metric_); }

template <typename... Args>
py::object PyMetric::call(const char* method, Args&&... args) const {
  try {
    return metric_.attr(method)(std::forward<Args>(args)...);
  } catch (py::error_already_set& e) {
    QUAC_THROW(kMetricError, describe_python_error(name_, method, e));
  }
}

py::object PyMetric::property(const char* name) const {
  try {
    return metric_.attr(name);
  } catch (py::error_already_set& e) {
    QUAC_THROW(kMetricError, describe_python_error(name_, name, e));
  }
}

void PyMetric::update(const std::vector<Tensor>& outputs, const std::vector<Tensor>& annotations) {
  py::gil_scoped_acquire gil;
  py::list output_list, target_list;
  for (const auto& t : outputs) output_list.append(array_from_tensor(t));
  for (const auto& a : annotations) target_list.append(annotation_to_python(a));
  size_t items = annotations.size();
  bool split = per_item_ && items > 1;
  for (const auto& t : outputs) split = split && t.rank() >= 1 && t.dim(0) == static_cast<int64_t>(items);
  if (!split) {
    call("update", output_list, target_list);
    if (per_item_) batch_values_ = read_value();
    return;
  }
  // POT's engine hands the metric one item at a time; quac runs the batch at once and replays it item by item,
  // collecting each item's value, so a metric written for POT sees what it saw there.
  batch_values_.clear();
  std::set<std::string> batch_level;
  for (size_t i = 0; i < items; ++i) {
    py::list item_outputs, item_targets;
    py::slice row(static_cast<py::ssize_t>(i), static_cast<py::ssize_t>(i + 1), 1);
    for (auto array : output_list) item_outputs.append(array[row]);
    item_targets.append(target_list[i]);
    call("update", item_outputs, item_targets);
    for (auto& [name, values] : read_value()) {
      if (values.size() != 1) batch_level.insert(name);
      auto& dst = batch_values_[name];
      dst.insert(dst.end(), values.begin(), values.end());
    }
  }
  for (const auto& name : batch_level) batch_values_[name].clear();
}

std::map<std::string, std::vector<double>> PyMetric::value() const {
  if (per_item_) return batch_values_;
  py::gil_scoped_acquire gil;
  return read_value();
}

std::map<std::string, std::vector<double>> PyMetric::read_value() const {
  py::object v = property("value");
  QUAC_CHECK(py::isinstance<py::dict>(v), kMetricError, name_, ".value returned ", type_name(v),
             "; expected a dict {metric name: per-sample values of the last batch}");
  std::map<std::string, std::vector<double>> out;
  for (auto kv : py::reinterpret_borrow<py::dict>(v)) {
    std::string key = py::str(kv.first).cast<std::string>();
    auto& values = out[key];
    if (kv.second.is_none()) {
      batch_level_.insert(key);
      continue;
    }
    py::array a = null_array();
    try {
      a = py::array_t<double, py::array::forcecast>::ensure(kv.second);
    } catch (py::error_already_set&) {
    }
    QUAC_CHECK(a && !py::isinstance<py::str>(kv.second), kMetricError, name_, ".value['", key, "'] is ",
               type_name(kv.second), "; expected per-sample numbers (or one number when there are none)");
    // A single number is a batch-level value: no per-sample values, so ranking falls back to output distance.
    if (a.ndim() == 0) {
      batch_level_.insert(key);
      continue;
    }
    py::array flat = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(a.attr("ravel")());
    const double* p = static_cast<const double*>(flat.data());
    values.assign(p, p + flat.size());
  }
  return out;
}

std::map<std::string, double> PyMetric::avg_value() const {
  py::gil_scoped_acquire gil;
  py::object v = property("avg_value");
  QUAC_CHECK(py::isinstance<py::dict>(v), kMetricError, name_, ".avg_value returned ", type_name(v),
             "; expected a dict {metric name: number}");
  std::map<std::string, double> out;
  for (auto kv : py::reinterpret_borrow<py::dict>(v)) {
    std::string key = py::str(kv.first).cast<std::string>();
    out[key] = metric_number(kv.second, name_ + ".avg_value['" + key + "']");
  }
  return out;
}

void PyMetric::reset() {
  py::gil_scoped_acquire gil;
  batch_values_.clear();
  call("reset");
}

std::map<std::string, MetricAttributes> PyMetric::attributes() const {
  py::gil_scoped_acquire gil;
  py::object attrs = call("get_attributes");
  QUAC_CHECK(py::isinstance<py::dict>(attrs), kMetricError, name_, ".get_attributes returned ", type_name(attrs),
             "; expected {metric name: {'direction': 'higher-better' or 'higher-worse', 'type': ...}}");
  bool higher_better = true;
  if (py::hasattr(metric_, "higher_better")) higher_better = py::bool_(property("higher_better"));
  std::map<std::string, MetricAttributes> out;
  for (auto kv : py::reinterpret_borrow<py::dict>(attrs)) {
    std::string key = py::str(kv.first).cast<std::string>();
    std::string what = name_ + ".get_attributes()['" + key + "']";
    QUAC_CHECK(py::isinstance<py::dict>(kv.second), kMetricError, what, " is ", type_name(kv.second),
               "; expected a dict with 'direction' and 'type'");
    py::dict d = py::reinterpret_borrow<py::dict>(kv.second);
    MetricAttributes a;
    a.direction = higher_better ? "higher-better" : "higher-worse";
    if (d.contains("direction")) a.direction = py::str(d["direction"]).cast<std::string>();
    if (d.contains("type")) a.type = py::str(d["type"]).cast<std::string>();
    // quac's extension: 'per_sample': False for a metric whose value is no per-item share of the aggregate (the
    // ranking then uses output distance); without it, a metric seen returning one number per batch has none.
    a.per_sample = d.contains("per_sample") ? py::bool_(d["per_sample"]).cast<bool>() : !batch_level_.count(key);
    QUAC_CHECK(a.direction == "higher-better" || a.direction == "higher-worse", kMetricError, what,
               "['direction'] is '", a.direction, "'; expected 'higher-better' or 'higher-worse'");
    out[key] = a;
  }
  return out;
}

}  // namespace quac::python
