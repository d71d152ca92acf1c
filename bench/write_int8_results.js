'use strict';
// Turns run_int8_bench.sh records into a markdown table between the int8 markers of RESULTS.md.
// usage: node bench/write_int8_results.js RECORDS.tsv RESULTS.md "INFO LINE"
// RECORDS.tsv lines: model<TAB>threads<TAB>engine (quac_int8|ort_int8|quac_fp32)<TAB>JSON output or "error"
const fs = require('fs');

const [recordsFile, resultsFile, info] = process.argv.slice(2);
if (!info) {
  console.error('usage: node bench/write_int8_results.js RECORDS.tsv RESULTS.md "INFO LINE"');
  process.exit(2);
}
const BEGIN = '<!-- int8-begin -->';
const END = '<!-- int8-end -->';

const rows = new Map();
for (const line of fs.readFileSync(recordsFile, 'utf8').split('\n').filter(Boolean)) {
  const [model, threads, engine, ...rest] = line.split('\t');
  const key = `${model}\t${threads}`;
  if (!rows.has(key)) rows.set(key, { model, threads });
  let v = rest.join('\t');
  try { v = JSON.parse(v).median_ms; } catch { /* keep the error text */ }
  rows.get(key)[engine] = v;
}

const num = (v) => typeof v === 'number';
const cell = (v) => (num(v) ? v.toFixed(2) : v === undefined ? 'n/a' : 'error');
const ratio = (a, b) => (num(a) && num(b) ? (a / b).toFixed(2) : 'n/a');
const lines = [
  '| model | threads | quac INT8 ms | ORT INT8 ms | quac INT8 / ORT INT8 | quac FP32 ms | quac FP32 / quac INT8 |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
];
for (const r of rows.values()) {
  lines.push(`| ${r.model} | ${r.threads} | ${cell(r.quac_int8)} | ${cell(r.ort_int8)} | ${ratio(r.quac_int8, r.ort_int8)} | ` +
             `${cell(r.quac_fp32)} | ${ratio(r.quac_fp32, r.quac_int8)} |`);
}
const block = `${BEGIN}\n${lines.join('\n')}\n\n${info}\n${END}`;
let doc = fs.existsSync(resultsFile) ? fs.readFileSync(resultsFile, 'utf8') : '# quac benchmark results\n';
const b = doc.indexOf(BEGIN);
const e = doc.indexOf(END);
if (b < 0 || e < b) doc = `${doc.trimEnd()}\n\n## INT8 (QDQ files quantized by quac): quac vs ONNX Runtime\n\n${block}\n`;
else doc = doc.slice(0, b) + block + doc.slice(e + END.length);
fs.writeFileSync(resultsFile, doc);
console.log(`${lines.join('\n')}\n\n${info}`);
