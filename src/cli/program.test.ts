import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Command } from 'commander';
import { buildProgram } from './program.js';
import { Capture } from './testing/harness.js';
import { FakeApi } from './testing/fake-api.js';
import { runKaru } from './testing/harness.js';

/** Every command and command group, by its path (`node ls`). */
function leaves(cmd: Command, path: string[] = []): { path: string; cmd: Command }[] {
  const subs = cmd.commands as Command[];
  return [{ path: path.join(' '), cmd }, ...subs.flatMap((c) => leaves(c, [...path, c.name()]))];
}

describe('karu (program)', () => {
  const program = buildProgram({ stdout: new Capture(), stderr: new Capture(), env: {} });

  it('has an Examples section in the help of every command', () => {
    const all = leaves(program);
    assert.ok(all.length >= 18, `found ${all.length} commands`);
    for (const { path, cmd } of all) {
      let help = '';
      cmd.configureOutput({ writeOut: (s) => (help += s) });
      cmd.outputHelp();
      assert.match(help, /\nExamples:\n {2}\$ karu /, `karu ${path} --help has examples`);
    }
  });

  it('has --json on every read command', () => {
    const reads = ['status', 'ps', 'node ls', 'node status', 'job history', 'job validate', 'alloc status'];
    const all = new Map(leaves(program).map((l) => [l.path, l.cmd]));
    for (const r of reads) assert.ok(all.get(r)?.options.some((o) => o.long === '--json'), `karu ${r} --json`);
  });

  it('prints help to stdout and exits 0', async () => {
    const r = await runKaru(['status', '--help'], { api: new FakeApi() });
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Usage: karu status \[options\] \[job\]/);
    assert.match(r.stdout, /--server <url>/, 'global options are shown');
  });

  it('exits 2 on bad usage, naming the problem', async () => {
    const unknown = await runKaru(['frobnicate'], { api: new FakeApi() });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command 'frobnicate'/);
    const missing = await runKaru(['deploy'], { api: new FakeApi() });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /missing required argument 'file'/);
    const option = await runKaru(['ps', '--bogus'], { api: new FakeApi() });
    assert.equal(option.code, 2);
  });

  it('accepts --server after the command', async () => {
    const api = new FakeApi();
    api.down = true;
    const r = await runKaru(['ps', '--server', 'http://elsewhere:1'], { api });
    assert.match(r.stderr, /elsewhere:1/);
  });
});
