'use strict';
// Turns run_bench.sh records into a markdown table and puts it between the fp32 markers of RESULTS.md.
// usage: node bench/write_results.js RECORDS.tsv RESULTS.md "INFO LINE"
// RECORDS.tsv lines: model<TAB>threads<TAB>engine (quac|ort)<TAB>JSON output or an error text; one line a round.
const { readRounds, summary, wins, writeBlock } = require('./lib/rounds');

const [recordsFile, resultsFile, info] = process.argv.slice(2);
if (!info) {
  console.error('usage: node bench/write_results.js RECORDS.tsv RESULTS.md "INFO LINE"');
  process.exit(2);
}

const ms = (s, k) => (s ? s[k].toFixed(2) : 'n/a');
const ratio = (a, b, k) => (a && b ? (a[k] / b[k]).toFixed(2) : 'n/a');
const lines = [
  '| model | threads | quac ms | ORT ms | quac/ORT | best round: quac ms | ORT ms | quac/ORT | rounds quac faster |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
];
for (const r of readRounds(recordsFile).values()) {
  const q = summary(r.engines.quac), o = summary(r.engines.ort);
  lines.push(`| ${r.model} | ${r.threads} | ${ms(q, 'median')} | ${ms(o, 'median')} | ${ratio(q, o, 'median')} | ` +
             `${ms(q, 'best')} | ${ms(o, 'best')} | ${ratio(q, o, 'best')} | ${wins(r.engines.quac, r.engines.ort)} |`);
}
const legend = 'quac ms / ORT ms: median over the rounds of each round\'s median latency; best round: the lowest of ' +
  'those medians for each engine (the round the machine disturbed least); rounds quac faster: rounds in which ' +
  'quac\'s median was below ORT\'s (the two ran back to back, in alternating order).';
writeBlock(resultsFile, '<!-- fp32-begin -->', '<!-- fp32-end -->', `${lines.join('\n')}\n\n${legend}\n${info}`);
console.log(`${lines.join('\n')}\n\n${info}`);
