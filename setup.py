"""Builds and installs the quac Python package with the project's CMake (offline, with Debian's setuptools):

    /usr/bin/python3 -m pip install --no-build-isolation .

The extension and libquac.so come from `cmake --install <build> --component python`. The build directory is
build/python-package, or QUAC_BUILD_DIR (e.g. build/release) to reuse one that is already configured.
"""
import os
import subprocess
import sys

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

ROOT = os.path.dirname(os.path.abspath(__file__))


class BinaryDistribution(Distribution):
    def has_ext_modules(self):
        return True


class BuildWithCMake(build_py):
    def run(self):
        super().run()
        build_dir = os.environ.get("QUAC_BUILD_DIR") or os.path.join(ROOT, "build", "python-package")
        build_dir = os.path.abspath(build_dir)
        if not os.path.exists(os.path.join(build_dir, "CMakeCache.txt")):
            subprocess.check_call([
                "cmake", "-S", ROOT, "-B", build_dir, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
                "-DQUAC_BUILD_TESTS=OFF", "-DQUAC_BUILD_PYTHON=ON", f"-DPython3_EXECUTABLE={sys.executable}"
            ])
        subprocess.check_call(["cmake", "--build", build_dir, "--target", "_quac", "-j", str(os.cpu_count() or 2)])
        subprocess.check_call(
            ["cmake", "--install", build_dir, "--component", "python", "--prefix",
             os.path.abspath(self.build_lib)])


setup(
    name="quac",
    version="0.1.0",
    description="Post-training INT8 quantization of ONNX models with accuracy control (POT-compatible API)",
    packages=["quac"],
    package_dir={"": "python"},
    python_requires=">=3.9",
    distclass=BinaryDistribution,
    cmdclass={"build_py": BuildWithCMake},
    zip_safe=False,
)
