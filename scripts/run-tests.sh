#!/usr/bin/env bash
# Sets everything up and runs all of quac's tests: installs the Debian packages, checks formatting, runs the
# model-loader fuzzer for a bounded time under the asan preset, builds the release preset and runs ctest (unit,
# conformance, end-to-end). ctest runs last so its summary closes the output.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
bash scripts/check-format.sh
bash scripts/fuzz.sh "${QUAC_FUZZ_SECONDS:-60}"
cmake --preset release >/dev/null
cmake --build --preset release
ctest --preset release -j2 --output-on-failure
