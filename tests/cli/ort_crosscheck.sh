#!/usr/bin/env bash
# Cross-check with ONNX Runtime (issue 3, section 4): quantize the Fashion-MNIST fixtures with quac, run the QDQ files
# in ORT and in quac on the whole test set (10,000 images), and require the top-1 predictions to agree on >= 99.5%.
#  - ORT with graph optimization "basic" runs QuantizeLinear/DequantizeLinear as such: the QDQ semantics must match.
#  - ORT with "all" fuses the QDQ patterns into its INT8 kernels. On CPUs without VNNI those add pairs of u8*s8
#    products in int16 and saturate when both are large, which is what POT's saturation_fix is for: the ViT fixture,
#    whose two adjacent outlier channels hit exactly that, is checked there with saturation_fix "all" (7-bit weights),
#    the others with quac's defaults.
# Runs only when node and bench/ort/node_modules (bash bench/install-ort.sh) are present; prints SKIP otherwise.
# Usage: ort_crosscheck.sh QUAC_BINARY SOURCE_DIR
set -euo pipefail
QUAC=$1
SRC=$2
FMNIST=/usr/share/datasets/fashion-mnist
if ! command -v node >/dev/null 2>&1; then
  echo "SKIP: node is not installed"
  exit 0
fi
if [[ ! -d "$SRC/bench/ort/node_modules/onnxruntime-node" ]]; then
  echo "SKIP: ONNX Runtime is not installed (bash bench/install-ort.sh)"
  exit 0
fi
if [[ ! -e "$FMNIST/t10k-labels-idx1-ubyte.gz" && ! -e "$FMNIST/t10k-labels-idx1-ubyte" ]]; then
  echo "SKIP: Fashion-MNIST is not installed at $FMNIST"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
JS="$SRC/tests/cli/ort_crosscheck.js"
node "$JS" images "$FMNIST" "$work/x.npy"
CALIB="idx:$FMNIST,split=train,mean=0.2860,std=0.3530,limit=300"
echo '{"compression": {"algorithms": [{"name": "DefaultQuantization", "params": {"saturation_fix": "all"}}]}}' \
  >"$work/satall.json"
status=0
check() {  # NAME MODEL ORT_LEVELS...
  local name=$1 model=$2
  shift 2
  mkdir -p "$work/quac_$name"
  "$QUAC" run "$model" --input "input=$work/x.npy" --output-dir "$work/quac_$name" -t 1 >/dev/null
  for level in "$@"; do
    node "$JS" ort "$model" "$work/x.npy" "$work/ort_${name}_$level.npy" "$level"
    r=$(node "$JS" agree "$work/ort_${name}_$level.npy" "$work/quac_$name/logits.npy" "$FMNIST")
    echo "$name: ORT ($level) vs quac: $r"
    if ! node -e "process.exit(JSON.parse(process.argv[1]).agreement >= 0.995 ? 0 : 1)" "$r"; then
      echo "FAIL: $name: ORT ($level) and quac top-1 agree on less than 99.5% of the test set"
      status=1
    fi
  done
}
for m in cnn mobilenet vit; do
  "$QUAC" quantize "$SRC/tests/data/fixtures/$m.onnx" --data "$CALIB" -o "$work/${m}_int8.onnx" --quiet -t 1 >/dev/null
done
check cnn "$work/cnn_int8.onnx" basic all
check mobilenet "$work/mobilenet_int8.onnx" basic all
check vit "$work/vit_int8.onnx" basic
"$QUAC" quantize "$SRC/tests/data/fixtures/vit.onnx" --data "$CALIB" -o "$work/vit_sat.onnx" --config "$work/satall.json" \
  --quiet -t 1 >/dev/null
check vit_saturation_fix_all "$work/vit_sat.onnx" all
exit $status
