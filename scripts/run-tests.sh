#!/usr/bin/env bash
# Sets everything up and runs all of quac's tests: installs the Debian packages, builds the release preset, runs
# ctest (unit, conformance, end-to-end), checks formatting, and runs the model-loader fuzzer for a bounded time under
# the asan preset. Prints ctest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release
ctest --preset release -j2 --output-on-failure
bash scripts/check-format.sh
bash scripts/fuzz.sh "${QUAC_FUZZ_SECONDS:-60}"
