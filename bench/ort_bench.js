'use strict';
// Times ONNX Runtime (CPU) on one model and prints one JSON line.
const USAGE = 'usage: node bench/ort_bench.js MODEL.onnx --threads T --iterations K [--warmup W] [--shape name=1x3x224x224 ...] [--profile PREFIX]';
const path = require('path');

function loadOrt() {
  try {
    return require(path.join(__dirname, 'ort', 'node_modules', 'onnxruntime-node'));
  } catch (e) {
    console.error(`onnxruntime-node not found (${e.message}); run bench/install-ort.sh`);
    process.exit(2);
  }
}

function parseArgs(argv) {
  const opts = { model: null, threads: 1, iterations: 50, warmup: 5, shapes: {}, profile: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--threads') opts.threads = Number(val());
    else if (a === '--iterations') opts.iterations = Number(val());
    else if (a === '--warmup') opts.warmup = Number(val());
    else if (a === '--profile') opts.profile = val();  // ORT's per-node JSON trace, written as PREFIX_<date>.json
    else if (a === '--shape') {
      const m = /^([^=]+)=(\d+(?:x\d+)*)?$/.exec(val());
      if (!m) throw new Error('--shape expects name=DxDxD');
      opts.shapes[m[1]] = m[2] ? m[2].split('x').map(Number) : [];
    } else if (a === '-h' || a === '--help') { console.log(USAGE); process.exit(0); }
    else if (a.startsWith('-') || opts.model) throw new Error(`unexpected argument ${a}`);
    else opts.model = a;
  }
  if (!opts.model) throw new Error('missing MODEL');
  for (const k of ['threads', 'iterations', 'warmup']) {
    if (!Number.isInteger(opts[k]) || opts[k] < (k === 'warmup' ? 0 : 1)) throw new Error(`bad --${k}`);
  }
  return opts;
}

function randn() { // Box-Muller
  const u = 1 - Math.random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * Math.random());
}

const RANDOM = {
  float32: [Float32Array, randn], float64: [Float64Array, randn],
  uint8: [Uint8Array, () => Math.floor(Math.random() * 256)],
  int8: [Int8Array, () => Math.floor(Math.random() * 256) - 128],
  int32: [Int32Array, () => Math.floor(Math.random() * 10)],
  int64: [BigInt64Array, () => BigInt(Math.floor(Math.random() * 10))],
  bool: [Uint8Array, () => (Math.random() < 0.5 ? 1 : 0)],
};

function makeFeeds(ort, session, shapes) {
  const feeds = {};
  for (const meta of session.inputMetadata) {
    if (!meta.isTensor) throw new Error(`input ${meta.name} is not a tensor`);
    if (!RANDOM[meta.type]) throw new Error(`input ${meta.name}: unsupported type ${meta.type}`);
    const dims = shapes[meta.name] ?? meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : 1));
    const [Ctor, gen] = RANDOM[meta.type];
    const data = new Ctor(dims.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = gen();
    feeds[meta.name] = new ort.Tensor(meta.type, data, dims);
  }
  for (const name of Object.keys(shapes)) {
    if (!session.inputNames.includes(name)) throw new Error(`--shape: model has no input ${name}`);
  }
  return feeds;
}

// Percentile of an ascending array, linear interpolation (numpy's default).
function percentile(sorted, p) {
  const x = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(x);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (x - lo);
}

async function main() {
  let opts;
  try { opts = parseArgs(process.argv.slice(2)); } catch (e) { console.error(`${e.message}\n${USAGE}`); process.exit(2); }
  const ort = loadOrt();
  const session = await ort.InferenceSession.create(opts.model, {
    executionProviders: ['cpu'], intraOpNumThreads: opts.threads, interOpNumThreads: 1,
    graphOptimizationLevel: 'all', executionMode: 'sequential',
    ...(opts.profile ? { enableProfiling: true, profileFilePrefix: opts.profile } : {}),
  });
  const feeds = makeFeeds(ort, session, opts.shapes);
  for (let i = 0; i < opts.warmup; i++) await session.run(feeds);
  const times = [];
  for (let i = 0; i < opts.iterations; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const total = times.reduce((a, b) => a + b, 0);
  times.sort((a, b) => a - b);
  const r = (x) => Math.round(x * 1000) / 1000;
  console.log(JSON.stringify({
    median_ms: r(percentile(times, 50)), p90_ms: r(percentile(times, 90)), min_ms: r(times[0]),
    throughput: r((1000 * opts.iterations) / total), // timed runs per second
    iterations: opts.iterations, threads: opts.threads,
  }));
  if (opts.profile) session.endProfiling();
  await session.release();
}

main().catch((e) => { console.error(`error: ${e.message}`); process.exit(1); });
