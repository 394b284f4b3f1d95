#!/usr/bin/env node
// The `karu` command: runs src/cli/main.ts through tsx's loader, in this process (so
// stdin, stdout, signals and the exit code are the command's own). tsx is resolved from
// this package's node_modules, so it works from any directory and through `npx karu`.
import { register } from 'tsx/esm/api';

register();
await import(new URL('../src/cli/main.ts', import.meta.url).href);
