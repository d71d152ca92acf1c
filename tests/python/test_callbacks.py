"""Python DataLoader and Metric classes driven by quac's C++ engine: raising callbacks, wrong return types,
annotations passed through untouched, zero-copy arrays, metrics without per-sample values."""
import os
import sys
import threading

import numpy as np
import pytest

import quac
from quac.pot import IEEngine, create_pipeline, load_model

from fmnist import FIXTURES, Accuracy, FashionMnist, has_accuracy_aware

CNN = os.path.join(FIXTURES, "cnn.onnx")
MOBILENET = os.path.join(FIXTURES, "mobilenet.onnx")
# One thread: tests share a busy machine, where OpenMP threads waiting on each other cost more than they give.
QUIET = {"device": "CPU", "progress": False, "num_threads": 1}


@pytest.fixture(scope="module")
def cnn():
    return load_model({"model_name": "cnn", "model": CNN})


def evaluate(model, loader, metric, **kw):
    return IEEngine(config=QUIET, data_loader=loader, metric=metric).evaluate(model, **kw)


# ---- callbacks that raise: one clear quac.Error naming the class and the method ----

class RaisingLoader(FashionMnist):
    def __init__(self, method):
        super().__init__(20)
        self.method = method

    def __len__(self):
        if self.method == "__len__":
            raise ValueError("no length today")
        return super().__len__()

    def __getitem__(self, index):
        if self.method == "__getitem__" and index == 7:
            raise KeyError("item 7 is gone")
        return super().__getitem__(index)


class RaisingMetric(Accuracy):
    def __init__(self, method):
        super().__init__()
        self.method = method

    def check(self, method):
        if self.method == method:
            raise ValueError(f"{method} failed on purpose")

    @property
    def value(self):
        self.check("value")
        return super().value

    @property
    def avg_value(self):
        self.check("avg_value")
        return super().avg_value

    def update(self, output, target):
        self.check("update")
        super().update(output, target)

    def reset(self):
        self.check("reset")
        super().reset()

    def get_attributes(self):
        self.check("get_attributes")
        return super().get_attributes()


@pytest.mark.parametrize("method,message", [
    ("__len__", r"^RaisingLoader\.__len__ raised ValueError: no length today \(test_callbacks\.py:\d+\)$"),
    ("__getitem__", r"^RaisingLoader\.__getitem__\(7\) raised KeyError: 'item 7 is gone' \(test_callbacks\.py:\d+\)$"),
])
def test_loader_exception_becomes_quac_error(cnn, method, message):
    with pytest.raises(quac.Error, match=message) as info:
        evaluate(cnn, RaisingLoader(method), Accuracy())
    assert info.value.code == "DatasetError"


@pytest.mark.parametrize("method", ["update", "value", "avg_value", "reset"])
def test_metric_exception_becomes_quac_error(cnn, method):
    with pytest.raises(quac.Error, match=rf"RaisingMetric\.{method} raised ValueError: {method} failed on purpose "
                                         r"\(test_callbacks\.py:\d+\)") as info:
        evaluate(cnn, FashionMnist(20), RaisingMetric(method))
    assert info.value.code == "MetricError"
    # The user's exception, with its traceback, is the cause.
    cause = info.value.__cause__
    assert isinstance(cause, ValueError) and str(cause) == f"{method} failed on purpose"
    assert cause.__traceback__ is not None


def test_get_attributes_exception_becomes_quac_error():
    engine = IEEngine(config=QUIET, data_loader=FashionMnist(5), metric=RaisingMetric("get_attributes"))
    with pytest.raises(quac.Error, match=r"RaisingMetric\.get_attributes raised ValueError: get_attributes failed"):
        engine.metric_attributes()


def test_exception_during_quantization_becomes_quac_error(cnn):
    engine = IEEngine(config=QUIET, data_loader=RaisingLoader("__getitem__"), metric=None)
    pipeline = create_pipeline([{"name": "DefaultQuantization", "params": {"stat_subset_size": 20}}], engine)
    with pytest.raises(quac.Error, match=r"RaisingLoader\.__getitem__\(7\) raised KeyError"):
        pipeline.run(cnn)


def test_engine_recovers_after_an_error(cnn):
    loader = RaisingLoader("__getitem__")
    engine = IEEngine(config=QUIET, data_loader=loader, metric=Accuracy())
    with pytest.raises(quac.Error):
        engine.evaluate(cnn)
    loader.method = None
    assert engine.evaluate(cnn)["items"] == 20


# ---- wrong return types ----

class Returning(quac.DataLoader):
    def __init__(self, make, length=4):
        super().__init__()
        self.make = make
        self.length = length
        self.images, self.labels = FashionMnist(4).images, FashionMnist(4).labels

    def __len__(self):
        return self.length

    def __getitem__(self, index):
        return self.make(self.images[index], int(self.labels[index]))


@pytest.mark.parametrize("make,message", [
    (lambda x, y: 3, r"Returning\.__getitem__\(0\) returned int; expected a tuple \(data, annotation\)"),
    (lambda x, y: (x,), r"Returning\.__getitem__\(0\) returned tuple of 1; expected a tuple"),
    (lambda x, y: (x, y, {}, 4), r"returned tuple of 4; expected a tuple"),
    (lambda x, y: None, r"returned NoneType; expected"),
    (lambda x, y: ("pixels", y), r"Returning\.__getitem__\(0\) data is str; expected a numeric NumPy array"),
    (lambda x, y: (None, y), r"data is NoneType; expected a numeric NumPy array"),
    (lambda x, y: (np.array([object()] * 784).reshape(1, 28, 28), y), r"data is ndarray of NumPy dtype object"),
    (lambda x, y: (x[:, :20], y), r"data has shape \[1,20,28\] but model input 'input' is \[N,1,28,28\]"),
    (lambda x, y: (x[0], y), r"data has shape \[28,28\] but model input 'input' is \[N,1,28,28\]"),
    (lambda x, y: ({"wrong_name": x}, y), r"data has no entry for model input 'input'"),
    (lambda x, y: (x, y, "meta"), r"returned metadata of type str; expected a dict"),
])
def test_wrong_getitem_return_is_a_clear_error(cnn, make, message):
    with pytest.raises(quac.Error, match=message) as info:
        evaluate(cnn, Returning(make), Accuracy())
    assert info.value.code == "DatasetError"


def test_wrong_len_return_is_a_clear_error(cnn):
    loader = Returning(lambda x, y: (x, y), length="four")
    with pytest.raises(quac.Error, match=r"Returning\.__len__ returned str 'four'; expected a non-negative int"):
        evaluate(cnn, loader, Accuracy())


@pytest.mark.parametrize("make", [
    lambda x, y: (x, y),
    lambda x, y: [x, y],
    lambda x, y: (x[None], y),  # POT's leading batch dimension of 1
    lambda x, y: (x.astype(np.float64), y),  # converted to the model's float32
    lambda x, y: ({"input": x}, y, {"file": "img.png", "id": 3}),
    lambda x, y: (x.tolist(), y),  # nested lists
])
def test_accepted_item_forms(cnn, make):
    reference = evaluate(cnn, FashionMnist(4), Accuracy())
    assert evaluate(cnn, Returning(make), Accuracy())["per_sample"] == reference["per_sample"]


class WrongMetric(Accuracy):
    def __init__(self, what):
        super().__init__()
        self.what = what

    @property
    def value(self):
        return [1.0] if self.what == "value" else super().value

    @property
    def avg_value(self):
        if self.what == "avg_none":
            return {"acc": None}
        return {"acc": "high"} if self.what == "avg_value" else super().avg_value

    def get_attributes(self):
        if self.what == "get_attributes":
            return {"acc": {"direction": "up", "type": "accuracy"}}
        return super().get_attributes()


@pytest.mark.parametrize("what,message", [
    ("value", r"WrongMetric\.value returned list of 1; expected a dict"),
    ("avg_value", r"WrongMetric\.avg_value\['acc'\] is str; expected a number"),
    ("avg_none", r"WrongMetric\.avg_value\['acc'\] is NoneType; expected a number"),
])
def test_wrong_metric_return_is_a_clear_error(cnn, what, message):
    with pytest.raises(quac.Error, match=message):
        evaluate(cnn, FashionMnist(8), WrongMetric(what))


def test_wrong_metric_attributes_are_a_clear_error():
    engine = IEEngine(config=QUIET, data_loader=FashionMnist(2), metric=WrongMetric("get_attributes"))
    with pytest.raises(quac.Error, match=r"'direction'\] is 'up'; expected 'higher-better' or 'higher-worse'"):
        engine.metric_attributes()


def test_not_a_loader_or_metric():
    with pytest.raises(quac.Error, match="has no __len__"):
        IEEngine(config=QUIET, data_loader=object(), metric=Accuracy())
    with pytest.raises(quac.Error, match="has no update"):
        IEEngine(config=QUIET, data_loader=FashionMnist(2), metric=object())


# ---- POT's calling conventions, annotations, zero copy ----

class Recording(Accuracy):
    def __init__(self):
        super().__init__()
        self.outputs = []
        self.targets = []
        self.threads = set()

    def update(self, output, target):
        self.outputs.append(output)
        self.targets.append(target)
        self.threads.add(threading.get_ident())
        super().update(output, [t["label"] if isinstance(t, dict) else t for t in target])


class Annotated(FashionMnist):
    def __getitem__(self, index):
        x, y = super().__getitem__(index)
        return x, {"label": y, "index": index, "name": f"item{index}"}


@pytest.mark.parametrize("per_item", [True, False])
def test_update_gets_pot_arguments(cnn, per_item):
    metric = Recording()
    config = dict(QUIET, batch_size=8, metric_per_item=per_item)
    result = IEEngine(config=config, data_loader=Annotated(20), metric=metric).evaluate(cnn)
    # POT's engine hands the metric one item at a time (the default); whole batches on request.
    sizes = [1] * 20 if per_item else [8, 8, 4]
    assert [len(t) for t in metric.targets] == sizes
    for output, size in zip(metric.outputs, sizes):
        assert isinstance(output, list) and len(output) == 1
        assert isinstance(output[0], np.ndarray) and output[0].shape == (size, 10) and output[0].dtype == np.float32
    # Annotations arrive as the DataLoader made them (dicts here), in item order.
    flat = [t for batch in metric.targets for t in batch]
    assert flat == [{"label": int(FashionMnist(20).labels[i]), "index": i, "name": f"item{i}"} for i in range(20)]
    # Per-sample values are the same either way.
    assert result["per_sample"] == evaluate(cnn, FashionMnist(20), Accuracy())["per_sample"]
    assert len(result["per_sample"]["accuracy@top1"]) == 20
    assert metric.threads == {threading.get_ident()}


def test_output_arrays_are_read_only_views(cnn):
    metric = Recording()
    whole_batches = dict(QUIET, batch_size=4, metric_per_item=False)
    IEEngine(config=whole_batches, data_loader=FashionMnist(4), metric=metric).evaluate(cnn)
    out = metric.outputs[0][0]
    assert not out.flags.owndata and not out.flags.writeable
    with pytest.raises(ValueError):
        out[0, 0] = 1.0
    # Kept beyond the call, they stay valid (the engine does not recycle a buffer Python still holds).
    IEEngine(config=whole_batches, data_loader=FashionMnist(4), metric=Accuracy()).evaluate(cnn)
    assert np.all(np.isfinite(out)) and out.shape == (4, 10)
    np.testing.assert_allclose(out, quac.Session(cnn, num_threads=1).run([FashionMnist(4).images])[0], rtol=1e-5, atol=1e-5)


def test_contiguous_arrays_cross_without_copy():
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    b = quac._quac._roundtrip(a)
    assert np.shares_memory(a, b) and b.shape == a.shape and b.dtype == a.dtype
    for dtype in (np.float64, np.int8, np.uint8, np.int32, np.int64, np.bool_, np.float16):
        c = np.ones((3, 2), dtype=dtype)
        assert np.shares_memory(c, quac._quac._roundtrip(c)), dtype
    # Layouts the engine cannot read in place are copied, with the same values.
    strided = a[:, ::2, :]
    d = quac._quac._roundtrip(strided)
    assert not np.shares_memory(strided, d)
    np.testing.assert_array_equal(d, strided)
    fortran = np.asfortranarray(a)
    np.testing.assert_array_equal(quac._quac._roundtrip(fortran), a)
    big_endian = a.astype(">f4")
    np.testing.assert_array_equal(quac._quac._roundtrip(big_endian), a)
    with pytest.raises(quac.Error, match="dtype <U1"):
        quac._quac._roundtrip(np.array(["a", "b"]))


def test_session_runs_numpy_inputs(cnn):
    session = quac.Session(cnn, num_threads=1)
    images = FashionMnist(3).images
    by_list = session.run([images])
    by_name = session.run({"input": images})
    assert isinstance(by_list, list) and isinstance(by_name, dict) and set(by_name) == {"logits"}
    np.testing.assert_array_equal(by_list[0], by_name["logits"])
    with pytest.raises(quac.Error, match="input"):
        session.run([images[:, :, :20]])
    with pytest.raises(quac.Error, match=r"input 0 is list of 2; expected a NumPy array"):
        session.run([[[1.0], [2.0, 3.0]]])
    with pytest.raises(quac.Error, match=r"input 'input' has NumPy dtype <U1"):
        session.run({"input": np.array(["a"])})


# ---- a metric without per-sample values ----

class BatchOnly(quac.Metric):
    """Accuracy with a value per batch only (like mAP): value is one number, not a list."""

    def __init__(self):
        super().__init__()
        self._correct = 0
        self._total = 0
        self._last = 0.0

    @property
    def value(self):
        return {"batch_accuracy": self._last}

    @property
    def avg_value(self):
        return {"batch_accuracy": self._correct / max(self._total, 1)}

    def update(self, output, target):
        right = np.sum(np.argmax(output[0], axis=1) == np.asarray(target))
        self._correct += int(right)
        self._total += len(target)
        self._last = right / len(target)

    def reset(self):
        self._correct = self._total = 0

    def get_attributes(self):
        return {"batch_accuracy": {"direction": "higher-better", "type": "accuracy"}}


@pytest.mark.parametrize("per_item", [True, False])
def test_metric_without_per_sample_values(cnn, per_item):
    config = dict(QUIET, batch_size=16, metric_per_item=per_item)
    result = IEEngine(config=config, data_loader=FashionMnist(40), metric=BatchOnly()).evaluate(cnn)
    assert result["per_sample"] == {}
    # Seen returning one number per batch, the metric is reported as having no per-sample values.
    assert result["attributes"]["batch_accuracy"]["per_sample"] is False
    assert result["metrics"]["batch_accuracy"] == pytest.approx(
        evaluate(cnn, FashionMnist(40), Accuracy())["metrics"]["accuracy@top1"])


@pytest.mark.skipif(not has_accuracy_aware(),
                    reason="waits for AccuracyAwareQuantization (issue 4) in the algorithm registry")
def test_accuracy_aware_ranks_by_output_distance_without_per_sample_values():
    model = load_model({"model_name": "mobilenet", "model": MOBILENET})
    engine = IEEngine(config=QUIET, data_loader=FashionMnist(300), metric=BatchOnly())
    pipeline = create_pipeline([{"name": "AccuracyAwareQuantization",
                                 "params": {"stat_subset_size": 100, "maximal_drop": 0.01}}], engine)
    result = pipeline.run(model)
    assert result.quantized
    # No per-sample values: the groups were ranked by output distance (cosine by default), not by the metric.
    assert pipeline.report["ranking"]["method"] != "metric"
    assert all(r["method"] != "metric" for r in pipeline.report["rankings"])
    fp32, int8 = pipeline.evaluate(model), pipeline.evaluate(result)
    assert fp32["batch_accuracy"] - int8["batch_accuracy"] <= 0.01 + 1e-9


# ---- the GIL ----

@pytest.mark.parametrize("work", ["session", "engine"])
def test_engine_runs_without_the_gil(cnn, work):
    """With a switch interval far longer than the test, another thread gets the GIL only when quac releases it: the
    main thread must see the worker still busy right after the worker entered quac."""
    loader = FashionMnist(2000)
    session = quac.Session(cnn, num_threads=1)
    engine = IEEngine(config=dict(QUIET, batch_size=500), data_loader=loader, metric=Accuracy())
    state = {"done": False}
    started = threading.Event()

    def worker():
        started.set()  # from here on this thread keeps the GIL until quac releases it
        if work == "session":
            session.run([loader.images])
        else:
            engine.evaluate(cnn)
        state["done"] = True

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1000)
    try:
        thread = threading.Thread(target=worker)
        thread.start()
        started.wait()
        busy = not state["done"]
        thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert busy and state["done"]


class Minimal(quac.Metric):
    """Only what POT strictly needs for evaluation: no value, no get_attributes."""

    def __init__(self):
        super().__init__()
        self.n = 0

    @property
    def avg_value(self):
        return {"count": float(self.n)}

    @property
    def higher_better(self):
        return False

    def update(self, output, target):
        self.n += len(target)

    def reset(self):
        self.n = 0


def test_minimal_metric_gets_default_attributes(cnn):
    result = evaluate(cnn, FashionMnist(6), Minimal())
    assert result["metrics"] == {"count": 6.0} and result["per_sample"] == {}
    assert result["attributes"]["count"]["direction"] == "higher-worse"


def test_metric_may_declare_no_per_sample_values(cnn):
    class Declared(Accuracy):
        def get_attributes(self):
            return {self._name: {"direction": "higher-better", "type": "accuracy", "per_sample": False}}

    result = evaluate(cnn, FashionMnist(6), Declared())
    assert result["attributes"]["accuracy@top1"]["per_sample"] is False
