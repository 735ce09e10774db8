// Round trip: for every corpus line snout parses, printing the AST as HogQL
// (`snout hogql print`) and parsing that text again must give the same AST,
// positions ignored. A second print must also reproduce the first text
// exactly (the printer's output is canonical: a fixed point).
//
// Run: SNOUT_BIN=build/snout node --test tests/hogql/roundtrip.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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

function snout(cmd, text, expr) {
  const args = ['hogql', cmd];
  if (expr) args.push('--expr');
  if (cmd === 'parse') args.push('--no-positions');
  args.push('-');
  const r = spawnSync(bin, args, { input: text, encoding: 'utf8' });
  if (r.status !== 0 && r.status !== 1)
    throw new Error(`snout exited ${r.status} (signal ${r.signal}): ${r.stderr}`);
  return { ok: r.status === 0, out: r.stdout.replace(/\n$/, '') };
}

test('parse(print(parse(x))) == parse(x) for the corpus', { skip: !bin && 'SNOUT_BIN not set' }, () => {
  const failures = [];
  let checked = 0;
  for (const c of corpus()) {
    const first = snout('parse', c.text, c.expr);
    if (!first.ok) continue;
    const printed = snout('print', c.text, c.expr);
    assert.ok(printed.ok, `print failed for line ${c.lineno}`);
    const again = snout('parse', printed.out, c.expr);
    const reprinted = snout('print', printed.out, c.expr);
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
