// The _quac extension module: quac's C++ API for Python. quac/pot.py builds POT's API on top of it.
// Long C++ calls (loading, running, quantizing, evaluating) release the GIL; the Python DataLoader and Metric
// adapters take it back for each call into Python.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <nlohmann/json.hpp>

#include "adapters.h"
#include "convert.h"
#include "quac/evaluator.h"
#include "quac/pipeline.h"
#include "quac/session.h"

// AccuracyAwareQuantization's direct entry point (with its report) is bound when CMake finds its header (issue 4).
// CMake decides rather than __has_include: a compiler cache in direct mode does not see a header appear.
#ifdef QUAC_PYTHON_HAS_ACCURACY_AWARE
#include "quac/accuracy_aware.h"
#endif

namespace py = pybind11;

namespace quac::python {
namespace {

py::object desc_shape(const ValueDesc& d) {
  if (!d.has_shape) return py::none();
  py::list shape;
  for (size_t i = 0; i < d.shape.size(); ++i) {
    if (d.shape[i] >= 0)
      shape.append(d.shape[i]);
    else if (i < d.dim_names.size() && !d.dim_names[i].empty())
      shape.append(d.dim_names[i]);
    else
      shape.append(py::none());
  }
  return shape;
}

py::list describe_values(const std::vector<ValueDesc>& values) {
  py::list out;
  for (const auto& d : values) {
    py::dict v;
    v["name"] = d.name;
    v["dtype"] = dtype_name(d.dtype);
    v["shape"] = desc_shape(d);
    out.append(v);
  }
  return out;
}

// An Engine built from Python objects: the adapters stay reachable so each run can tell the data loader which
// model it feeds.
struct PyEngine {
  std::shared_ptr<PyDataset> dataset;
  std::shared_ptr<Metric> metric;
  py::object metric_object;  // the Python metric, or None for a built-in one
  std::shared_ptr<Engine> engine;

  void prepare(const Model& model) const { dataset->set_model_inputs(model.inputs()); }
};

struct PyPipeline {
  std::unique_ptr<Pipeline> pipeline;
  std::shared_ptr<PyEngine> engine;
};

py::dict attributes_dict(const std::map<std::string, MetricAttributes>& attributes) {
  py::dict out;
  for (const auto& [name, a] : attributes) {
    py::dict d;
    d["direction"] = a.direction;
    d["type"] = a.type;
    d["per_sample"] = a.per_sample;
    out[py::str(name)] = d;
  }
  return out;
}

py::dict evaluation_dict(const EvaluationResult& r) {
  py::dict out;
  out["metrics"] = r.metrics;
  out["attributes"] = attributes_dict(r.attributes);
  out["per_sample"] = r.per_sample;
  out["indices"] = r.indices;
  out["items"] = r.items;
  out["seconds"] = r.seconds;
  return out;
}

std::shared_ptr<PyEngine> make_engine(py::object data_loader, py::object metric, size_t batch_size, int num_threads,
                                      bool progress, bool metric_per_item) {
  auto e = std::make_shared<PyEngine>();
  e->dataset = std::make_shared<PyDataset>(std::move(data_loader));
  e->metric_object = metric;
  if (py::isinstance<py::str>(metric)) {
    e->metric = create_metric(metric.cast<std::string>());
  } else if (!metric.is_none()) {
    e->metric = std::make_shared<PyMetric>(metric, metric_per_item);
  }
  QUAC_CHECK(batch_size > 0, kInvalidArgument, "engine batch_size must be positive");
  EngineOptions options;
  options.batch_size = batch_size;
  options.num_threads = num_threads;
  options.progress = progress;
  e->engine = std::make_shared<Engine>(e->dataset, e->metric, options);
  return e;
}

std::vector<Tensor> tensors_from_list(const py::sequence& values) {
  std::vector<Tensor> out;
  for (size_t i = 0; i < values.size(); ++i)
    out.push_back(tensor_from_array(as_array(values[i], "input " + std::to_string(i)), "input " + std::to_string(i)));
  return out;
}

}  // namespace
}  // namespace quac::python

PYBIND11_MODULE(_quac, m) {
  using namespace quac;
  using namespace quac::python;
  m.doc() = "quac: post-training INT8 quantization with accuracy control (C++ core)";

  static py::exception<Error> error_type(m, "Error", PyExc_RuntimeError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      py::object instance = py::handle(error_type.ptr())(py::str(e.what()));
      instance.attr("code") = error_code_name(e.code());
      py::object cause = take_python_error(e.what());
      if (!cause.is_none()) PyException_SetCause(instance.ptr(), cause.release().ptr());
      PyErr_SetObject(error_type.ptr(), instance.ptr());
    }
  });

  py::class_<Model>(m, "Model", py::dynamic_attr(), "An ONNX model loaded into quac (FP32, or FP32 + quantizers)")
      .def_property_readonly("inputs", [](const Model& model) { return describe_values(model.inputs()); })
      .def_property_readonly("outputs", [](const Model& model) { return describe_values(model.outputs()); })
      .def_property_readonly("quantized", &Model::quantized)
      .def_property_readonly("compress_weights", &Model::compress_weights)
      .def_property_readonly("path", &Model::path)
      .def_property_readonly("opset", &Model::opset)
      .def_property_readonly("op_counts", &Model::op_counts)
      .def("__repr__", [](const Model& model) {
        return "<quac.Model '" + model.path() + "'" + (model.quantized() ? " quantized" : "") + ">";
      });

  m.def(
      "load_model",
      [](const std::string& path) {
        py::gil_scoped_release nogil;
        return load_model(path);
      },
      py::arg("path"), "Loads an ONNX file.");
  m.def(
      "save_model",
      [](const Model& model, const std::string& path) {
        py::gil_scoped_release nogil;
        save_model(model, path);
      },
      py::arg("model"), py::arg("path"), "Writes an ONNX file atomically (a quantized model as QDQ ONNX).");
  m.def(
      "compress_model_weights", [](Model& model) { compress_model_weights(model); }, py::arg("model"),
      "Marks the model so that saving stores its quantized weights as INT8 (in place).");
  m.def("algorithm_names", &algorithm_names, "Names accepted by create_pipeline.");

  py::class_<Session>(m, "Session", "A model compiled for execution")
      .def(py::init([](const Model& model, int num_threads, bool reference_kernels_only) {
             SessionOptions options;
             options.num_threads = num_threads;
             options.reference_kernels_only = reference_kernels_only;
             py::gil_scoped_release nogil;
             return std::make_unique<Session>(model, options);
           }),
           py::arg("model"), py::arg("num_threads") = 0, py::arg("reference_kernels_only") = false)
      .def_property_readonly("inputs", [](const Session& s) { return describe_values(s.inputs()); })
      .def_property_readonly("outputs", [](const Session& s) { return describe_values(s.outputs()); })
      .def(
          "run",
          [](Session& s, const py::object& inputs) -> py::object {
            if (py::isinstance<py::dict>(inputs)) {
              std::map<std::string, Tensor> feeds;
              for (auto kv : py::reinterpret_borrow<py::dict>(inputs)) {
                std::string name = py::str(kv.first).cast<std::string>();
                std::string what = "input '" + name + "'";
                feeds[name] = tensor_from_array(as_array(kv.second, what), what);
              }
              std::map<std::string, Tensor> outputs;
              {
                py::gil_scoped_release nogil;
                outputs = s.run(feeds);
              }
              py::dict out;
              for (const auto& [name, t] : outputs) out[py::str(name)] = array_from_tensor(t, true);
              return out;
            }
            QUAC_CHECK(py::isinstance<py::sequence>(inputs) && !py::isinstance<py::str>(inputs), kInvalidArgument,
                       "Session.run takes a dict {input name: array} or a list of arrays, not ", type_name(inputs));
            std::vector<Tensor> feeds = tensors_from_list(py::reinterpret_borrow<py::sequence>(inputs));
            std::vector<Tensor> outputs;
            {
              py::gil_scoped_release nogil;
              outputs = s.run(feeds);
            }
            py::list out;
            for (const auto& t : outputs) out.append(array_from_tensor(t, true));
            return out;
          },
          py::arg("inputs"),
          "Runs on a dict {input name: array} (returns a dict) or a list of arrays in input order (returns a list).");

  py::class_<PyEngine, std::shared_ptr<PyEngine>>(m, "Engine",
                                                  "Runs models over a Python DataLoader and evaluates a Metric")
      .def(py::init(&make_engine), py::arg("data_loader"), py::arg("metric") = py::none(), py::arg("batch_size") = 32,
           py::arg("num_threads") = 0, py::arg("progress") = true, py::arg("metric_per_item") = false)
      .def_property_readonly("data_loader", [](const PyEngine& e) { return e.dataset->loader(); })
      .def_property_readonly("metric", [](const PyEngine& e) { return e.metric_object; })
      .def(
          "metric_attributes",
          [](const PyEngine& e) {
            QUAC_CHECK(e.metric != nullptr, kInvalidArgument, "the engine has no metric");
            return attributes_dict(e.metric->attributes());
          },
          "The metric's attributes as quac's algorithms read them: {name: {direction, type, per_sample}}.")
      .def(
          "evaluate",
          [](const PyEngine& e, const Model& model, std::vector<size_t> indices, size_t batch_size) {
            e.prepare(model);
            EvaluationOptions options;
            options.indices = std::move(indices);
            if (batch_size) options.batch_size = batch_size;
            options.progress_label = "evaluate";
            EvaluationResult r;
            {
              py::gil_scoped_release nogil;
              r = e.engine->evaluate(model, options);
            }
            return evaluation_dict(r);
          },
          py::arg("model"), py::arg("indices") = std::vector<size_t>{}, py::arg("batch_size") = 0,
          "Evaluates the metric on all items (or `indices`); returns {metrics, attributes, per_sample, indices, items, "
          "seconds}.");

  py::class_<PyPipeline>(m, "Pipeline", "A sequence of quantization algorithms over an engine")
      .def(
          "run",
          [](PyPipeline& p, const Model& model) {
            p.engine->prepare(model);
            py::gil_scoped_release nogil;
            return p.pipeline->run(model);
          },
          py::arg("model"))
      .def(
          "evaluate",
          [](PyPipeline& p, const Model& model) {
            p.engine->prepare(model);
            py::gil_scoped_release nogil;
            return p.pipeline->evaluate(model);
          },
          py::arg("model"));

  m.def(
      "create_pipeline",
      [](const std::vector<std::pair<std::string, std::string>>& algorithms, std::shared_ptr<PyEngine> engine) {
        QUAC_CHECK(engine != nullptr, kInvalidArgument, "create_pipeline: an engine is required");
        std::vector<AlgorithmSpec> specs;
        for (const auto& [name, params] : algorithms) {
          AlgorithmSpec spec;
          spec.name = name;
          spec.params = nlohmann::json::parse(params);
          specs.push_back(std::move(spec));
        }
        PyPipeline p;
        p.pipeline = create_pipeline(specs, engine->engine);
        p.engine = std::move(engine);
        return p;
      },
      py::arg("algorithms"), py::arg("engine"),
      "algorithms: [(name, params as a JSON string)]; quac.pot.create_pipeline takes POT's list of dicts.");

#ifdef QUAC_PYTHON_HAS_ACCURACY_AWARE
  m.def(
      "accuracy_aware_quantization",
      [](const Model& model, std::shared_ptr<PyEngine> engine, const std::string& params, const std::string& path,
         const std::string& intermediate_dir) {
        QUAC_CHECK(engine != nullptr, kInvalidArgument, "accuracy_aware_quantization: an engine is required");
        engine->prepare(model);
        AccuracyAwareOptions options;
        options.intermediate_dir = intermediate_dir;
        if (engine->engine->options().progress)
          options.log = [](const std::string& line) { std::fprintf(stderr, "[quac] %s\n", line.c_str()); };
        nlohmann::json json = nlohmann::json::parse(params);
        AccuracyAwareResult r;
        {
          py::gil_scoped_release nogil;
          r = accuracy_aware_quantization(model, *engine->engine, json, options, path);
        }
        py::dict out;
        out["model"] = r.model;
        out["budget_met"] = r.budget_met;
        out["summary"] = r.summary;
        out["report"] = py::module_::import("json").attr("loads")(r.report.dump());
        return out;
      },
      py::arg("model"), py::arg("engine"), py::arg("params"), py::arg("params_path") = "params",
      py::arg("intermediate_dir") = "",
      "AccuracyAwareQuantization with its report: {model, budget_met, summary, report (a dict)}.");
#endif

  // For tests: a NumPy array through a quac Tensor and back (shares memory when the layout allows).
  m.def("_roundtrip",
        [](const py::array& array) { return array_from_tensor(tensor_from_array(array, "array"), true); });
}
