#!/usr/bin/env bash
# DefaultQuantization options from the command line: --model-type transformer (SmoothQuant first) brings the ViT
# fixture, whose LayerNorm outputs carry x128 outlier channels, back to its FP32 accuracy, while the default loses
# several percent; a bad --saturation-fix value is refused (exit 2). Usage: cli_quantize_options.sh QUAC SOURCE_DIR
set -euo pipefail
QUAC=$1
SRC=$2
FMNIST=/usr/share/datasets/fashion-mnist
if [[ ! -e "$FMNIST/t10k-labels-idx1-ubyte.gz" && ! -e "$FMNIST/t10k-labels-idx1-ubyte" ]]; then
  echo "SKIP: Fashion-MNIST is not installed at $FMNIST"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
TEST="idx:$FMNIST,split=test,mean=0.2860,std=0.3530,limit=2000"
CALIB="idx:$FMNIST,split=train,mean=0.2860,std=0.3530,limit=300"
M="$SRC/tests/data/fixtures/vit.onnx"
top1() { "$QUAC" evaluate "$1" --data "$TEST" --json -q -t 1 | sed 's/.*"top1":\([0-9.]*\).*/\1/'; }
"$QUAC" quantize "$M" --data "$CALIB" -o "$work/default.onnx" -q -t 1 >/dev/null
"$QUAC" quantize "$M" --data "$CALIB" -o "$work/transformer.onnx" --model-type transformer -q -t 1 >/dev/null
fp=$(top1 "$M")
d=$(top1 "$work/default.onnx")
t=$(top1 "$work/transformer.onnx")
echo "vit top-1 on 2000 test images: FP32 $fp, INT8 default $d, INT8 --model-type transformer $t"
awk -v fp="$fp" -v d="$d" -v t="$t" 'BEGIN { exit !(d < fp - 0.02 && t > fp - 0.01) }' || {
  echo "FAIL: expected the default to lose > 2% and --model-type transformer to stay within 1% of FP32"
  exit 1
}
# The written QDQ file loads back with its quantization scope: inspect reports the quantizers and groups.
"$QUAC" inspect "$work/default.onnx" | grep -Eq "^quantized +[1-9][0-9]* quantizers \([1-9][0-9]* on weights, 8-bit\) in [1-9][0-9]* groups$" || {
  echo "FAIL: inspect does not report the recovered quantization scope"
  "$QUAC" inspect "$work/default.onnx"
  exit 1
}
"$QUAC" inspect "$M" | grep -q "^quantized" && { echo "FAIL: the FP32 model reported as quantized"; exit 1; }
set +e
"$QUAC" quantize "$M" --data "$CALIB" -o "$work/bad.onnx" --saturation-fix sometimes -q 2>/dev/null
rc=$?
set -e
[[ $rc -eq 2 && ! -e "$work/bad.onnx" ]] || { echo "FAIL: bad --saturation-fix gave exit $rc"; exit 1; }
echo OK
