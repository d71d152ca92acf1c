"""quac: post-training INT8 quantization of ONNX models with accuracy control.

The C++ engine lives in the ``_quac`` extension; ``quac.pot`` gives it the API of OpenVINO POT (IEEEngine,
load_model, save_model, compress_model_weights, create_pipeline). Users subclass ``quac.DataLoader`` and
``quac.Metric``; quac's engine calls them while it runs (without holding the GIL between calls).
"""
from ._quac import (Error, Model, Session, algorithm_names, compress_model_weights, load_model, save_model)
from .api import DataLoader, Dict, Metric
from . import pot

Error.__module__ = "quac"  # shown as quac.Error in tracebacks

__version__ = "0.1.0"

__all__ = [
    "DataLoader", "Dict", "Error", "Metric", "Model", "Session", "algorithm_names", "compress_model_weights",
    "load_model", "pot", "save_model"
]
