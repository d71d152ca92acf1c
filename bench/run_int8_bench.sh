#!/usr/bin/env bash
# Quantizes the bench models with quac and times the INT8 (QDQ) files in quac and in ONNX Runtime, next to quac's
# FP32 time, then writes the INT8 table into bench/RESULTS.md (between the int8 markers).
# usage: bench/run_int8_bench.sh
#   env: QUAC (default build/release/tools/quac/quac), THREADS (default "1 2"), ITERATIONS (default 50),
#        WARMUP (ORT warmup runs, default 5), CONFIG (default bench/int8_config.json: DefaultQuantization with
#        7-bit weights, which oneDNN's INT8 kernels compute exactly on CPUs without VNNI; see
#        src/kernels/onednn_int8.cc), MODELS (default "resnet18 resnet50 mobilenetv2"), ROUNDS (default 1: every
#        triple is timed R times, round by round; see bench/lib/rounds.js for how the rounds are summarised)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
QUAC="${QUAC:-build/release/tools/quac/quac}"
THREADS="${THREADS:-1 2}"
ITERATIONS="${ITERATIONS:-50}"
WARMUP="${WARMUP:-5}"
CONFIG="${CONFIG:-bench/int8_config.json}"
MODELS="${MODELS:-resnet18 resnet50 mobilenetv2}"
ROUNDS="${ROUNDS:-1}"
records=bench/out/int8_records.tsv
status=0

command -v "$QUAC" >/dev/null || { echo "quac not found at '$QUAC' (set QUAC=...)" >&2; exit 2; }
bash bench/install-ort.sh >&2
mkdir -p bench/out
for name in $MODELS; do
  [[ -f bench/models/$name.onnx ]] || { /usr/bin/python3 bench/gen_models.py bench/models >&2; break; }
done
for name in $MODELS; do
  fp32=bench/models/$name.onnx int8=bench/models/${name}_int8.onnx
  # Remade when the model, the config or the quantizer (placement changes with it) is newer than the INT8 file.
  if [[ ! -f "$int8" || "$int8" -ot "$fp32" || "$int8" -ot "$CONFIG" || "$int8" -ot "$QUAC" ]]; then
    echo "quantizing $fp32 -> $int8" >&2
    "$QUAC" quantize "$fp32" --data random --config "$CONFIG" -o "$int8" --quiet >&2
  fi
done

source bench/lib/records.sh  # run NAME THREADS ENGINE COMMAND...

: >"$records"
order=0
for round in $(seq "$ROUNDS"); do
  ((ROUNDS == 1)) || echo "round $round of $ROUNDS" >&2
  for name in $MODELS; do
    fp32=bench/models/$name.onnx int8=bench/models/${name}_int8.onnx
    for t in $THREADS; do
      q8=("$QUAC" benchmark "$int8" --threads "$t" --iterations "$ITERATIONS" --json)
      o8=(node bench/ort_bench.js "$int8" --threads "$t" --iterations "$ITERATIONS" --warmup "$WARMUP")
      q32=("$QUAC" benchmark "$fp32" --threads "$t" --iterations "$ITERATIONS" --json)
      # Alternate the order so drifting machine load hits the engines alike.
      if ((order % 2 == 0)); then
        run "$name" "$t" quac_int8 "${q8[@]}"
        run "$name" "$t" ort_int8 "${o8[@]}"
        run "$name" "$t" quac_fp32 "${q32[@]}"
      else
        run "$name" "$t" quac_fp32 "${q32[@]}"
        run "$name" "$t" ort_int8 "${o8[@]}"
        run "$name" "$t" quac_int8 "${q8[@]}"
      fi
      order=$((order + 1))
    done
  done
done

cpu=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
ort_version=$(node -p "require('./bench/ort/node_modules/onnxruntime-node/package.json').version")
command="QUAC=$QUAC THREADS=\"$THREADS\" ITERATIONS=$ITERATIONS WARMUP=$WARMUP CONFIG=$CONFIG ROUNDS=$ROUNDS bench/run_int8_bench.sh"
info="Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $cpu ($(nproc) CPUs), onnxruntime-node $ort_version, with \`$command\`; INT8 files from \`quac quantize bench/models/M.onnx --data random --config $CONFIG -o bench/models/M_int8.onnx\`."
node bench/write_int8_results.js "$records" bench/RESULTS.md "$info"
exit "$status"
