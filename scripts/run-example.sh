#!/usr/bin/env bash
# Sets everything up and runs quac's main job on the bundled example: accuracy-aware quantization of the
# Fashion-MNIST MobileNetV2-style fixture on Debian's Fashion-MNIST, which full INT8 (POT's default preset) breaks
# by several points of top-1. quac reverts the most harmful layers to FP32 until the drop is within 1% (absolute) on
# the 10,000 test images, writes the QDQ model and a report (JSON + HTML), and ends with a table: FP32, full INT8 and
# the result (accuracy, layers reverted, latency). The OUT folder (QUAC_EXAMPLE_OUT or a new temporary one) is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release
QUAC=build/release/tools/quac/quac
MODEL=tests/data/fixtures/mobilenet.onnx
DATA=idx:/usr/share/datasets/fashion-mnist,split=test,mean=0.2860,std=0.3530
CALIB=idx:/usr/share/datasets/fashion-mnist,split=train,mean=0.2860,std=0.3530,limit=1000
OUT=${QUAC_EXAMPLE_OUT:-$(mktemp -d)}
mkdir -p "$OUT"

code=0
"$QUAC" quantize "$MODEL" --data "$DATA" --calib-data "$CALIB" --stat-subset-size 1000 --metric top1 --max-drop 0.01 \
  --report "$OUT/report.json" -o "$OUT/mobilenet_int8.onnx" || code=$?
if [ "$code" -ne 0 ] && [ "$code" -ne 3 ]; then exit "$code"; fi
# quac printed the table (FP32, full INT8, result: accuracy, layers reverted, latency, faster than FP32 or not); an
# independent measurement of the written file follows.
res=$("$QUAC" evaluate "$OUT/mobilenet_int8.onnx" --data "$DATA" --metric top1 --json --quiet)
/usr/bin/python3 - "$OUT/report.json" "$res" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["result"]
check = json.loads(sys.argv[2])["metrics"]["top1"]
fp = r["fp32"]["metrics"]["top1"]
print(f"written file re-evaluated: top-1 {check:.4f} (drop {fp - check:.4f}); search: {r['iterations']} iterations, "
      f"{r['inferences']} inferences, {r['wall_seconds']:.0f} s")
PY
echo "model, report.json and report.html in $OUT"
exit "$code"
