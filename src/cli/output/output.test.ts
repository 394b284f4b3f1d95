import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAllocRef, parseDuration, parseJobRef } from '../args.js';
import { KaruError } from '../../core/errors.js';
import { formatError } from '../errors.js';
import { Capture } from '../testing/harness.js';
import { colorsFor, stripAnsi } from './color.js';
import { formatAge, formatDuration, formatMemoryMb, formatMhz } from './format.js';
import { LiveView } from './live.js';
import { renderTable } from './table.js';

describe('cli output', () => {
  it('formats ages, durations, memory and CPU', () => {
    const now = 1_000_000_000;
    assert.equal(formatAge(now - 500, now), 'just now');
    assert.equal(formatAge(now - 45_000, now), '45s ago');
    assert.equal(formatAge(now - 3 * 60_000, now), '3m ago');
    assert.equal(formatAge(now - 5 * 3_600_000, now), '5h ago');
    assert.equal(formatAge(now - 3 * 86_400_000, now), '3d ago');
    assert.equal(formatAge(undefined, now), '-');
    assert.equal(formatDuration(90_000), '1m30s');
    assert.equal(formatDuration(300_000), '5m');
    assert.equal(formatDuration(250), '250ms');
    assert.equal(formatMemoryMb(512), '512 MB');
    assert.equal(formatMemoryMb(1536), '1.5 GB');
    assert.equal(formatMhz(2400), '2.4 GHz');
    assert.equal(formatMhz(100), '100 MHz');
  });

  it('parses durations and references', () => {
    assert.equal(parseDuration('5m'), 300_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('90'), 90_000);
    assert.throws(() => parseDuration('5 minutes'), /not a duration/);
    assert.throws(() => parseDuration('m'), /not a duration/);
    assert.deepEqual(parseJobRef('team/app', undefined), { namespace: 'team', name: 'app' });
    assert.deepEqual(parseJobRef('app', undefined), { namespace: 'default', name: 'app' });
    assert.deepEqual(parseAllocRef('1a2b/web'), { alloc: '1a2b', task: 'web' });
  });

  it('renders borderless tables without trailing blanks', () => {
    assert.equal(renderTable(['id', 'name'], [['1', 'a-long-name'], ['22', '']]), 'ID  NAME\n1   a-long-name\n22\n');
  });

  it('colours only TTYs without NO_COLOR', () => {
    assert.equal(colorsFor({ isTTY: true }, {}).enabled, true);
    assert.equal(colorsFor({ isTTY: false }, {}).enabled, false);
    assert.equal(colorsFor({ isTTY: true }, { NO_COLOR: '1' }).enabled, false);
    assert.equal(colorsFor({ isTTY: true }, { NO_COLOR: '' }).enabled, true);
    assert.equal(stripAnsi(colorsFor({ isTTY: true }, {}).red('x')), 'x');
  });

  it('live view: appends changed lines off a TTY, redraws on one', () => {
    const pipe = new Capture(false);
    const v = new LiveView(pipe);
    v.render([{ key: 'a', text: 'a pending' }, { key: 'b', text: 'b pending' }]);
    v.render([{ key: 'a', text: 'a running' }, { key: 'b', text: 'b pending' }]);
    assert.equal(pipe.text, 'a pending\nb pending\na running\n');

    const tty = new Capture(true, 30);
    const t = new LiveView(tty);
    t.render([{ key: 'a', text: 'a pending' }]);
    t.render([{ key: 'a', text: 'a running and a very long line that does not fit' }]);
    assert.equal(tty.text, 'a pending\n\x1b[1A\x1b[Ja running and a very long lin\x1b[0m\n');
  });

  it('prints field issues under the error, without repeating them', () => {
    const e = new KaruError('INVALID', 'job.yaml:3:7: groups[0].count: must be ≥ 0', {
      details: { issues: [{ path: 'groups[0].count', message: 'must be ≥ 0', location: 'job.yaml:3:7' }] },
    });
    assert.equal(formatError(e, {}), 'Error: job.yaml is not valid (1 problem):\n  job.yaml:3:7  groups[0].count: must be ≥ 0\n');
    const other = new KaruError('INVALID', 'the job was rejected', { details: { issues: [{ path: 'name', message: 'taken' }] } });
    assert.equal(formatError(other, {}), 'Error: the job was rejected\n  name: taken\n');
    assert.match(formatError(new TypeError('boom'), {}), /^Error: boom\nThis looks like a bug in karu\. Run again with KARU_DEBUG=1/);
  });
});
