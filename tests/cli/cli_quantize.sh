#!/usr/bin/env bash
# End to end on a real model and real data: quantize the Fashion-MNIST CNN fixture with quac, check the QDQ file with
# the ONNX checker, and compare FP32 and INT8 top-1 on 2,000 test images. Also: a config with a typo is refused
# (exit 2, nothing written). Usage: cli_quantize.sh QUAC_BINARY SOURCE_DIR
set -euo pipefail
QUAC=$1
SRC=$2
PY=/usr/bin/python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
FMNIST=/usr/share/datasets/fashion-mnist
TEST="idx:$FMNIST,split=test,mean=0.2860,std=0.3530,limit=2000"
CALIB="idx:$FMNIST,split=train,mean=0.2860,std=0.3530,limit=300"

"$QUAC" quantize "$SRC/tests/data/fixtures/cnn.onnx" --data "$CALIB" -o "$work/cnn_int8.onnx" --quiet
$PY -c "import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1]))" "$work/cnn_int8.onnx"
fp=$("$QUAC" evaluate "$SRC/tests/data/fixtures/cnn.onnx" --data "$TEST" --json)
q8=$("$QUAC" evaluate "$work/cnn_int8.onnx" --data "$TEST" --json)
$PY - "$fp" "$q8" <<'PY'
import json, sys
fp, q8 = (json.loads(a)["metrics"]["top1"] for a in sys.argv[1:])
print(f"cnn top-1 on 2000 test images: FP32 {fp:.4f}, INT8 {q8:.4f}")
assert fp > 0.88, fp                 # the fixture is a ~92% model
assert abs(fp - q8) < 0.01, (fp, q8)  # the plain CNN quantizes almost losslessly
PY

cat >"$work/typo.json" <<JSON
{"model": {"model": "$SRC/tests/data/fixtures/cnn.onnx"}, "engine": {"data": "$CALIB"},
 "compression": {"algorithms": [{"name": "DefaultQuantization", "params": {"stat_subset_sise": 10}}]}}
JSON
set +e
"$QUAC" quantize -c "$work/typo.json" -o "$work/typo.onnx" 2>"$work/err.txt"
code=$?
set -e
test "$code" -eq 2
grep -q "unknown key 'stat_subset_sise'" "$work/err.txt"
test ! -e "$work/typo.onnx"
echo "cli_quantize: 1 passed, 0 failed"
