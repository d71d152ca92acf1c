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
# ctest -j2 runs two test processes at once on a 2-core machine; spinning OpenMP workers would then stall each other
# at every barrier (tests run 10-20x slower). Tests never assert timings, so let idle workers sleep.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
ctest --preset release -j2 --output-on-failure
