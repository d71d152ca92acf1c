"""POT's guide "Quantizing Models with Accuracy Control", run on quac.

The guide's code is kept as written; what changed: the import lines (openvino.tools.pot -> quac.pot, and addict's Dict
-> quac.pot's), and the model path (an ONNX fixture instead of path_to_xml / path_to_bin). UserDataLoader, the guide's
placeholder, reads Debian's Fashion-MNIST test set (the first 2000 images, to keep CI fast).

Run from anywhere with Debian's interpreter, after building or installing the package (see the README):
    PYTHONPATH=build/release/python /usr/bin/python3 examples/python/pot_accuracy_aware.py
"""
import gzip
import os

import numpy as np

from quac.pot import DataLoader, Dict, Metric
from quac.pot import IEEngine
from quac.pot import load_model, save_model
from quac.pot import compress_model_weights
from quac.pot import create_pipeline

HERE = os.path.dirname(os.path.abspath(__file__))
path_to_xml = os.path.join(HERE, "..", "..", "tests", "data", "fixtures", "mobilenet.onnx")
path_to_bin = None  # an ONNX model holds its weights


class UserDataLoader(DataLoader):
    """Fashion-MNIST test images, normalised as the fixture models were trained: (pixel / 255 - 0.2860) / 0.3530."""

    def __init__(self, folder="/usr/share/datasets/fashion-mnist", limit=2000):
        super().__init__()
        with gzip.open(os.path.join(folder, "t10k-images-idx3-ubyte.gz")) as f:
            images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[:limit]
        with gzip.open(os.path.join(folder, "t10k-labels-idx1-ubyte.gz")) as f:
            self._labels = np.frombuffer(f.read(), np.uint8, offset=8)[:limit]
        self._images = ((images / 255.0 - 0.2860) / 0.3530).astype(np.float32)

    def __len__(self):
        return len(self._labels)

    def __getitem__(self, index):
        return self._images[index], int(self._labels[index])


# ---- from here on, the guide's code ----

class Accuracy(Metric):

    # Required methods
    def __init__(self, top_k=1):
        super().__init__()
        self._top_k = top_k
        self._name = 'accuracy@top{}'.format(self._top_k)
        self._matches = [] # container of the results

    @property
    def value(self):
        """ Returns accuracy metric value for all model outputs. """
        return {self._name: self._matches[-1]}

    @property
    def avg_value(self):
        """ Returns accuracy metric value for all model outputs. """
        return {self._name: np.ravel(self._matches).mean()}

    def update(self, output, target):
        """ Updates prediction matches.
        :param output: model output
        :param target: annotations
        """
        if len(output) > 1:
            raise Exception('The accuracy metric cannot be calculated '
                            'for a model with multiple outputs')
        if isinstance(target, dict):
            target = list(target.values())
        predictions = np.argsort(output[0], axis=1)[:, -self._top_k:]
        match = [float(t in predictions[i]) for i, t in enumerate(target)]

        self._matches.append(match)

    def reset(self):
        """ Resets collected matches """
        self._matches = []

    def get_attributes(self):
        """
        Returns a dictionary of metric attributes {metric_name: {attribute_name: value}}.
        Required attributes: 'direction': 'higher-better' or 'higher-worse'
                             'type': metric type
        """
        return {self._name: {'direction': 'higher-better',
                             'type': 'accuracy'}}


# Model config specifies the model name and paths to model .xml and .bin file
model_config = Dict(
    {
        "model_name": "model",
        "model": path_to_xml,
        "weights": path_to_bin,
    }
)

# Engine config
engine_config = Dict({"device": "CPU"})

algorithms = [
    {
        "name": "AccuracyAwareQuantization",
        "params": {
            "target_device": "ANY",
            "stat_subset_size": 300,
            'maximal_drop': 0.02
        },
    }
]

# Step 1: Implement and create user's data loader.
data_loader = UserDataLoader()

# Step 2: Implement and create user's data loader.
metric = Accuracy()

# Step 3: Load the model.
model = load_model(model_config=model_config)

# Step 4: Initialize the engine for metric calculation and statistics collection.
engine = IEEngine(config=engine_config, data_loader=data_loader, metric=metric)

# Step 5: Create a pipeline of compression algorithms and run it.
pipeline = create_pipeline(algorithms, engine)
compressed_model = pipeline.run(model=model)

# Step 6 (Optional): Compress model weights to quantized precision
#                     to reduce the size of the final .bin file.
compress_model_weights(compressed_model)

# Step 7: Save the compressed model to the desired path.
# Set save_path to the directory where the model should be saved.
compressed_model_paths = save_model(
    model=compressed_model,
    save_path="optimized_model",
    model_name="optimized_model",
)

# Step 8 (Optional): Evaluate the compressed model. Print the results.
metric_results = pipeline.evaluate(compressed_model)

# ---- end of the guide's code ----

fp32_results = pipeline.evaluate(model)
for name, value in metric_results.items():
    print(f"{name}: FP32 {fp32_results[name]:.4f}, quantized {value:.4f}, drop {fp32_results[name] - value:.4f} "
          f"(maximal_drop {algorithms[0]['params']['maximal_drop']})")
print(f"saved: {compressed_model_paths[0]['model']}")
