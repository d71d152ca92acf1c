"""Shared by the Python tests: a Fashion-MNIST DataLoader, the top-1 Accuracy metric of POT's guide, paths."""
import gzip
import os

import numpy as np

import quac

SOURCE_DIR = os.environ.get("QUAC_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(SOURCE_DIR, "tests", "data", "fixtures")
FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
EXAMPLE = os.path.join(SOURCE_DIR, "examples", "python", "pot_accuracy_aware.py")

_cache = {}


def test_images(limit):
    if "images" not in _cache:
        with gzip.open(os.path.join(FASHION_MNIST, "t10k-images-idx3-ubyte.gz")) as f:
            images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
        with gzip.open(os.path.join(FASHION_MNIST, "t10k-labels-idx1-ubyte.gz")) as f:
            labels = np.frombuffer(f.read(), np.uint8, offset=8)
        _cache["images"] = ((images / 255.0 - 0.2860) / 0.3530).astype(np.float32)
        _cache["labels"] = labels
    return _cache["images"][:limit], _cache["labels"][:limit]


class FashionMnist(quac.DataLoader):
    def __init__(self, limit=200):
        super().__init__()
        self.images, self.labels = test_images(limit)
        self.calls = 0

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        self.calls += 1
        return self.images[index], int(self.labels[index])


class Accuracy(quac.Metric):
    """POT guide's top-1 accuracy (also for batches of different sizes)."""

    def __init__(self):
        super().__init__()
        self._name = "accuracy@top1"
        self._matches = []

    @property
    def value(self):
        return {self._name: self._matches[-1]}

    @property
    def avg_value(self):
        return {self._name: float(np.mean(np.concatenate(self._matches)))}

    def update(self, output, target):
        predictions = np.argmax(output[0], axis=1)
        self._matches.append([float(t == p) for t, p in zip(target, predictions)])

    def reset(self):
        self._matches = []

    def get_attributes(self):
        return {self._name: {"direction": "higher-better", "type": "accuracy"}}


def top1(model_path, limit):
    """Independent check: top-1 of an ONNX file on the first `limit` test images, run by a fresh quac Session."""
    images, labels = test_images(limit)
    session = quac.Session(quac.load_model(model_path), num_threads=1)
    logits = session.run([np.ascontiguousarray(images)])[0]
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def has_accuracy_aware():
    return "AccuracyAwareQuantization" in quac.algorithm_names()
