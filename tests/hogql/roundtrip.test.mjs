// Round trip: for every corpus line snout parses, printing the AST as HogQL
// (`snout hogql print`) and parsing that text again must give the same AST,
// positions ignored. A second print must also reproduce the first text
// exactly (the printer's output is canonical: a fixed point).
//
// Run: SNOUT_BIN=build/snout node --test tests/hogql/roundtrip.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hogqlMany } from './lines.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const bin = process.env.SNOUT_BIN;

function corpus() {
  const cases = [];
  readFileSync(join(here, 'corpus.txt'), 'utf8').split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' || line.startsWith('#')) return;
    const expr = line.startsWith('expr:');
    cases.push({ lineno: i + 1, expr, text: expr ? line.slice(5) : line });
  });
  return cases;
}

// parse and print of many texts in one snout process (`snout hogql --lines`).
function snoutAll(cmd, items) {
  return hogqlMany(bin, items.map((c) =>
    [cmd, ...(c.expr ? ['--expr'] : []), ...(cmd === 'parse' ? ['--no-positions'] : []), c.text]))
    .map((r) => {
      if (r.status !== 0 && r.status !== 1) throw new Error(`snout hogql ${cmd}: status ${r.status}: ${r.error}`);
      return { ok: r.status === 0, out: r.stdout };
    });
}

test('parse(print(parse(x))) == parse(x) for the corpus', { skip: !bin && 'SNOUT_BIN not set' }, () => {
  const failures = [];
  let checked = 0;
  const cases = corpus();
  const firsts = snoutAll('parse', cases), prints = snoutAll('print', cases);
  const parsed = cases.filter((c, k) => firsts[k].ok);
  for (const [k, c] of cases.entries()) if (firsts[k].ok) assert.ok(prints[k].ok, `print failed for line ${c.lineno}`);
  const printedCases = parsed.map((c) => ({ expr: c.expr, text: prints[cases.indexOf(c)].out }));
  const agains = snoutAll('parse', printedCases), reprints = snoutAll('print', printedCases);
  for (const [k, c] of parsed.entries()) {
    const first = firsts[cases.indexOf(c)], printed = prints[cases.indexOf(c)];
    const again = agains[k], reprinted = reprints[k];
    let why = null;
    if (!again.ok) why = `printed text does not parse: ${again.out}`;
    else if (JSON.stringify(JSON.parse(again.out)) !== JSON.stringify(JSON.parse(first.out)))
      why = `AST differs\n  before: ${first.out}\n  after:  ${again.out}`;
    else if (reprinted.out !== printed.out)
      why = `not a fixed point: ${JSON.stringify(reprinted.out)}`;
    if (why) failures.push(`line ${c.lineno}: ${JSON.stringify(c.text)}\n  printed: ${JSON.stringify(printed.out)}\n  ${why}`);
    checked++;
  }
  console.log(`hogql round trip: ${checked} parsed corpus entries, ${failures.length} failures`);
  assert.ok(checked >= 300, `only ${checked} corpus entries parse`);
  assert.equal(failures.length, 0, failures.join('\n\n'));
});
