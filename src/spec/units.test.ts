import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDurationMs, parseDurationMs, parseMemoryMb } from './units.js';

describe('parseDurationMs', () => {
  it('reads each unit and combinations', () => {
    assert.equal(parseDurationMs('250ms'), 250);
    assert.equal(parseDurationMs('30s'), 30_000);
    assert.equal(parseDurationMs('5m'), 300_000);
    assert.equal(parseDurationMs('1h'), 3_600_000);
    assert.equal(parseDurationMs('1h30m'), 5_400_000);
    assert.equal(parseDurationMs('1.5s'), 1500);
    assert.equal(parseDurationMs('0s'), 0);
  });

  it('refuses anything else', () => {
    for (const bad of ['', '10', '10 s', 's', '1d', '-5s', '5sec', '1h 30m', '.5s']) assert.equal(parseDurationMs(bad), undefined, bad);
  });

  it('formats back to the shortest form', () => {
    assert.equal(formatDurationMs(5_400_000), '1h30m');
    assert.equal(formatDurationMs(86_400_000), '24h');
    assert.equal(formatDurationMs(1250), '1s250ms');
    assert.equal(formatDurationMs(0), '0s');
    for (const ms of [1, 999, 61_000, 3_723_004]) assert.equal(parseDurationMs(formatDurationMs(ms)), ms);
  });
});

describe('parseMemoryMb', () => {
  it('reads MB and GB, binary, case-insensitive', () => {
    assert.equal(parseMemoryMb('256MB'), 256);
    assert.equal(parseMemoryMb('256MiB'), 256);
    assert.equal(parseMemoryMb('256m'), 256);
    assert.equal(parseMemoryMb('256 mb'), 256);
    assert.equal(parseMemoryMb('1GB'), 1024);
    assert.equal(parseMemoryMb('1gib'), 1024);
    assert.equal(parseMemoryMb('0.5G'), 512);
  });

  it('refuses other units and fractions of a megabyte', () => {
    for (const bad of ['', '256', '12XB', '1TB', '512KB', '0.5MB', 'MB', '-1MB']) assert.equal(parseMemoryMb(bad), undefined, bad);
  });
});
