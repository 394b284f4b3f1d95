/**
 * Test helpers for the job file: run a file through `parseJobFile` and look at the
 * located issues it reports. Used by the spec tests only.
 */
import assert from 'node:assert/strict';
import { type FieldIssue, ValidationError } from '../core/errors.js';
import { parseJobFile } from './parse.js';

/** The issues `parseJobFile` reports for `text` (it must reject it). */
export function issuesOf(text: string, fileName = 'job.yaml'): FieldIssue[] {
  try {
    parseJobFile(text, fileName);
  } catch (e) {
    assert.ok(e instanceof ValidationError, `expected a ValidationError, got ${String(e)}`);
    assert.equal(e.code, 'INVALID');
    return e.details.issues ?? [];
  }
  assert.fail('the file was accepted');
}

/** The one issue at `path`, which must also be at `location` and say `...says`. */
export function expectIssue(text: string, want: { path: string; location: string; says: (string | RegExp)[] }): void {
  const issues = issuesOf(text);
  const found = issues.find((i) => i.path === want.path);
  assert.ok(found, `no issue at ${want.path}; got:\n${issues.map((i) => `${i.location} ${i.path}: ${i.message}`).join('\n')}`);
  assert.equal(found.location, want.location, found.message);
  for (const s of want.says) {
    if (typeof s === 'string') assert.ok(found.message.includes(s), `message lacks '${s}': ${found.message}`);
    else assert.match(found.message, s);
  }
}
