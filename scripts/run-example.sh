#!/usr/bin/env bash
# Sets everything up and runs quac's main job on the bundled example. Until quantization lands (issue #3/#4), this
# inspects and benchmarks the bundled Fashion-MNIST CNN.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release
QUAC=build/release/tools/quac/quac
MODEL=tests/data/fixtures/cnn.onnx
"$QUAC" inspect "$MODEL"
"$QUAC" benchmark "$MODEL" --iterations 200
