#!/usr/bin/env bash
# End-to-end checks of the quac command line: help, inspect, run, benchmark, and bad input (exit 2, one clear line,
# nothing written). Usage: cli_basic.sh QUAC_BINARY SOURCE_DIR
set -uo pipefail
QUAC=$1
PY=/usr/bin/python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/lib/check.sh"

# A model whose output name needs sanitising, with a dynamic batch dimension.
$PY - "$work" <<'PYEOF'
import sys, numpy as np, onnx
from onnx import helper, TensorProto
d = sys.argv[1]
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])
y = helper.make_tensor_value_info("out/y:0", TensorProto.FLOAT, ["N", 3])
g = helper.make_graph([helper.make_node("Identity", ["x"], ["out/y:0"], name="id")], "g", [x], [y])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
onnx.save(m, d + "/id.onnx")
np.save(d + "/x.npy", np.arange(6, dtype=np.float32).reshape(2, 3))
np.save(d + "/bad.npy", np.zeros((2, 4), dtype=np.float32))
PYEOF

"$QUAC" --help >"$work/help.txt"; check "help exits 0" test $? -eq 0
check "help lists run" grep -q "run" "$work/help.txt"
for sub in run benchmark inspect; do
  "$QUAC" "$sub" --help >/dev/null; check "$sub --help" test $? -eq 0
done

"$QUAC" inspect "$work/id.onnx" >"$work/inspect.txt"; check "inspect exits 0" test $? -eq 0
check "inspect shows dynamic dim" grep -q "\[N,3\]" "$work/inspect.txt"
"$QUAC" inspect "$work/id.onnx" --json | $PY -c 'import json,sys; j=json.load(sys.stdin); assert j["op_counts"]["Identity"]==1'
check "inspect --json" test $? -eq 0
"$QUAC" benchmark "$work/id.onnx" --shape x=2x3 -n 3 -w 1 --profile --json |
  $PY -c 'import json,sys; p=json.load(sys.stdin)["profile"]; assert {"by_op","slowest_nodes","total_ms_per_run","nodes"} <= p.keys(), p; assert all({"node","op","kernel","ms_per_run"} <= n.keys() for n in p["nodes"]), p'
check "benchmark --profile --json" test $? -eq 0

mkdir "$work/out"
"$QUAC" run "$work/id.onnx" --input x="$work/x.npy" --output-dir "$work/out" >/dev/null; check "run exits 0" test $? -eq 0
check "run sanitises output name" test -f "$work/out/out_y_0.npy"
$PY -c "import numpy as np,sys; a=np.load('$work/out/out_y_0.npy'); assert (a==np.arange(6).reshape(2,3)).all()"
check "run output values" test $? -eq 0

"$QUAC" benchmark "$work/id.onnx" --shape x=4x3 --iterations 5 --json >"$work/bench.json"; check "benchmark exits 0" test $? -eq 0
$PY -c "import json; j=json.load(open('$work/bench.json')); assert {'median_ms','p90_ms','throughput'} <= j.keys() and j['batch']==4"
check "benchmark --json keys" test $? -eq 0

# Bad input: exit code 2, one line on stderr naming the thing at fault, no output written.
mkdir "$work/out2"
"$QUAC" run "$work/missing.onnx" --input x="$work/x.npy" --output-dir "$work/out2" 2>"$work/err.txt"
check "missing model exits 2" test $? -eq 2
check "missing model named" grep -q "missing.onnx" "$work/err.txt"
check "missing model one line" test "$(wc -l <"$work/err.txt")" -eq 1
head -c 100 /dev/urandom >"$work/junk.onnx"
"$QUAC" inspect "$work/junk.onnx" 2>"$work/err.txt"; check "junk model exits 2" test $? -eq 2
check "junk model named" grep -q "junk.onnx" "$work/err.txt"
"$QUAC" run "$work/id.onnx" --input x="$work/bad.npy" --output-dir "$work/out2" 2>"$work/err.txt"
check "wrong shape exits 2" test $? -eq 2
check "wrong shape names input" grep -q "'x'" "$work/err.txt"
check "nothing written on error" test -z "$(ls -A "$work/out2")"
"$QUAC" run "$work/id.onnx" --input y="$work/x.npy" 2>"$work/err.txt"; check "unknown input exits 2" test $? -eq 2
"$QUAC" benchmark "$work/id.onnx" --iterations 0 2>/dev/null; check "bad flag value exits 2" test $? -eq 2
"$QUAC" frobnicate 2>/dev/null; check "unknown subcommand exits 2" test $? -eq 2

finish cli_basic
