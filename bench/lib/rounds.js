'use strict';
// Shared by the bench result writers: reads records (model<TAB>threads<TAB>engine<TAB>JSON or an error text), one
// line per timed command, several per (model, threads, engine) when the script ran more than one round, in round
// order. The machine's load drifts between rounds, so each pair of engines is summarised three ways: the median of
// the rounds' medians, the best round of each (the least disturbed), and how many rounds one engine won.
const fs = require('fs');

// Map "model\tthreads" -> {model, threads, engines: {engine: [median_ms or null per round]}}, in first-seen order.
function readRounds(file) {
  const rows = new Map();
  for (const line of fs.readFileSync(file, 'utf8').split('\n').filter(Boolean)) {
    const [model, threads, engine, ...rest] = line.split('\t');
    const key = `${model}\t${threads}`;
    if (!rows.has(key)) rows.set(key, { model, threads, engines: {} });
    let v = null;
    try { v = JSON.parse(rest.join('\t')).median_ms; } catch { /* an error record */ }
    (rows.get(key).engines[engine] ||= []).push(typeof v === 'number' ? v : null);
  }
  return rows;
}

const ok = (xs) => Array.isArray(xs) && xs.length > 0 && xs.every((x) => typeof x === 'number');
function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
const summary = (xs) => (ok(xs) ? { median: median(xs), best: Math.min(...xs) } : null);
// Rounds in which engine a was faster than engine b, as "k of R".
function wins(a, b) {
  if (!ok(a) || !ok(b) || a.length !== b.length) return 'n/a';
  return `${a.filter((x, i) => x < b[i]).length} of ${a.length}`;
}

// Puts `block` between BEGIN and END in the results file (appending it under `heading` when the markers are absent).
function writeBlock(resultsFile, begin, end, block, heading) {
  let doc = fs.existsSync(resultsFile) ? fs.readFileSync(resultsFile, 'utf8') : '# quac benchmark results\n';
  const b = doc.indexOf(begin);
  const e = doc.indexOf(end);
  const text = `${begin}\n${block}\n${end}`;
  if (b < 0 || e < b) doc = `${doc.trimEnd()}\n\n${heading ? `${heading}\n\n` : ''}${text}\n`;
  else doc = doc.slice(0, b) + text + doc.slice(e + end.length);
  fs.writeFileSync(resultsFile, doc);
}

module.exports = { readRounds, summary, wins, writeBlock };
