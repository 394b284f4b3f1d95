#!/usr/bin/env node
// Runs Karu's tests with node's own test runner (through tsx for TypeScript).
//   unit: src/**/*.test.ts — no Docker, seconds
//   e2e:  test/**/*.test.ts — real Docker Engine and real processes, minutes
//   all:  both, unit first
// Extra arguments are passed to `node --test` (e.g. --test-name-pattern=store).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const mode = process.argv[2] ?? 'all';
const extra = process.argv.slice(3);

function find(dir, out = []) {
  let entries = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries.sort()) {
    if (name === 'node_modules') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) find(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const unit = find('src');
const e2e = find('test');
const runs = mode === 'unit' ? [['unit', unit]] : mode === 'e2e' ? [['e2e', e2e]] : [['unit', unit], ['e2e', e2e]];

let failed = false;
for (const [name, files] of runs) {
  if (files.length === 0) continue;
  console.log(`\n=== ${name} tests (${files.length} files)`);
  // e2e files share one Docker Engine: run them one at a time.
  const concurrency = name === 'e2e' ? ['--test-concurrency=1'] : [];
  // A test that hangs (a socket never answered) fails with a timeout instead of stalling CI.
  const timeout = [`--test-timeout=${name === 'e2e' ? 900_000 : 120_000}`, '--test-force-exit'];
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', ...concurrency, ...timeout, ...extra, ...files], { stdio: 'inherit' });
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
