#!/usr/bin/env bash
# Times quac against ONNX Runtime (fp32, CPU) and writes the table into bench/RESULTS.md.
# usage: bench/run_bench.sh
#   env: QUAC (default build/release/tools/quac/quac), THREADS (default "1 2"),
#        ITERATIONS_BIG (default 50, torchvision models), ITERATIONS_SMALL (default 200, test fixtures),
#        WARMUP (ORT warmup runs, default 5), ROUNDS (default 1: with R > 1 every pair is timed R times, interleaved
#        round by round, and the table shows the median of the R medians, each engine's best round and the rounds
#        each won, which a busy machine disturbs less than one round)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
QUAC="${QUAC:-build/release/tools/quac/quac}"
THREADS="${THREADS:-1 2}"
ITERATIONS_BIG="${ITERATIONS_BIG:-50}"
ITERATIONS_SMALL="${ITERATIONS_SMALL:-200}"
WARMUP="${WARMUP:-5}"
ROUNDS="${ROUNDS:-1}"
records=bench/out/records.tsv
status=0

bash bench/install-ort.sh >&2
big=(bench/models/resnet18.onnx bench/models/resnet50.onnx bench/models/mobilenetv2.onnx)
for m in "${big[@]}"; do
  [[ -f "$m" ]] || { /usr/bin/python3 bench/gen_models.py bench/models >&2; break; }
done
shopt -s nullglob
small=(tests/data/fixtures/*.onnx)
shopt -u nullglob

have_quac=1
if ! command -v "$QUAC" >/dev/null; then
  echo "quac not found at '$QUAC' (set QUAC=...); timing ONNX Runtime only" >&2
  have_quac=0
  status=1
fi

source bench/lib/records.sh  # run NAME THREADS ENGINE COMMAND...

mkdir -p bench/out
: >"$records"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
order=0
for round in $(seq "$ROUNDS"); do
  ((ROUNDS == 1)) || echo "round $round of $ROUNDS" >&2
  for model in "${big[@]}" "${small[@]}"; do
    name=$(basename "$model" .onnx)
    iters=$ITERATIONS_BIG
    [[ "$model" == tests/* ]] && iters=$ITERATIONS_SMALL
    for t in $THREADS; do
      quac_cmd=("$QUAC" benchmark "$model" --threads "$t" --iterations "$iters" --json)
      ort_cmd=(node bench/ort_bench.js "$model" --threads "$t" --iterations "$iters" --warmup "$WARMUP")
      # Alternate which engine goes first so drifting machine load hits both alike.
      if ((have_quac && order % 2 == 0)); then run "$name" "$t" quac "${quac_cmd[@]}"; fi
      run "$name" "$t" ort "${ort_cmd[@]}"
      if ((have_quac && order % 2 == 1)); then run "$name" "$t" quac "${quac_cmd[@]}"; fi
      order=$((order + 1))
    done
  done
done

cpu=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
ort_version=$(node -p "require('./bench/ort/node_modules/onnxruntime-node/package.json').version")
command="QUAC=$QUAC THREADS=\"$THREADS\" ITERATIONS_BIG=$ITERATIONS_BIG ITERATIONS_SMALL=$ITERATIONS_SMALL WARMUP=$WARMUP ROUNDS=$ROUNDS bench/run_bench.sh"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
info="Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $cpu ($(nproc) CPUs), onnxruntime-node $ort_version, with \`$command\` (load average before: $load_before, after: $load_after)."
node bench/write_results.js "$records" bench/RESULTS.md "$info"
((have_quac)) || echo "quac not found at '$QUAC': only ONNX Runtime was timed" >&2
exit "$status"
