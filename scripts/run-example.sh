#!/usr/bin/env bash
# Sets everything up and runs quac's main job on the bundled example: the Fashion-MNIST MobileNetV2-style fixture,
# quantized to INT8 on Debian's Fashion-MNIST, then FP32 and INT8 compared (accuracy on the 10,000 test images,
# latency). Accuracy-aware search (issue #4) will replace the plain quantization step.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release
QUAC=build/release/tools/quac/quac
MODEL=tests/data/fixtures/mobilenet.onnx
DATA=idx:/usr/share/datasets/fashion-mnist,split=test,mean=0.2860,std=0.3530
CALIB=idx:/usr/share/datasets/fashion-mnist,split=train,mean=0.2860,std=0.3530,limit=1000
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

"$QUAC" quantize "$MODEL" --data "$CALIB" -o "$OUT/model_int8.onnx"
fp=$("$QUAC" evaluate "$MODEL" --data "$DATA" --metric top1 --json)
q8=$("$QUAC" evaluate "$OUT/model_int8.onnx" --data "$DATA" --metric top1 --json)
fpl=$("$QUAC" benchmark "$MODEL" --iterations 200 --json)
q8l=$("$QUAC" benchmark "$OUT/model_int8.onnx" --iterations 200 --json)
/usr/bin/python3 - "$fp" "$q8" "$fpl" "$q8l" <<'PY'
import json, sys
fp, q8, fpl, q8l = (json.loads(a) for a in sys.argv[1:])
print()
print(f"{'model':<12}{'top-1':>8}{'drop':>8}{'latency ms':>12}")
print(f"{'FP32':<12}{fp['metrics']['top1']:>8.4f}{'':>8}{fpl['median_ms']:>12.3f}")
drop = fp['metrics']['top1'] - q8['metrics']['top1']
print(f"{'INT8 (QDQ)':<12}{q8['metrics']['top1']:>8.4f}{drop:>8.4f}{q8l['median_ms']:>12.3f}")
PY
