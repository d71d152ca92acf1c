'use strict';
// Helper of ort_crosscheck.sh.
//   node ort_crosscheck.js images IDX_DIR OUT.npy    Fashion-MNIST t10k images -> float32 [N,1,28,28] (normalised)
//   node ort_crosscheck.js agree A.npy B.npy IDX_DIR top-1 agreement of two [N,C] logits files (and accuracies)
//   node ort_crosscheck.js ort MODEL X.npy OUT.npy LEVEL   ONNX Runtime (CPU, 2 threads) with graph optimization LEVEL
//                                                      (basic: QDQ run as float ops; all: fused into INT8 kernels)
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const { readNpy, writeNpy } = require(path.join(__dirname, '..', '..', 'bench', 'npy'));

function readIdx(dir, name) {
  for (const f of [name, name + '.gz']) {
    const p = path.join(dir, f);
    if (fs.existsSync(p)) return f.endsWith('.gz') ? zlib.gunzipSync(fs.readFileSync(p)) : fs.readFileSync(p);
  }
  throw new Error(`${dir}/${name}[.gz] not found`);
}

function argmax(a, row, c) {
  let best = 0;
  for (let k = 1; k < c; k++) if (a[row * c + k] > a[row * c + best]) best = k;
  return best;
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'images') {
  const buf = readIdx(args[0], 't10k-images-idx3-ubyte');
  const n = buf.readUInt32BE(4), h = buf.readUInt32BE(8), w = buf.readUInt32BE(12);
  const x = new Float32Array(n * h * w);
  for (let i = 0; i < x.length; i++) x[i] = (buf[16 + i] / 255 - 0.2860) / 0.3530;
  writeNpy(args[1], 'float32', [n, 1, h, w], x);
} else if (cmd === 'agree') {
  const a = readNpy(args[0]), b = readNpy(args[1]);
  const labels = readIdx(args[2], 't10k-labels-idx1-ubyte');
  const [n, c] = a.shape;
  if (b.shape[0] !== n || b.shape[1] !== c) throw new Error('logits shapes differ');
  let same = 0, ca = 0, cb = 0;
  for (let i = 0; i < n; i++) {
    const pa = argmax(a.data, i, c), pb = argmax(b.data, i, c);
    same += pa === pb;
    ca += pa === labels[8 + i];
    cb += pb === labels[8 + i];
  }
  console.log(JSON.stringify({ agreement: same / n, top1_a: ca / n, top1_b: cb / n, items: n }));
} else if (cmd === 'ort') {
  const ort = require(path.join(__dirname, '..', '..', 'bench', 'ort', 'node_modules', 'onnxruntime-node'));
  const [model, xfile, out, level] = args;
  (async () => {
    const session = await ort.InferenceSession.create(model, {
      executionProviders: ['cpu'], intraOpNumThreads: 2, interOpNumThreads: 1, graphOptimizationLevel: level,
    });
    const x = readNpy(xfile);
    const r = await session.run({ [session.inputNames[0]]: new ort.Tensor(x.type, x.data, x.shape) });
    const t = r[session.outputNames[0]];
    writeNpy(out, t.type, t.dims, t.data);
  })().catch((e) => { console.error(`error: ${e.message}`); process.exit(1); });
} else {
  console.error('usage: ort_crosscheck.js images IDX_DIR OUT.npy | agree A.npy B.npy IDX_DIR');
  process.exit(2);
}
