"""quac: post-training INT8 quantization of ONNX models with accuracy control.

The C++ engine lives in the ``_quac`` extension; ``quac.pot`` gives it the API of OpenVINO POT (IEEEngine,
load_model, save_model, compress_model_weights, create_pipeline). Users subclass ``quac.DataLoader`` and
``quac.Metric``; quac's engine calls them while it runs (without holding the GIL between calls).
"""
import os as _os

# libgomp reads its wait policy when the extension loads it: a short spin keeps a shared machine usable and costs
# nothing measurable on an idle one (see tools/quac/main.cc). The user's own setting wins.
if "GOMP_SPINCOUNT" not in _os.environ and "OMP_WAIT_POLICY" not in _os.environ:
    _os.environ["GOMP_SPINCOUNT"] = "10000"

from ._quac import (Error, Model, Session, algorithm_names, compress_model_weights, load_model, save_model)
from .api import DataLoader, Dict, Metric
from . import pot

Error.__module__ = "quac"  # shown as quac.Error in tracebacks

__version__ = "0.1.0"

__all__ = [
    "DataLoader", "Dict", "Error", "Metric", "Model", "Session", "algorithm_names", "compress_model_weights",
    "load_model", "pot", "save_model"
]
