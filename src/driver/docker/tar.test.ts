import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tarArchive } from './tar.js';

const hasTar = spawnSync('tar', ['--version']).status === 0 ? false : 'no tar command here';

describe('tarArchive', () => {
  it('writes 512-byte blocks: header, data padded, two zero blocks', () => {
    const t = tarArchive([{ name: 'a', data: Buffer.from('x'.repeat(513)) }]);
    assert.equal(t.length, 512 + 1024 + 1024);
    assert.equal(t.subarray(512 + 1024).every((b) => b === 0), true);
    assert.equal(tarArchive([]).length, 1024);
  });

  it('sums the header with the checksum field as spaces, in ustar format', () => {
    const h = tarArchive([{ name: 'pause', data: Buffer.from('abc'), mode: 0o755 }]).subarray(0, 512);
    const stored = parseInt(h.subarray(148, 154).toString('latin1'), 8);
    const copy = Buffer.from(h);
    copy.fill(0x20, 148, 156);
    assert.equal(stored, copy.reduce((s, b) => s + b, 0));
    assert.equal(h.subarray(257, 263).toString('latin1'), 'ustar\0');
    assert.equal(h.subarray(100, 108).toString('latin1'), '0000755\0');
    assert.equal(h.subarray(124, 136).toString('latin1'), '00000000003\0');
  });

  it('refuses what it cannot write correctly', () => {
    assert.throws(() => tarArchive([{ name: 'x'.repeat(101), data: Buffer.alloc(0) }]), /1–100 bytes/);
    assert.throws(() => tarArchive([{ name: '', data: Buffer.alloc(0) }]), /1–100 bytes/);
    assert.throws(() => tarArchive([{ name: '/etc/passwd', data: Buffer.alloc(0) }]), /relative/);
    assert.throws(() => tarArchive([{ name: 'a/../../b', data: Buffer.alloc(0) }]), /relative/);
    assert.throws(() => tarArchive([{ name: 'a', data: Buffer.alloc(0), mode: 0o100000000 }]), /does not fit/);
  });

  it('is read back by tar: names, modes, sizes and contents', { skip: hasTar }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'karu-tar-'));
    try {
      const files = [
        { name: 'pause', data: Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2, 255]), mode: 0o755 },
        { name: 'etc/motd', data: Buffer.from('hello\n'.repeat(200)) },
        { name: 'empty', data: Buffer.alloc(0) },
      ];
      const archive = join(dir, 'a.tar');
      writeFileSync(archive, tarArchive(files));
      const list = spawnSync('tar', ['-tvf', archive], { encoding: 'utf8' });
      assert.equal(list.status, 0, list.stderr);
      assert.match(list.stdout, /^-rwxr-xr-x root\/root\s+8 1970-01-01 \S+ pause$/m);
      assert.equal(list.stderr, '');
      mkdirSync(join(dir, 'out'));
      const x = spawnSync('tar', ['-xf', archive, '-C', join(dir, 'out')], { encoding: 'utf8' });
      assert.equal(x.status, 0, x.stderr);
      for (const f of files) assert.deepEqual(readFileSync(join(dir, 'out', f.name)), f.data);
      assert.equal(statSync(join(dir, 'out', 'pause')).mode & 0o777, 0o755);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
