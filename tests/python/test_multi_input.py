"""A two-input model fed by a Python DataLoader: data as a dict by input name or as a list in input order."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

import quac  # noqa: E402
from quac.pot import IEEngine, load_model  # noqa: E402


@pytest.fixture(scope="module")
def two_inputs(tmp_path_factory):
    """y = a + b (float32 [N,3]), s = sum(b) as int64 cast (an output of another type)."""
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 3])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, ["N", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])
    z = helper.make_tensor_value_info("z", TensorProto.INT64, ["N", 3])
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["y"], name="add"),
                               helper.make_node("Cast", ["b"], ["z"], name="cast", to=TensorProto.INT64)],
                              "two_inputs", [a, b], [y, z])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    path = tmp_path_factory.mktemp("model") / "two_inputs.onnx"
    onnx.save(model, str(path))
    return load_model({"model": str(path)})


class Pairs(quac.DataLoader):
    def __init__(self, form):
        super().__init__()
        self.form = form

    def __len__(self):
        return 5

    def __getitem__(self, i):
        a = np.full(3, i, np.float32)
        b = np.arange(3, dtype=np.float32) * 10
        data = {"b": b, "a": a} if self.form == "dict" else [a, b]
        return data, i


class Sums(quac.Metric):
    def __init__(self):
        super().__init__()
        self.seen = []

    @property
    def avg_value(self):
        return {"n": float(len(self.seen))}

    def update(self, output, target):
        self.seen.append((output[0].copy(), output[1].copy(), list(target)))

    def reset(self):
        self.seen = []

    def get_attributes(self):
        return {"n": {"direction": "higher-better", "type": "count"}}


@pytest.mark.parametrize("form", ["dict", "list"])
def test_two_inputs(two_inputs, form):
    metric = Sums()
    config = {"device": "CPU", "progress": False, "num_threads": 1, "batch_size": 5, "metric_per_item": False}
    result = IEEngine(config, Pairs(form), metric).evaluate(two_inputs)
    assert result["metrics"] == {"n": 1.0} and result["per_sample"] == {}
    y, z, targets = metric.seen[0]
    expected = np.arange(5, dtype=np.float32)[:, None] + np.arange(3, dtype=np.float32)[None, :] * 10
    np.testing.assert_array_equal(y, expected)
    assert z.dtype == np.int64 and z.tolist() == [[0, 10, 20]] * 5
    assert targets == [0, 1, 2, 3, 4]


def test_two_inputs_wrong_forms(two_inputs):
    class Single(Pairs):
        def __getitem__(self, i):
            return np.zeros(3, np.float32), i

    class Missing(Pairs):
        def __getitem__(self, i):
            return {"a": np.zeros(3, np.float32)}, i

    config = {"device": "CPU", "progress": False, "num_threads": 1}
    with pytest.raises(quac.Error, match=r"Single\.__getitem__\(0\) data is ndarray; the model has 2 inputs"):
        IEEngine(config, Single("x"), Sums()).evaluate(two_inputs)
    with pytest.raises(quac.Error, match=r"Missing\.__getitem__\(0\) data has no entry for model input 'b'"):
        IEEngine(config, Missing("x"), Sums()).evaluate(two_inputs)
