#!/usr/bin/env bash
# Builds and runs peak_macs.cc: one core's peak FP32 and INT8 multiply-accumulate rates (see the file's comment).
# usage: bench/peak/run.sh        (needs g++ and an x86-64 CPU with AVX2)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
g++ -O2 -std=c++17 "$here/peak_macs.cc" -o "$out/peak_macs"
"$out/peak_macs"
