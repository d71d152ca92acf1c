"""The POT workflow through quac.pot on a Fashion-MNIST fixture: dict layouts, results as dicts, saved files."""
import os
import subprocess
import sys

import numpy as np
import pytest

import quac
from quac.pot import Dict, IEEngine, compress_model_weights, create_pipeline, load_model, save_model

from fmnist import EXAMPLE, FIXTURES, Accuracy, FashionMnist, has_accuracy_aware, top1

CNN = os.path.join(FIXTURES, "cnn.onnx")
MOBILENET = os.path.join(FIXTURES, "mobilenet.onnx")
# One thread: tests share a busy machine, where OpenMP threads waiting on each other cost more than they give.
QUIET = {"device": "CPU", "progress": False, "num_threads": 1}

needs_aaq = pytest.mark.skipif(not has_accuracy_aware(),
                               reason="waits for AccuracyAwareQuantization (issue 4) in the algorithm registry")


def test_default_quantization_workflow(tmp_path):
    model = load_model(model_config=Dict({"model_name": "cnn", "model": CNN}))
    assert model.name == "cnn"
    assert model.inputs == [{"name": "input", "dtype": "float32", "shape": ["N", 1, 28, 28]}]
    engine = IEEngine(config=Dict(QUIET), data_loader=FashionMnist(300), metric=Accuracy())
    algorithms = [{"name": "DefaultQuantization",
                   "params": {"target_device": "ANY", "stat_subset_size": 100, "preset": "performance"}}]
    pipeline = create_pipeline(algorithms, engine)
    compressed = pipeline.run(model=model)
    assert compressed.quantized and not model.quantized
    compress_model_weights(compressed)
    assert compressed.compress_weights
    paths = save_model(model=compressed, save_path=str(tmp_path / "out"), model_name="cnn_int8")
    assert paths == [{"name": "cnn_int8", "model": str(tmp_path / "out" / "cnn_int8.onnx"),
                      "weights": str(tmp_path / "out" / "cnn_int8.onnx")}]
    assert os.path.getsize(paths[0]["model"]) < os.path.getsize(CNN) / 2  # INT8 weights

    fp32 = pipeline.evaluate(model)
    int8 = pipeline.evaluate(compressed)
    assert type(fp32) is dict and set(fp32) == {"accuracy@top1"} and isinstance(fp32["accuracy@top1"], float)
    assert fp32["accuracy@top1"] > 0.85 and int8["accuracy@top1"] > 0.85
    # The saved file, evaluated independently, gives the accuracy the pipeline reported.
    assert top1(paths[0]["model"], 300) == pytest.approx(int8["accuracy@top1"], abs=1e-9)
    # Loaded back, the QDQ file is a quantized model again (FP32 graph + scope), with compressed weights.
    loaded = load_model({"model_name": "cnn_int8", "model": paths[0]["model"]})
    assert loaded.quantized and loaded.compress_weights
    assert loaded.op_counts == compressed.op_counts
    assert pipeline.evaluate(loaded) == int8


def test_engine_results_are_dicts():
    loader = FashionMnist(70)
    engine = IEEngine(config=QUIET, data_loader=loader, metric=Accuracy())
    model = load_model({"model_name": "cnn", "model": CNN})
    r = engine.evaluate(model)
    assert set(r) == {"metrics", "attributes", "per_sample", "indices", "items", "seconds"}
    assert r["attributes"] == {"accuracy@top1": {"direction": "higher-better", "type": "accuracy", "per_sample": True}}
    assert r["items"] == 70 and r["indices"] == list(range(70))
    assert len(r["per_sample"]["accuracy@top1"]) == 70
    assert np.mean(r["per_sample"]["accuracy@top1"]) == pytest.approx(r["metrics"]["accuracy@top1"])
    subset = engine.evaluate(model, indices=[5, 3, 60])
    assert subset["indices"] == [5, 3, 60] and subset["items"] == 3
    assert engine.metric_attributes() == {"accuracy@top1": {"direction": "higher-better", "type": "accuracy",
                                                            "per_sample": True}}
    engine.set_model(model)
    metrics, stats = engine.predict()
    assert stats is None and metrics == r["metrics"]
    (per_sample, metrics), _ = engine.predict(sampler=[2, 1], metric_per_sample=True)
    assert [p["sample_id"] for p in per_sample] == [1, 2]
    assert per_sample[0]["metric_name"] == "accuracy@top1"


def test_builtin_metric_by_name_reads_python_annotations():
    engine = IEEngine(config=QUIET, data_loader=FashionMnist(64), metric="top1")
    python = IEEngine(config=QUIET, data_loader=FashionMnist(64), metric=Accuracy())
    model = load_model({"model": CNN})
    assert engine.evaluate(model)["metrics"]["top1"] == pytest.approx(
        python.evaluate(model)["metrics"]["accuracy@top1"])


def test_every_algorithm_parameter_reaches_cpp():
    engine = IEEngine(config=QUIET, data_loader=FashionMnist(40), metric=Accuracy())
    model = load_model({"model": CNN})
    with pytest.raises(quac.Error, match=r"algorithms\[0\]\.params.*no_such_key"):
        create_pipeline([{"name": "MinMaxQuantization", "params": {"no_such_key": 1}}], engine)
    with pytest.raises(quac.Error, match=r"algorithms\[0\]\.params\.activations.*mode"):
        create_pipeline([{"name": "MinMaxQuantization", "params": {"activations": {"mode": "sideways"}}}], engine)
    with pytest.raises(quac.Error, match="unknown algorithm 'NoSuchQuantization'"):
        create_pipeline([{"name": "NoSuchQuantization"}], engine)
    # Nested parameters, NumPy values and an ignored scope all arrive: ignoring every Conv leaves only the Gemms.
    params = {"stat_subset_size": np.int64(20), "ignored": {"operations": [{"type": "Conv"}]},
              "activations": {"range_estimator": {"max": {"type": "quantile", "outlier_prob": np.float32(1e-3)}}}}
    all_layers = create_pipeline([{"name": "MinMaxQuantization", "params": {"stat_subset_size": 20}}],
                                 engine).run(model)
    some_layers = create_pipeline([{"name": "MinMaxQuantization", "params": params}], engine).run(model)
    assert some_layers.quantized
    save_dir = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"quac-params-{os.getpid()}")
    a = save_model(all_layers, save_dir, "all")[0]["model"]
    b = save_model(some_layers, save_dir, "some")[0]["model"]
    dq_all = quac.load_model(a).op_counts.get("DequantizeLinear", 0)
    dq_some = quac.load_model(b).op_counts.get("DequantizeLinear", 0)
    assert 0 < dq_some < dq_all


def test_pot_config_errors():
    loader = FashionMnist(10)
    with pytest.raises(quac.Error, match="device 'GPU'"):
        IEEngine(config={"device": "GPU"}, data_loader=loader, metric=Accuracy())
    with pytest.raises(quac.Error, match="engine config: unknown key 'devcie'"):
        IEEngine(config={"devcie": "CPU"}, data_loader=loader, metric=Accuracy())
    with pytest.raises(quac.Error, match="'model'.*required"):
        load_model({"model_name": "x"})
    with pytest.raises(quac.Error, match="OpenVINO IR"):
        load_model({"model": "model.xml", "weights": "model.bin"})
    with pytest.raises(quac.Error, match="no_such.onnx"):
        load_model({"model": "no_such.onnx"})
    engine = IEEngine(config=QUIET, data_loader=loader, metric=None)
    with pytest.raises(quac.Error, match="needs a metric"):
        engine.evaluate(load_model({"model": CNN}))


@needs_aaq
def test_pot_guide_example_runs_as_written(tmp_path):
    """examples/python/pot_accuracy_aware.py, exactly as written, in a fresh process (CI runs it this way)."""
    env = dict(os.environ)
    result = subprocess.run([sys.executable, EXAMPLE], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    saved = tmp_path / "optimized_model" / "optimized_model.onnx"
    assert saved.is_file()
    # The written model, measured independently on the example's 2000 images, is within maximal_drop 0.02.
    fp32, quantized = top1(MOBILENET, 2000), top1(str(saved), 2000)
    assert fp32 - quantized <= 0.02 + 1e-9, (fp32, quantized)
    assert "accuracy@top1: FP32" in result.stdout


@needs_aaq
def test_accuracy_aware_with_pot_metric(tmp_path):
    """The guide's workflow on a small subset, in process: the result is within budget on the data it searched."""
    loader = FashionMnist(400)
    engine = IEEngine(config=QUIET, data_loader=loader, metric=Accuracy())
    model = load_model({"model_name": "mobilenet", "model": MOBILENET})
    pipeline = create_pipeline([{"name": "AccuracyAwareQuantization",
                                 "params": {"target_device": "ANY", "stat_subset_size": 100,
                                            "maximal_drop": 0.01}}], engine)
    result = pipeline.run(model=model)
    assert result.quantized and result.name == "mobilenet"
    assert pipeline.budget_met is True and isinstance(pipeline.summary, str)
    assert isinstance(pipeline.report, dict) and pipeline.report["algorithm"] == "AccuracyAwareQuantization"
    assert pipeline.report["ranking"]["method"] == "metric"  # the guide's metric has per-sample values
    fp32, int8 = pipeline.evaluate(model), pipeline.evaluate(result)
    assert fp32["accuracy@top1"] - int8["accuracy@top1"] <= 0.01 + 1e-9
    path = save_model(result, str(tmp_path), "aaq")[0]["model"]
    assert top1(path, 400) == pytest.approx(int8["accuracy@top1"], abs=1e-9)


class GuideAccuracy(Accuracy):
    """avg_value exactly as POT's guide writes it: np.ravel over the list of per-batch lists (ragged lists fail)."""

    @property
    def avg_value(self):
        return {self._name: np.ravel(self._matches).mean()}


def test_guide_metric_runs_with_pot_calling_convention():
    # 37 items in batches of 32: handed whole batches, the guide's metric would see a ragged list and fail; quac.pot
    # calls update per item, as POT does.
    engine = IEEngine(config={"device": "CPU", "progress": False, "num_threads": 1}, data_loader=FashionMnist(37),
                      metric=GuideAccuracy())
    r = engine.evaluate(load_model({"model": CNN}))
    assert r["items"] == 37 and len(r["per_sample"]["accuracy@top1"]) == 37
