'use strict';
// Turns run_bench.sh records into a markdown table and puts it between the fp32 markers of RESULTS.md.
// usage: node bench/write_results.js RECORDS.tsv RESULTS.md "INFO LINE"
// RECORDS.tsv lines: model<TAB>threads<TAB>engine (quac|ort)<TAB>JSON output, or "missing"/"error: ..."
const fs = require('fs');

const [recordsFile, resultsFile, info] = process.argv.slice(2);
if (!info) {
  console.error('usage: node bench/write_results.js RECORDS.tsv RESULTS.md "INFO LINE"');
  process.exit(2);
}
const BEGIN = '<!-- fp32-begin -->';
const END = '<!-- fp32-end -->';

const rows = new Map(); // "model\tthreads" -> {model, threads, quac, ort}
for (const line of fs.readFileSync(recordsFile, 'utf8').split('\n').filter(Boolean)) {
  const [model, threads, engine, ...rest] = line.split('\t');
  const key = `${model}\t${threads}`;
  if (!rows.has(key)) rows.set(key, { model, threads, quac: 'missing', ort: 'missing' });
  let v = rest.join('\t');
  try { v = JSON.parse(v).median_ms; } catch { /* keep the "missing"/"error" text */ }
  rows.get(key)[engine] = v;
}

const cell = (v) => (typeof v === 'number' ? v.toFixed(2) : v === 'missing' ? 'n/a' : 'error');
const lines = [
  '| model | threads | quac median ms | ORT median ms | ratio quac/ORT |',
  '| --- | ---: | ---: | ---: | ---: |',
];
for (const r of rows.values()) {
  const ratio = typeof r.quac === 'number' && typeof r.ort === 'number' ? (r.quac / r.ort).toFixed(2) : 'n/a';
  lines.push(`| ${r.model} | ${r.threads} | ${cell(r.quac)} | ${cell(r.ort)} | ${ratio} |`);
}
const block = `${BEGIN}\n${lines.join('\n')}\n\n${info}\n${END}`;

let doc = fs.existsSync(resultsFile) ? fs.readFileSync(resultsFile, 'utf8') : `# quac benchmark results\n\n${BEGIN}\n${END}\n`;
const b = doc.indexOf(BEGIN);
const e = doc.indexOf(END);
if (b < 0 || e < b) doc = `${doc.trimEnd()}\n\n${block}\n`;
else doc = doc.slice(0, b) + block + doc.slice(e + END.length);
fs.writeFileSync(resultsFile, doc);
console.log(`${lines.join('\n')}\n\n${info}`);
