"""The README's install commands: a virtual environment that sees Debian's NumPy, pip install offline."""
import os
import subprocess
import sys

import pytest

import quac

from fmnist import FIXTURES, SOURCE_DIR

CHECK = """
import os, sys
import numpy as np
import quac
from quac.pot import IEEngine, load_model
class Loader(quac.DataLoader):
    def __len__(self): return 3
    def __getitem__(self, i): return np.zeros((1, 28, 28), np.float32), i
model = load_model({"model": sys.argv[1]})
engine = IEEngine({"device": "CPU", "progress": False}, Loader(), "top1")
print(quac.__file__)
print(engine.evaluate(model)["items"])
"""


def test_pip_install_into_a_venv(tmp_path):
    build_dir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(quac.__file__))))
    if not os.path.isfile(os.path.join(build_dir, "CMakeCache.txt")):
        pytest.skip("quac is not imported from a build tree")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["QUAC_BUILD_DIR"] = build_dir  # reuse the build instead of configuring a second one
    python = str(venv / "bin" / "python")
    install = subprocess.run([python, "-m", "pip", "install", "--no-build-isolation", "--no-index", "--no-deps",
                              "--disable-pip-version-check", SOURCE_DIR], env=env, capture_output=True, text=True,
                             timeout=900)
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    check = subprocess.run([python, "-c", CHECK, os.path.join(FIXTURES, "cnn.onnx")], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stderr[-2000:]
    where, items = check.stdout.split()
    assert where.startswith(str(venv)) and items == "3"
