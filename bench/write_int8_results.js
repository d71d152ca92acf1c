'use strict';
// Turns run_int8_bench.sh records into a markdown table between the int8 markers of RESULTS.md.
// usage: node bench/write_int8_results.js RECORDS.tsv RESULTS.md "INFO LINE"
// RECORDS.tsv lines: model<TAB>threads<TAB>engine (quac_int8|ort_int8|quac_fp32)<TAB>JSON output or an error text;
// one line a round.
const { readRounds, summary, wins, writeBlock } = require('./lib/rounds');

const [recordsFile, resultsFile, info] = process.argv.slice(2);
if (!info) {
  console.error('usage: node bench/write_int8_results.js RECORDS.tsv RESULTS.md "INFO LINE"');
  process.exit(2);
}

const ms = (s) => (s ? s.median.toFixed(2) : 'n/a');
const ratio = (a, b, k) => (a && b ? (a[k] / b[k]).toFixed(2) : 'n/a');
const lines = [
  '| model | threads | quac INT8 ms | ORT INT8 ms | quac INT8 / ORT INT8 (best round) | quac FP32 ms | ' +
    'quac FP32 / quac INT8 (best round) | rounds quac INT8 faster than ORT INT8 |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
];
for (const r of readRounds(recordsFile).values()) {
  const q8 = summary(r.engines.quac_int8), o8 = summary(r.engines.ort_int8), q32 = summary(r.engines.quac_fp32);
  lines.push(`| ${r.model} | ${r.threads} | ${ms(q8)} | ${ms(o8)} | ${ratio(q8, o8, 'median')} ` +
             `(${ratio(q8, o8, 'best')}) | ${ms(q32)} | ${ratio(q32, q8, 'median')} (${ratio(q32, q8, 'best')}) | ` +
             `${wins(r.engines.quac_int8, r.engines.ort_int8)} |`);
}
const legend = 'Times: median over the rounds of each round\'s median latency; in brackets the same ratio from each ' +
  'engine\'s best round (the round the machine disturbed least).';
writeBlock(resultsFile, '<!-- int8-begin -->', '<!-- int8-end -->', `${lines.join('\n')}\n\n${legend}\n${info}`,
           '## INT8 (QDQ files quantized by quac): quac vs ONNX Runtime');
console.log(`${lines.join('\n')}\n\n${info}`);
