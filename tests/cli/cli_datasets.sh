#!/usr/bin/env bash
# The folder datasets end to end: the first 200 Fashion-MNIST test images exported as PNG files (in class subfolders,
# with a text labels file) and as .npy/.npz samples (with a JSON labels file) must give `quac evaluate` exactly the
# metrics the IDX reader gives on the same images; bad folders exit 2 with one line naming the file.
# Usage: cli_datasets.sh QUAC_BINARY SOURCE_DIR
set -uo pipefail
QUAC=$1
SRC=$2
PY=/usr/bin/python3
FMNIST=/usr/share/datasets/fashion-mnist
MODEL="$SRC/tests/data/fixtures/cnn.onnx"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/lib/check.sh"
if [ ! -d "$FMNIST" ]; then
  echo "cli_datasets: skipped (dataset-fashion-mnist not installed)"
  exit 0
fi

$PY - "$FMNIST" "$work" <<'PYEOF'
import gzip, json, os, sys
import numpy as np
from PIL import Image
src, work = sys.argv[1:]
n = 200
with gzip.open(f"{src}/t10k-images-idx3-ubyte.gz") as f:
    images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:n]
with gzip.open(f"{src}/t10k-labels-idx1-ubyte.gz") as f:
    labels = np.frombuffer(f.read(), np.uint8, offset=8)[:n]
names = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]
# PNG images in class subfolders, labels as text ("NAME LABEL").
with open(f"{work}/labels.txt", "w") as out:
    out.write("# Fashion-MNIST test images 0..199\n")
    for i, (im, lab) in enumerate(zip(images, labels)):
        name = f"{names[lab]}/{i:05d}.png"
        os.makedirs(f"{work}/png/{names[lab]}", exist_ok=True)
        Image.fromarray(im).save(f"{work}/png/{name}")
        out.write(f"{name} {lab}\n")
# The same images as normalised float32 samples: 50 .npy files, and 150 more as arrays of three .npz archives
# (one stored, two compressed), labels as JSON.
x = ((images.astype(np.float32) / 255 - np.float32(0.2860)) / np.float32(0.3530)).reshape(n, 1, 28, 28)
os.makedirs(f"{work}/npz")
lab = {}
for i in range(50):
    np.save(f"{work}/npz/{i:05d}.npy", x[i])
    lab[f"{i:05d}.npy"] = int(labels[i])
for k, (lo, hi) in enumerate([(50, 100), (100, 150), (150, 200)]):
    arrays = {f"s{i:05d}": x[i] for i in range(lo, hi)}
    (np.savez if k == 0 else np.savez_compressed)(f"{work}/npz/part{k}.npz", **arrays)
    lab.update({f"part{k}.npz:s{i:05d}": int(labels[i]) for i in range(lo, hi)})
json.dump(lab, open(f"{work}/labels.json", "w"))
PYEOF
check "export" test $? -eq 0

metric=top1,top3,f1
idx=$("$QUAC" evaluate "$MODEL" --data "idx:$FMNIST,split=test,mean=0.2860,std=0.3530,limit=200" --metric $metric --json)
check "idx evaluate" test $? -eq 0
png=$("$QUAC" evaluate "$MODEL" --data "images:$work/png,labels=$work/labels.txt,mean=0.2860,std=0.3530" \
  --metric $metric --json)
check "images evaluate exits 0" test $? -eq 0
npz=$("$QUAC" evaluate "$MODEL" --data "npz:$work/npz,labels=$work/labels.json" --metric $metric --json)
check "npz evaluate exits 0" test $? -eq 0
# The image folder resizes to the model's 28x28 (a no-op here) and reads gray from the model's channel dimension.
"$QUAC" evaluate "$MODEL" --data "images:$work/png,labels=$work/labels.txt,size=28x28,channels=gray,layout=nchw,mean=0.2860,std=0.3530" \
  --metric top1 --quiet >"$work/text.txt"
check "images with every option" test $? -eq 0
check "text output lists top1" grep -q "top1" "$work/text.txt"
$PY - "$idx" "$png" "$npz" <<'PYEOF'
import json, sys
idx, png, npz = (json.loads(a) for a in sys.argv[1:])
print(f"cnn on 200 Fashion-MNIST test images: idx {idx['metrics']}, png {png['metrics']}, npz {npz['metrics']}")
assert idx["items"] == png["items"] == npz["items"] == 200
assert set(idx["metrics"]) == {"top1", "top3", "f1", "precision", "recall"}, idx["metrics"]
for name, v in idx["metrics"].items():
    assert abs(png["metrics"][name] - v) < 1e-12, (name, v, png["metrics"][name])
    assert abs(npz["metrics"][name] - v) < 1e-12, (name, v, npz["metrics"][name])
assert idx["metrics"]["top1"] > 0.85, idx["metrics"]
assert idx["attributes"]["top1"] == {"direction": "higher-better", "type": "accuracy", "per_sample": True}
assert idx["attributes"]["f1"]["per_sample"] is False
PYEOF
check "same metrics from idx, images and npz" test $? -eq 0

"$QUAC" evaluate --help >"$work/help.txt"
check "evaluate --help documents images:" grep -q "images:DIR" "$work/help.txt"
check "evaluate --help documents labels files" grep -q "Labels file" "$work/help.txt"
"$QUAC" --help >"$work/help.txt"
check "quac --help mentions npz:" grep -q "npz:DIR" "$work/help.txt"

# Bad input: exit 2, one line naming the file.
bad() {  # bad NAME NEEDLE SPEC
  "$QUAC" evaluate "$MODEL" --data "$3" --quiet >/dev/null 2>"$work/err.txt"
  local code=$?
  check "$1 exits 2" test $code -eq 2
  check "$1 names $2" grep -q "$2" "$work/err.txt"
  check "$1 one line" test "$(wc -l <"$work/err.txt")" -eq 1
}
printf 'not a png' >"$work/png/bag/99999.png"
echo "bag/99999.png 8" >>"$work/labels.txt"
bad "corrupt image" "99999.png" "images:$work/png,labels=$work/labels.txt"
head -c 300 "$work/npz/part1.npz" >"$work/npz/part1.npz.tmp" && mv "$work/npz/part1.npz.tmp" "$work/npz/part1.npz"
bad "truncated npz" "part1.npz" "npz:$work/npz,labels=$work/labels.json"
rm "$work/png/bag/99999.png"
bad "label without image" "99999.png" "images:$work/png,labels=$work/labels.txt"
echo "../../etc/passwd.png 1" >"$work/escape.txt"
bad "escaping label" "outside" "images:$work/png,labels=$work/escape.txt"
bad "size that does not fit" "size 32x32" "images:$work/png,size=32x32"
bad "missing folder" "nowhere" "images:$work/nowhere"

finish cli_datasets
