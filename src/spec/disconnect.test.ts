import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ValidationError } from '../core/errors.js';
import { DISCONNECT_DEFAULTS } from '../core/disconnect.js';
import { parseJobFile } from './parse.js';

const job = (disconnect: string) => `
name: web
groups:
  - name: app
${disconnect}
    tasks:
      - name: server
        image: karu/hello:1
`;

describe('job file: disconnect block', () => {
  it('is absent unless written (the core defaults apply)', () => {
    assert.equal(parseJobFile(job(''), 'j.yaml').groups[0]!.disconnect, undefined);
  });

  it('fills fields left out with the defaults and converts durations', () => {
    const g = parseJobFile(job('    disconnect:\n      lostAfter: 5m\n      reconcile: keep_original'), 'j.yaml').groups[0]!;
    assert.deepEqual(g.disconnect, { ...DISCONNECT_DEFAULTS, lostAfterMs: 300_000, reconcile: 'keep_original' });
    const h = parseJobFile(job('    disconnect:\n      replace: false\n      stopOnClientAfter: 30s'), 'j.yaml').groups[0]!;
    assert.deepEqual(h.disconnect, { ...DISCONNECT_DEFAULTS, replace: false, stopOnClientAfterMs: 30_000 });
  });

  it('names the field and the choices on a bad value', () => {
    try {
      parseJobFile(job('    disconnect:\n      reconcile: newest'), 'j.yaml');
      assert.fail('accepted');
    } catch (e) {
      assert.ok(e instanceof ValidationError);
      const issue = e.details.issues?.find((i) => i.path.endsWith('disconnect.reconcile'));
      assert.ok(issue, JSON.stringify(e.details.issues));
      assert.match(issue.message, /keep_original/);
    }
  });
});
