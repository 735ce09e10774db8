// Differential test: snout's HogQL parser against PostHog's own
// (@posthog/hogql-parser, the WebAssembly build of the C++ parser that
// PostHog's server uses). Every line of corpus.txt is parsed by both; the
// ASTs must be equal as JSON values, positions included, or both must be
// errors. `expr:` lines are expressions, everything else a SELECT.
// A `# differs: <reason>` comment marks the next line as a known,
// deliberate difference: it is skipped and reported.
//
// Run: SNOUT_BIN=build/snout node --test tests/hogql/parse.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import createHogQLParser from '@posthog/hogql-parser';
import { hogqlMany } from './lines.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const bin = process.env.SNOUT_BIN;

function loadCorpus() {
  const cases = [];
  let differs = null;
  const lines = readFileSync(join(here, 'corpus.txt'), 'utf8').split('\n');
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = line.match(/^#\s*differs:\s*(.*)$/);
      if (m) differs = m[1];
      return;
    }
    const expr = line.startsWith('expr:');
    cases.push({ lineno: i + 1, expr, text: expr ? line.slice(5) : line, differs });
    differs = null;
  });
  return cases;
}

// Every case parsed by one snout process (`snout hogql --lines`).
function snoutAll(cases) {
  return hogqlMany(bin, cases.map((c) => ['parse', ...(c.expr ? ['--expr'] : []), c.text])).map((r) => {
    if (r.status !== 0 && r.status !== 1) throw new Error(`snout hogql parse: status ${r.status}: ${r.error}`);
    return { ok: r.status === 0, out: JSON.parse(r.stdout) };
  });
}

const cases = loadCorpus();

test('corpus is big enough', () => {
  assert.ok(cases.length >= 300, `only ${cases.length} corpus entries`);
});

test('snout parses like @posthog/hogql-parser', { skip: !bin && 'SNOUT_BIN not set' }, async () => {
  const parser = await createHogQLParser();
  const failures = [];
  let same = 0, skipped = 0;
  const results = snoutAll(cases);
  for (const [k, c] of cases.entries()) {
    if (c.differs) { skipped++; continue; }
    const theirs = JSON.parse(c.expr ? parser.parseExpr(c.text) : parser.parseSelect(c.text));
    const ours = results[k];
    const theirOk = !theirs.error;
    if (theirOk !== ours.ok) {
      failures.push(`line ${c.lineno}: ${JSON.stringify(c.text)}\n  posthog: ${JSON.stringify(theirs)}\n  snout:   ${JSON.stringify(ours.out)}`);
      continue;
    }
    if (theirOk) {
      try {
        assert.deepStrictEqual(ours.out, theirs);
      } catch {
        failures.push(`line ${c.lineno}: ${JSON.stringify(c.text)}\n  posthog: ${JSON.stringify(theirs)}\n  snout:   ${JSON.stringify(ours.out)}`);
        continue;
      }
    } else {
      assert.ok(typeof ours.out.error === 'string' && ours.out.error.length > 0);
      assert.ok(Number.isInteger(ours.out.start) && Number.isInteger(ours.out.end));
    }
    same++;
  }
  console.log(`hogql differential: ${same} equal, ${failures.length} different, ${skipped} skipped (# differs)`);
  assert.equal(failures.length, 0, `${failures.length} differences:\n\n${failures.join('\n\n')}`);
});
