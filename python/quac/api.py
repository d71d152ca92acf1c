"""The classes a user subclasses: DataLoader and Metric, with OpenVINO POT's contract, and POT's attribute dict."""
from abc import ABC, abstractmethod


class Dict(dict):
    """A dict whose keys are also attributes (``config.device``), as the ``addict.Dict`` POT's examples use.

    Nested dicts (also inside lists) become Dicts. It stays a plain dict for everything else (json, ``**``)."""

    def __init__(self, *args, **kwargs):
        super().__init__()
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    @staticmethod
    def _wrap(value):
        if isinstance(value, dict) and not isinstance(value, Dict):
            return Dict(value)
        if isinstance(value, list):
            return [Dict._wrap(v) for v in value]
        return value

    def __setitem__(self, key, value):
        super().__setitem__(key, Dict._wrap(value))

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key, value):
        self[key] = value

    def __delattr__(self, key):
        try:
            del self[key]
        except KeyError:
            raise AttributeError(key) from None


class DataLoader(ABC):
    """A dataset, as in POT: ``__len__`` and ``__getitem__(index)`` returning ``(data, annotation)`` or
    ``(data, annotation, metadata)``.

    ``data`` is one sample: a NumPy array for a one-input model (with or without a leading batch dimension of 1), or a
    dict ``{input name: array}`` / a list with one array per input. C-contiguous arrays of the model input's type are
    used without copying; other numeric types are converted. ``annotation`` is anything your Metric understands: the
    metric receives the very objects returned here. ``metadata`` is an optional dict.
    """

    def __init__(self, config=None):
        self.config = Dict(config or {})

    @abstractmethod
    def __len__(self):
        """Number of items."""

    @abstractmethod
    def __getitem__(self, index):
        """Item ``index``: ``(data, annotation)`` or ``(data, annotation, metadata)``."""


class Metric(ABC):
    """An accuracy metric, as in POT.

    ``update(output, target)`` gets a list of NumPy arrays (one per model output, batch first; read-only views of the
    engine's buffers, so copy what you keep beyond the call if you must modify it) and the list of the batch's
    annotations. ``value`` returns ``{name: per-sample values of the last batch}``; ``avg_value`` returns
    ``{name: number}`` over everything since ``reset()``. A metric with no per-sample meaning may return a single
    number (or nothing) from ``value``: the accuracy-aware ranking then uses the distance between quantized and
    reference outputs instead. ``get_attributes()`` returns ``{name: {'direction': 'higher-better' or
    'higher-worse', 'type': ...}}``.
    """

    def __init__(self):
        pass

    @property
    def value(self):
        """Per-sample values of the last batch ({name: list}); none by default."""
        return {}

    @property
    @abstractmethod
    def avg_value(self):
        """{name: number} over every batch since reset()."""

    @property
    def higher_better(self):
        """True when a higher value is better (the default direction of get_attributes)."""
        return True

    @abstractmethod
    def update(self, output, target):
        """Accumulates one batch: output is a list of arrays (one per model output), target the annotations."""

    @abstractmethod
    def reset(self):
        """Forgets every batch."""

    def get_attributes(self):
        """{name: {'direction': 'higher-better' or 'higher-worse', 'type': ...}}; quac also reads an optional
        'per_sample': False for metrics whose per-item values are no share of the aggregate. POT requires subclasses
        to define it; by default quac derives it from avg_value's names and higher_better."""
        try:
            names = list(self.avg_value)
        except Exception:
            names = []
        direction = "higher-better" if self.higher_better else "higher-worse"
        return {name: {"direction": direction, "type": name} for name in names}
