#!/usr/bin/env bash
# Builds the loader fuzzer under the asan preset and runs it for a bounded time (default 60 s) on a seed corpus of
# small ONNX test models. Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
cmake --preset asan >/dev/null
cmake --build --preset asan --target fuzz_load_model
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
i=0
for f in /usr/share/libonnx-testdata/data/node/test_{conv,gather,if,loop,scan,lstm,resize,constant,slice,pad}*/model.onnx \
         /usr/share/libonnx-testdata/data/simple/*/model.onnx tests/data/fuzz_regressions/*; do
  [ -f "$f" ] || continue
  cp "$f" "$corpus/seed_$i.onnx"
  i=$((i + 1))
done
echo "fuzz: $i seed models, ${seconds}s"
./build/asan/tests/fuzz/fuzz_load_model -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=4096 \
  -print_final_stats=1 "$corpus" 2>&1 | tail -n 15
