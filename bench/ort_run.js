'use strict';
// Runs a model once with ONNX Runtime (CPU) on .npy inputs; writes every output as DIR/<name>.npy.
const USAGE = 'usage: node bench/ort_run.js MODEL.onnx --input name=file.npy [--input ...] --output-dir DIR [--threads T]';
const fs = require('fs');
const path = require('path');
const { readNpy, writeNpy } = require('./npy');

function parseArgs(argv) {
  const opts = { model: null, inputs: {}, outDir: null, threads: 1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--input') {
      const v = val();
      const eq = v.indexOf('=');
      if (eq <= 0) throw new Error('--input expects name=file.npy');
      opts.inputs[v.slice(0, eq)] = v.slice(eq + 1);
    } else if (a === '--output-dir') opts.outDir = val();
    else if (a === '--threads') opts.threads = Number(val());
    else if (a === '-h' || a === '--help') { console.log(USAGE); process.exit(0); }
    else if (a.startsWith('-') || opts.model) throw new Error(`unexpected argument ${a}`);
    else opts.model = a;
  }
  if (!opts.model || !opts.outDir) throw new Error('missing MODEL or --output-dir');
  return opts;
}

async function main() {
  let opts;
  try { opts = parseArgs(process.argv.slice(2)); } catch (e) { console.error(`${e.message}\n${USAGE}`); process.exit(2); }
  let ort;
  try {
    ort = require(path.join(__dirname, 'ort', 'node_modules', 'onnxruntime-node'));
  } catch (e) {
    console.error(`onnxruntime-node not found (${e.message}); run bench/install-ort.sh`);
    process.exit(2);
  }
  const session = await ort.InferenceSession.create(opts.model, {
    executionProviders: ['cpu'], intraOpNumThreads: opts.threads, interOpNumThreads: 1,
    graphOptimizationLevel: 'all', executionMode: 'sequential',
  });
  const missing = session.inputNames.filter((n) => !(n in opts.inputs));
  if (missing.length) throw new Error(`missing --input for: ${missing.join(', ')}`);
  const feeds = {};
  for (const [name, file] of Object.entries(opts.inputs)) {
    if (!session.inputNames.includes(name)) throw new Error(`model has no input ${name} (inputs: ${session.inputNames.join(', ')})`);
    const a = readNpy(file);
    feeds[name] = new ort.Tensor(a.type, a.data, a.shape);
  }
  const results = await session.run(feeds);
  fs.mkdirSync(opts.outDir, { recursive: true });
  for (const name of session.outputNames) {
    const t = results[name];
    // Output names may contain characters that are unsafe in file names.
    const file = path.join(opts.outDir, `${name.replace(/[^A-Za-z0-9._-]/g, '_')}.npy`);
    writeNpy(file, t.type, t.dims, t.data);
    console.log(`${name}: ${t.type} [${t.dims.join(', ')}] -> ${file}`);
  }
  await session.release();
}

main().catch((e) => { console.error(`error: ${e.message}`); process.exit(1); });
