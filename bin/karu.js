#!/usr/bin/env node
// The `karu` command. Runs the bundle dist/karu.mjs (`npm run build`) when it is newer
// than every file under src/, else src/cli/main.ts through tsx's loader — so an edit is
// never run stale. Either way in this process: stdin, stdout, signals and the exit code
// are the command's own. KARU_NO_BUNDLE=1 forces the sources.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const bundle = join(root, 'dist/karu.mjs');

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

const useBundle = process.env.KARU_NO_BUNDLE !== '1' && existsSync(bundle) && statSync(bundle).mtimeMs > newestMtime(join(root, 'src'));
if (useBundle) {
  await import(new URL('../dist/karu.mjs', import.meta.url).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli/main.ts', import.meta.url).href);
}
