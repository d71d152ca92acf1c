#!/usr/bin/env bash
# Accuracy-aware quantization end to end: the MobileNet fixture with a global min/max activation range (which full
# INT8 breaks) on 300 Fashion-MNIST test images, budget 0.01. The budget is then checked by an
# independent 'quac evaluate' of the written file; the report (JSON + HTML) is checked; an unreachable budget exits
# 3 and still writes the best model. Usage: cli_accuracy.sh QUAC_BINARY SOURCE_DIR
set -euo pipefail
QUAC=$1
SRC=$2
PY=/usr/bin/python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
FMNIST=/usr/share/datasets/fashion-mnist
MODEL=$SRC/tests/data/fixtures/mobilenet.onnx
DATA="idx:$FMNIST,split=test,mean=0.2860,std=0.3530,limit=300"
CALIB="idx:$FMNIST,split=train,mean=0.2860,std=0.3530,limit=100"
passed=0
refute() {  # refute PATTERN FILE: fails when PATTERN is in FILE (`! grep` would not stop a `set -e` script)
  if grep -q -- "$1" "$2"; then
    echo "unexpected '$1' in $2:"
    cat "$2"
    exit 1
  fi
}

# 1. POT-style config selecting AccuracyAwareQuantization with full BiasCorrection (use_fast_bias false), which
# corrects each layer for the error of every quantized layer above it: each variant the search checks gets its own
# corrections. (With the base algorithm's corrections kept, they went stale as layers were reverted and this config
# ended with all 18 groups reverted; the assertion on groups_reverted below catches that.)
cat >"$work/aaq.json" <<JSON
{"model": {"model_name": "mobilenet", "model": "$MODEL"},
 "engine": {"data_source": "$DATA", "metric": "top1"},
 "compression": {"target_device": "CPU", "algorithms": [{"name": "AccuracyAwareQuantization", "params": {
   "maximal_drop": 0.01, "ranking_subset_size": 60, "stat_subset_size": 100, "use_fast_bias": false,
   "activations": {"range_estimator": {"min": {"aggregator": "min"}, "max": {"aggregator": "max"}}}}}]}}
JSON
"$QUAC" quantize -c "$work/aaq.json" --calib-data "$CALIB" -t 1 -o "$work/aaq.onnx" --report "$work/report.json" --log-level debug \
  2>"$work/log.txt" >"$work/out.txt" || { cat "$work/log.txt"; exit 1; }
grep -q "iteration 1" "$work/log.txt"  # progress/log lines on stderr
grep -q "^\[quac\]   rank 1: " "$work/log.txt"   # --log-level debug: every group's ranking score
# The whole search's progress: phase, iteration, items done, time left from the measured speed.
grep -Eq "search, iteration 0 of at most [0-9]+: rank [0-9]+ groups on 60 items; [0-9,]+ items done in [0-9:]+; [0-9:]+ left at most \([0-9,]+ items at [0-9,]+ items/s" "$work/log.txt"
grep -Eq "search, iteration 1 of at most [0-9]+: revert .*, check on 300 items; [0-9,]+ items done" "$work/log.txt"
grep -q "search, iteration [0-9]*: done (within budget)" "$work/log.txt"
# The final table: FP32, full INT8, result, and whether the result is faster than FP32 (a warning on stderr if not).
grep -Eq "^FP32 +0\.[0-9]{4} +- +all +[0-9.]+ +1\.00x" "$work/out.txt"
grep -Eq "^full INT8 +0\.[0-9]{4} +0\.[0-9]{4} +0 of [0-9]+ " "$work/out.txt"
grep -Eq "^result +0\.[0-9]{4} +0\.[0-9]{4} +[0-9]+ of [0-9]+ " "$work/out.txt"
if grep -q "The result is NOT faster than FP32" "$work/out.txt"; then
  grep -q "warning: the result (.*) is not faster than FP32" "$work/log.txt"
else
  grep -q "The result is faster than FP32: " "$work/out.txt"
  refute "warning: the result" "$work/log.txt"
fi
test -s "$work/aaq.onnx" && test -s "$work/report.html"
fp=$("$QUAC" evaluate "$MODEL" --data "$DATA" --json)
q=$("$QUAC" evaluate "$work/aaq.onnx" --data "$DATA" --json)
$PY - "$fp" "$q" "$work/report.json" "$work/report.html" <<'PY'
import json, sys
fp, q = (json.loads(a)["metrics"]["top1"] for a in sys.argv[1:3])
report = json.load(open(sys.argv[3]))
html = open(sys.argv[4]).read()
res = report["result"]
print(f"mobilenet (global min/max) on 300 images: FP32 {fp:.4f}, full INT8 {res['int8']['metrics']['top1']:.4f}, "
      f"result {q:.4f}; {res['groups']}, {res['inferences']} inferences")
assert res["budget_met"] is True, res
assert fp - q <= 0.01 + 1e-9, (fp, q)                        # independent check of the written file
assert abs(q - res["result"]["metrics"]["top1"]) < 1e-9, q   # the search measured what was written
assert res["int8"]["drops"]["top1"] > 0.01, res["int8"]      # full INT8 really broke the budget
assert res["groups_reverted"] >= 1 and res["groups_reverted"] < res["groups_total"], res
assert res["groups"] == f"{res['groups_reverted']} of {res['groups_total']} groups reverted"
assert res["layers"] == f"{res['layers_reverted']} of {res['layers_total']} layers reverted", res["layers"]
assert res["groups_reverted"] <= res["layers_reverted"] < res["layers_total"], res
assert f"({res['layers_reverted']} of {res['layers_total']} layers)" in res["summary"], res["summary"]
evals = report["evaluations"]
assert [e["phase"] for e in evals[:2]] == ["reference", "quantized"], evals[:2]
for e in evals:
    assert {"quantized_groups", "metrics", "drops", "seconds", "inferences"} <= e.keys(), e
assert report["rankings"] and report["rankings"][0]["scores"], "no ranking recorded"
for key in ("fp32", "int8", "result"):
    assert res[key]["latency_ms"] > 0, key
assert res["wall_seconds"] > 0 and res["inferences"] > 600
assert "<svg" in html and "<script" not in html and "src=" not in html and "Latency" in html
PY
passed=$((passed + 1))

# 2. Flags only (POT's default preset), relative budget: a tight budget (0.3% of
# the baseline) forces reverts.
"$QUAC" quantize "$MODEL" --data "$DATA" --calib-data "$CALIB" -t 1 --metric top1 --max-drop 0.003 --drop-type relative \
  --ranking-subset-size 30 --ranking-method kl --quiet -o "$work/flags.onnx" --report "$work/flags.json" 2>"$work/quiet.txt"
test ! -s "$work/quiet.txt" # --quiet: no progress, no log lines, no warnings
$PY - "$work/flags.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
m = r["metrics"]["top1"]
assert r["maximal_drop"] == 0.003 and r["drop_type"] == "relative", r["maximal_drop"]
assert r["ranking"]["method"] == "kl" and r["rankings"][0]["method"] == "kl", r["ranking"]
assert abs(m["allowed_drop"] - 0.003 * m["baseline"]) < 1e-12, m
assert r["result"]["budget_met"] is True and r["result"]["result"]["drops"]["top1"] <= m["allowed_drop"] + 1e-9, r
PY
test -s "$work/flags.onnx"
passed=$((passed + 1))

# 2b. POT's engine layout with a dataset reader and accuracy checker's preprocessing (pixel-unit normalization):
# the same data as the spec above. --log-level warning drops the log lines but keeps the progress;
# dump_intermediate_model writes the fully quantized model (iteration 0) beside the output.
cat >"$work/reader.json" <<JSON
{"model": {"model_name": "mobilenet", "model": "$MODEL"},
 "engine": {"data_source": "$FMNIST", "reader": {"type": "idx", "split": "test", "limit": 300},
            "preprocessing": [{"type": "normalization", "mean": 72.93, "std": "90.015"}], "metric": "top1"},
 "compression": {"algorithms": [{"name": "AccuracyAwareQuantization", "params": {
   "maximal_drop": 1.0, "stat_subset_size": 50, "dump_intermediate_model": true}}]}}
JSON
"$QUAC" quantize -c "$work/reader.json" -t 1 --log-level warning -o "$work/reader.onnx" --report "$work/reader_r.json" \
  2>"$work/reader_log.txt" >/dev/null
grep -q "search, iteration 0" "$work/reader_log.txt"
refute "quantizing with\|reference: top1" "$work/reader_log.txt"
fp_spec=$("$QUAC" evaluate "$MODEL" --data "$DATA" --json --quiet)
int8_dump=$("$QUAC" evaluate "$work/reader_intermediate/iteration_0.onnx" --data "$DATA" --json --quiet)
$PY - "$work/reader_r.json" "$fp_spec" "$int8_dump" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
fp, dump = (json.loads(a)["metrics"]["top1"] for a in sys.argv[2:4])
assert r["items"] == 300 and abs(r["result"]["fp32"]["metrics"]["top1"] - fp) < 1e-12, (r["dataset"], fp)
assert abs(r["result"]["int8"]["metrics"]["top1"] - dump) < 1e-12, (r["result"]["int8"], dump)
assert r["intermediate_models"].endswith("reader_intermediate"), r["intermediate_models"]
PY
passed=$((passed + 1))

# 2c. The images reader (accuracy checker's pillow_imread) with resize (shorter side), crop and normalization: the
# same items as the equivalent images spec, so the same calibration gives the same file.
$PY - "$work/imgs" <<'PY'
import numpy as np, os, sys
d = sys.argv[1]
os.makedirs(d)
rng = np.random.default_rng(1)
with open(f"{d}/labels.txt", "w") as labels:
    for i in range(24):
        img = rng.integers(0, 256, (36, 40), dtype=np.uint8)
        with open(f"{d}/{i:02d}.pgm", "wb") as f:
            f.write(b"P5\n40 36\n255\n" + img.tobytes())
        labels.write(f"{i:02d}.pgm {rng.integers(0, 10)}\n")
PY
cat >"$work/images.json" <<JSON
{"model": {"model": "$MODEL"},
 "engine": {"data_source": "$work/imgs", "reader": {"type": "pillow_imread", "labels": "$work/imgs/labels.txt"},
            "preprocessing": [{"type": "resize", "size": 32, "aspect_ratio_scale": "greater"},
                              {"type": "crop", "size": 28},
                              {"type": "normalization", "mean": [72.93], "std": "90.015"}], "metric": "top1"},
 "compression": {"algorithms": [{"name": "AccuracyAwareQuantization", "params": {"maximal_drop": 1.0,
   "stat_subset_size": 24}}]}}
JSON
"$QUAC" quantize -c "$work/images.json" -t 1 --quiet -o "$work/images.onnx" --report "$work/images_r.json" >/dev/null
spec="images:$work/imgs,labels=$work/imgs/labels.txt,shorter=32,crop=28x28,scale=1,mean=72.93,std=90.015"
"$QUAC" quantize "$MODEL" --data "$spec" -t 1 --quiet --metric top1 --max-drop 1.0 --stat-subset-size 24 \
  -o "$work/images_spec.onnx" --report "$work/images_spec_r.json" >/dev/null
$PY - "$work/images_r.json" "$work/images_spec_r.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["items"] == b["items"] == 24, (a["items"], b["items"])
for k in ("fp32", "int8"):
    assert a["result"][k]["metrics"] == b["result"][k]["metrics"], (k, a["result"][k], b["result"][k])
PY
cmp "$work/images.onnx" "$work/images_spec.onnx"
passed=$((passed + 1))

# 3. An unreachable budget: one clear line, exit 3, the best model and the report still written.
# 2-bit weights and activations: one revert (max_iter_num 1) cannot bring the model back within 1%.
cat >"$work/twobit.json" <<JSON
{"model": {"model": "$MODEL"}, "engine": {"data_source": "$DATA", "metric": "top1"},
 "compression": {"algorithms": [{"name": "AccuracyAwareQuantization", "params": {
   "maximal_drop": 0.01, "max_iter_num": 1, "ranking_subset_size": 30, "stat_subset_size": 100,
   "use_fast_bias": false, "weights": {"bits": 2}, "activations": {"bits": 2}}}]}}
JSON
set +e
"$QUAC" quantize -c "$work/twobit.json" --calib-data "$CALIB" -t 1 --quiet -o "$work/none.onnx" --report "$work/none.json" \
  2>"$work/err.txt" >/dev/null
code=$?
set -e
test "$code" -eq 3 || { cat "$work/err.txt"; exit 1; }
test "$(grep -c . "$work/err.txt")" -eq 1
grep -q "accuracy budget not met" "$work/err.txt"
test -s "$work/none.onnx" && test -s "$work/none.json"
$PY -c "import json,sys; r=json.load(open(sys.argv[1]))['result']; assert r['budget_met'] is False and r['iterations'] == 1, r" \
  "$work/none.json"
passed=$((passed + 1))

# 4. Bad input: a clear error, exit 2, nothing written.
$PY - "$work" <<'PY'
import numpy as np, os, sys
w = sys.argv[1]
rng = np.random.default_rng(0)
def write(name, x, y=None):
    os.makedirs(f"{w}/{name}", exist_ok=True)
    np.save(f"{w}/{name}/x.npy", x)
    if y is not None:
        np.save(f"{w}/{name}/y.npy", y)
x = rng.standard_normal((40, 1, 28, 28)).astype(np.float32)
y = rng.integers(0, 10, 40).astype(np.int64)
write("good", x, y)
write("shape", rng.standard_normal((40, 1, 27, 27)).astype(np.float32), y)
nan = x.copy(); nan[5, 0, 3, 3] = np.nan
write("nan", nan, y)
write("noann", x)
write("empty", x[:0], y[:0])
PY
# annotation_free: data without labels is fine; the FP32 model's confident predictions label it.
cat >"$work/nolabels.json" <<JSON
{"model": {"model": "$MODEL"}, "engine": {"data_source": "npy:$work/noann", "metric": "top1"},
 "compression": {"algorithms": [{"name": "AccuracyAwareQuantization", "params": {
   "maximal_drop": 1.0, "stat_subset_size": 20, "annotation_free": true, "annotation_conf_threshold": 0.0}}]}}
JSON
"$QUAC" quantize -c "$work/nolabels.json" -t 1 --quiet -o "$work/nolabels.onnx" --report "$work/nolabels_r.json" >/dev/null
grep -q "annotation_free: 40 of 40 items labelled by the FP32 model" "$work/nolabels_r.json"
passed=$((passed + 1))

expect_bad() {  # expect_bad NAME PATTERN ARGS...: exit 2, PATTERN in the message, no output file
  local name=$1 pattern=$2
  shift 2
  set +e
  "$QUAC" quantize "$@" --quiet -o "$work/bad_$name.onnx" --report "$work/bad_$name.json" 2>"$work/err_$name.txt"
  local code=$?
  set -e
  if [ "$code" -ne 2 ] || ! grep -qi -- "$pattern" "$work/err_$name.txt" || [ -e "$work/bad_$name.onnx" ] ||
    [ -e "$work/bad_$name.json" ]; then
    echo "bad input '$name': exit $code, expected 2 and '$pattern':"
    cat "$work/err_$name.txt"
    exit 1
  fi
  passed=$((passed + 1))
}
expect_bad shape "input" "$MODEL" --data "npy:$work/shape" --metric top1 --max-drop 0.01
expect_bad metric "mean_iou" "$MODEL" --data "npy:$work/good" --calib-data "$CALIB" --metric mean_iou --max-drop 0.01
expect_bad nan "nan" "$MODEL" --data "npy:$work/nan" --calib-data "$CALIB" --metric top1 --max-drop 0.01
expect_bad noann "annotations" "$MODEL" --data "npy:$work/noann" --calib-data "$CALIB" --metric top1 --max-drop 0.01
expect_bad empty "empty" "$MODEL" --data "npy:$work/empty" --calib-data "$CALIB" --metric top1 --max-drop 0.01
sed 's/"maximal_drop"/"maximal_drp"/' "$work/aaq.json" >"$work/typo.json"
expect_bad typo "unknown key 'maximal_drp'" -c "$work/typo.json"
expect_bad unknown_metric "top1" "$MODEL" --data "npy:$work/good" --metric top42x --max-drop 0.01
sed 's/"maximal_drop": 0.01/"maximal_drop": "1%"/' "$work/aaq.json" >"$work/type.json"
expect_bad wrong_type "params.maximal_drop: expected a number" -c "$work/type.json"
sed 's/"normalization"/"normalisation"/' "$work/reader.json" >"$work/prep.json"
expect_bad preprocessing "engine.preprocessing\[0\].type: 'normalisation' is not one of" -c "$work/prep.json"
# An output that cannot be written fails at once, before any search, naming the folder.
set +e
"$QUAC" quantize "$MODEL" --data "npy:$work/good" --metric top1 --max-drop 0.01 -o "$work/late.onnx" \
  --report "$work/nodir/r.json" 2>"$work/err_nodir.txt"
code=$?
set -e
test "$code" -eq 2
grep -q "nodir does not exist" "$work/err_nodir.txt"
refute "search," "$work/err_nodir.txt"
test ! -e "$work/late.onnx"
passed=$((passed + 1))
echo "cli_accuracy: $passed passed, 0 failed"
