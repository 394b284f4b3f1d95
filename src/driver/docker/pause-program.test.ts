import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isPauseArch, pauseProgram } from './pause-program.js';

// The code sections as llvm-mc assembles the sources in pause-program.ts (with `act`
// placed right after the code, 8-aligned, as pauseProgram places it).
const LLVM_MC = {
  x64: 'b80d000000bf0f000000488d352f00000031d241ba080000000f05b80d000000bf020000000f05b8220000000f05ebf7b8e700000031ff0f05',
  arm64:
    'c81080d2e00180d241020010020080d2030180d2010000d4c81080d2400080d2010000d4000080d2010080d2020080d2030080d2280980d2010000d4faffff17000080d2c80b80d2010000d4',
};

/** The process's caught-signal mask (SigCgt), once it has any handler. */
async function caughtSignals(pid: number): Promise<bigint> {
  for (;;) {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const mask = BigInt(`0x${/^SigCgt:\s*([0-9a-f]+)/m.exec(status)?.[1] ?? '0'}`);
    if (mask !== 0n && (mask & 0x4002n) === 0x4002n) return mask;
    await new Promise((r) => setImmediate(r));
  }
}

describe('pauseProgram', () => {
  for (const arch of ['x64', 'arm64'] as const) {
    it(`is a small static ELF64 executable for ${arch}, code as the assembler makes it`, () => {
      const elf = pauseProgram(arch);
      assert.ok(elf.length < 256, `${elf.length} bytes`);
      assert.equal(elf.subarray(0, 4).toString('latin1'), '\x7fELF');
      assert.equal(elf[4], 2, '64-bit');
      assert.equal(elf.readUInt16LE(16), 2, 'ET_EXEC');
      assert.equal(elf.readUInt16LE(18), arch === 'x64' ? 0x3e : 0xb7);
      assert.equal(elf.readBigUInt64LE(24), 0x400000n + 120n, 'entry is the first instruction');
      assert.equal(elf.readBigUInt64LE(64 + 32), BigInt(elf.length), 'one segment maps the whole file');
      const code = Buffer.from(LLVM_MC[arch], 'hex');
      assert.equal(elf.subarray(120, 120 + code.length).toString('hex'), LLVM_MC[arch]);
      // sigaction: handler address, SA_RESTORER, restorer, empty mask
      const act = 120 + Math.ceil(code.length / 8) * 8;
      const handler = 0x400000n + 120n + (arch === 'x64' ? 0x30n : 0x40n);
      assert.equal(elf.readBigUInt64LE(act), handler);
      assert.equal(elf.readBigUInt64LE(act + 8), 0x04000000n);
      assert.equal(elf.readBigUInt64LE(act + 24), 0n);
      assert.equal(elf.length, act + 32);
    });
  }

  it('knows which process.arch values it supports', () => {
    assert.equal(isPauseArch('x64'), true);
    assert.equal(isPauseArch('arm64'), true);
    assert.equal(isPauseArch('ppc64'), false);
  });

  const native = process.platform === 'linux' && process.arch === 'x64' ? false : 'runs only on x86-64 Linux';
  it('runs, waits, and exits 0 at once on SIGTERM and on SIGINT', { skip: native, timeout: 10_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'karu-pause-'));
    try {
      const file = join(dir, 'pause');
      writeFileSync(file, pauseProgram('x64'));
      chmodSync(file, 0o755);
      for (const signal of ['SIGTERM', 'SIGINT'] as const) {
        const child = spawn(file, { stdio: 'ignore' });
        const exited = new Promise<[number | null, string | null]>((resolve, reject) => {
          child.once('error', reject);
          child.once('exit', (code, sig) => resolve([code, sig]));
        });
        // Signal only once both handlers are in: /proc shows the caught signals (bits 2 and 15).
        assert.equal(await caughtSignals(child.pid!), 0x4002n);
        assert.equal(child.exitCode, null, 'still waiting before the signal');
        const sent = Date.now();
        child.kill(signal);
        assert.deepEqual(await exited, [0, null]);
        assert.ok(Date.now() - sent < 1_000);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
