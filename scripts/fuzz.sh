#!/usr/bin/env bash
# Builds the loader fuzzer under the asan preset and runs it for a bounded time (default 60 s) on a seed corpus of
# small ONNX test models, then the dataset-reader fuzzers (.npz, images) for a third of that time each on
# tests/data/fuzz_seeds. Usage: scripts/fuzz.sh [SECONDS]
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

# The dataset readers (.npz archives, images) on their seed files, a shorter time each.
data_seconds=$(( seconds / 3 > 10 ? seconds / 3 : 10 ))
cmake --build --preset asan --target fuzz_read_npz fuzz_decode_image
for target in read_npz:npz decode_image:image; do
  name=${target%%:*}
  seeds=$(mktemp -d)
  cp tests/data/fuzz_seeds/"${target##*:}"/* "$seeds"/
  echo "fuzz_$name: ${data_seconds}s"
  (cd "$seeds" && "$OLDPWD"/build/asan/tests/fuzz/fuzz_"$name" -max_total_time="$data_seconds" -max_len=16384 -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix="$OLDPWD/build/asan/" -print_final_stats=1 "$seeds" 2>&1 | tail -n 6)
  rm -rf "$seeds"
done
