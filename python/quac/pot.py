"""OpenVINO POT's Python API on quac's engine.

A POT script runs with its imports changed to ``quac.pot`` and its model path pointing at an ONNX file::

    from quac.pot import IEEngine, load_model, save_model, compress_model_weights, create_pipeline
    from quac.pot import DataLoader, Metric, Dict

Argument names and dict layouts are POT's: ``load_model({"model_name", "model", "weights"})`` (``weights`` is
optional: an ONNX file holds its weights), ``IEEngine(config={"device": "CPU"}, data_loader, metric)``,
``create_pipeline([{"name": ..., "params": {...}}], engine)``, ``save_model(model, save_path, model_name)`` returning
``[{"name", "model", "weights"}]``. Every parameter of quac's algorithms is reachable through ``params`` (passed to
the C++ side as JSON; an unknown key is an error naming its path). Results come back as dicts.
"""
import json
import os
import sys

from . import _quac
from ._quac import Error, Model
from .api import DataLoader, Dict, Metric

__all__ = [
    "DataLoader", "Dict", "Error", "IEEngine", "Metric", "Model", "Pipeline", "compress_model_weights",
    "create_pipeline", "load_model", "save_model"
]

# POT's engine keys, and quac's own (batch_size, num_threads, progress, metric_per_item).
_ENGINE_KEYS = ("device", "type", "stat_requests_number", "eval_requests_number", "batch_size", "num_threads",
                "progress", "metric_per_item")
_MODEL_KEYS = ("model_name", "model", "weights")


def _error(message):
    error = Error(message)
    error.code = "InvalidArgument"
    return error


def _check_keys(config, known, what):
    unknown = [k for k in config if k not in known]
    if unknown:
        raise _error(f"{what}: unknown key '{unknown[0]}' (known: {', '.join(known)})")


class IEEngine:
    """POT's IEEngine: runs models on quac's CPU engine over ``data_loader`` and evaluates ``metric``.

    config: ``{"device": "CPU"}`` plus, optionally, quac's ``batch_size`` (items per inference, 32),
    ``num_threads`` (0 = all cores), ``progress`` (True: progress lines on stderr) and ``metric_per_item`` (True).
    With ``metric_per_item`` the metric's ``update`` is called once per item (batches of one), as POT's engine calls
    it: metrics written for POT, its guide's Accuracy among them, often assume equal-sized batches. Set it to False
    to hand the metric whole batches (fewer Python calls) when it handles a shorter last batch. ``metric`` may be None for calibration-only pipelines
    (DefaultQuantization), a ``quac.Metric``, or the name of a built-in C++ metric ("top1", "map", ...)."""

    def __init__(self, config, data_loader=None, metric=None):
        config = Dict(config or {})
        _check_keys(config, _ENGINE_KEYS, "engine config")
        device = str(config.get("device", "CPU"))
        if device.upper() not in ("CPU", "ANY"):
            raise _error(f"engine config: device '{device}' is not available; quac runs on the CPU")
        if config.get("type", "simplified") not in ("simplified", None):
            raise _error(f"engine config: type '{config['type']}' is not supported; quac's engine is 'simplified' "
                         "(a DataLoader and a Metric of your own)")
        if data_loader is None:
            raise _error("IEEngine: a data_loader is required")
        self.config = config
        self._engine = _quac.Engine(data_loader, metric, batch_size=int(config.get("batch_size", 32)),
                                    num_threads=int(config.get("num_threads", 0)),
                                    progress=bool(config.get("progress", True)),
                                    metric_per_item=bool(config.get("metric_per_item", True)))
        self._model = None

    @property
    def data_loader(self):
        return self._engine.data_loader

    @property
    def metric(self):
        return self._engine.metric

    def set_model(self, model):
        """The model predict() runs (as in POT)."""
        self._model = model

    def evaluate(self, model, indices=None):
        """quac's evaluation: ``{"metrics": {name: value}, "attributes": {name: {"direction", "type",
        "per_sample"}}, "per_sample": {name: [values]}, "indices": [...], "items": n, "seconds": s}`` over all items
        or ``indices``."""
        return self._engine.evaluate(model, list(indices or []))

    def metric_attributes(self):
        """The metric's attributes as quac's algorithms read them: ``{name: {"direction", "type", "per_sample"}}``."""
        return self._engine.metric_attributes()

    def predict(self, stats_layout=None, sampler=None, stat_aliases=None, metric_per_sample=False,
                print_progress=False):
        """POT's predict for the model given to set_model(): returns ``(metrics, None)``, where metrics is
        ``{name: value}``, or with metric_per_sample ``([{"sample_id", "metric_name", "result"}], {name: value})``.
        Statistics collection (stats_layout) happens inside quac's algorithms instead."""
        if stats_layout:
            raise _error("IEEngine.predict: stats_layout is not supported; quac collects statistics inside its "
                         "algorithms")
        if self._model is None:
            raise _error("IEEngine.predict: call set_model(model) first")
        result = self.evaluate(self._model, list(sampler) if sampler is not None else None)
        metrics = result["metrics"]
        if metric_per_sample:
            per_sample = [{"sample_id": index, "metric_name": name, "result": value}
                          for name, values in result["per_sample"].items()
                          for index, value in zip(result["indices"], values)]
            per_sample.sort(key=lambda r: r["sample_id"])
            return (per_sample, metrics), None
        return metrics, None


def load_model(model_config, target_device="ANY"):
    """POT's load_model: ``model_config = {"model_name": ..., "model": "path/to/model.onnx", "weights": optional}``.

    An ONNX file holds its weights (or names its external data files), so ``weights`` may be left out or None; when
    given it must be an existing file."""
    config = Dict(model_config or {})
    _check_keys(config, _MODEL_KEYS, "model_config")
    path = config.get("model")
    if not path:
        raise _error("model_config: 'model' (the path of the .onnx file) is required")
    path = os.fspath(path)
    if path.endswith(".xml"):
        raise _error(f"model_config.model '{path}': quac reads ONNX models, not OpenVINO IR (.xml/.bin)")
    weights = config.get("weights")
    if weights is not None and not os.path.isfile(os.fspath(weights)):
        raise _error(f"model_config.weights '{weights}': no such file (an ONNX model needs no 'weights')")
    model = _quac.load_model(path)
    model.name = str(config.get("model_name") or os.path.splitext(os.path.basename(path))[0])
    return model


def save_model(model, save_path, model_name=None, for_stat_collection=False):
    """POT's save_model: writes ``save_path/model_name.onnx`` (a quantized model as QDQ ONNX) and returns
    ``[{"name": model_name, "model": path, "weights": path}]`` (the weights are inside the .onnx file)."""
    name = model_name or getattr(model, "name", None) or "model"
    os.makedirs(save_path, exist_ok=True)
    path = os.path.join(os.fspath(save_path), f"{name}.onnx")
    _quac.save_model(model, path)
    return [{"name": name, "model": path, "weights": path}]


def compress_model_weights(model):
    """POT's compress_model_weights: the saved model stores its quantized weights as INT8 (in place)."""
    _quac.compress_model_weights(model)


def _json_default(value):
    # NumPy scalars and arrays, paths: what POT configs commonly hold besides plain JSON.
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"a value of type {type(value).__name__} has no JSON form")


class Pipeline:
    """POT's Pipeline: ``run(model)`` applies the algorithms in order; ``evaluate(model)`` returns
    ``{metric name: value}`` on the engine's whole dataset. After an AccuracyAwareQuantization run, ``report`` holds
    its report (a dict: every evaluation, the rankings, the final comparison), ``summary`` its one-line outcome and
    ``budget_met`` whether every metric is within ``maximal_drop``."""

    def __init__(self, pipeline, engine, specs):
        self._pipeline = pipeline
        self._specs = specs
        self.engine = engine
        self.report = None
        self.summary = None
        self.budget_met = None

    def run(self, model):
        direct = getattr(_quac, "accuracy_aware_quantization", None)
        if direct and len(self._specs) == 1 and self._specs[0][0] == "AccuracyAwareQuantization":
            # The same algorithm as the pipeline's, called directly so that its report comes back.
            r = direct(model, self.engine._engine, self._specs[0][1], params_path="algorithms[0].params")
            print(f"[quac] AccuracyAwareQuantization: {r['summary']}", file=sys.stderr)
            self.report, self.summary, self.budget_met = r["report"], r["summary"], r["budget_met"]
            result = r["model"]
        else:
            result = self._pipeline.run(model)
        result.name = getattr(model, "name", "model")
        return result

    def evaluate(self, model):
        return dict(self._pipeline.evaluate(model))


def create_pipeline(algo_config, engine):
    """POT's create_pipeline: ``algo_config = [{"name": "DefaultQuantization", "params": {...}}, ...]``."""
    if isinstance(algo_config, dict):
        algo_config = [algo_config]
    if not isinstance(engine, IEEngine):
        raise _error(f"create_pipeline: engine is {type(engine).__name__}; expected a quac.pot.IEEngine")
    specs = []
    for i, algorithm in enumerate(algo_config):
        if not isinstance(algorithm, dict):
            raise _error(f"algorithms[{i}] is {type(algorithm).__name__}; expected {{'name': ..., 'params': {{...}}}}")
        _check_keys(algorithm, ("name", "params"), f"algorithms[{i}]")
        if "name" not in algorithm:
            raise _error(f"algorithms[{i}]: 'name' is required")
        params = algorithm.get("params") or {}
        if not isinstance(params, dict):
            raise _error(f"algorithms[{i}].params is {type(params).__name__}; expected a dict")
        try:
            text = json.dumps(params, default=_json_default)
        except (TypeError, ValueError) as e:
            raise _error(f"algorithms[{i}].params: {e}") from None
        specs.append((str(algorithm["name"]), text))
    return Pipeline(_quac.create_pipeline(specs, engine._engine), engine, specs)
