import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Job } from '../core/job.js';
import { parseJobFile } from './parse.js';
import { expectIssue, issuesOf } from './testing.js';

/** A job with `top` lines at the top level and `group` lines in its only group (indented 4). */
const job = (top: string, group = '') => `name: app\n${top}groups:\n  - name: g\n${group}    tasks: [{ name: t, image: i }]\n`;
const parse = (text: string): Job => parseJobFile(text, 'job.yaml');

describe('job file: constraint operators', () => {
  it('reads set_contains, distinct_hosts (no attribute: stored as ``) and distinct_property', () => {
    const j = parse(
      job(
        'constraints:\n  - { attribute: attr.cpu.features, operator: set_contains, value: "avx2,sse4" }\n  - operator: distinct_hosts\n' +
          '  - { attribute: label.rack, operator: distinct_property }\n  - { attribute: label.zone, operator: distinct_property, value: 2 }\n',
      ),
    );
    assert.deepEqual(j.constraints, [
      { attribute: '${attr.cpu.features}', operator: 'set_contains', value: 'avx2,sse4' },
      { attribute: '', operator: 'distinct_hosts' },
      { attribute: '${label.rack}', operator: 'distinct_property' },
      { attribute: '${label.zone}', operator: 'distinct_property', value: '2' },
    ]);
  });

  it('allows distinct_hosts in a group too', () => {
    assert.deepEqual(parse(job('', '    constraints: [{ operator: distinct_hosts }]\n')).groups[0]?.constraints, [{ attribute: '', operator: 'distinct_hosts' }]);
  });

  it('says what each operator takes', () => {
    const text = job(
      'constraints:\n  - { attribute: attr.cpu.features, operator: set_contains }\n  - { attribute: node.name, operator: distinct_hosts, value: 1 }\n' +
        '  - { operator: distinct_property, value: 0 }\n  - { operator: "=", value: linux }\n  - { operator: distinct_host }\n',
    );
    expectIssue(text, { path: 'constraints[0].value', location: 'job.yaml:3:5', says: ["is required: operator 'set_contains' compares the attribute with a value"] });
    expectIssue(text, { path: 'constraints[1].attribute', location: 'job.yaml:4:18', says: ["must be left out: operator 'distinct_hosts'", 'reads no attribute'] });
    expectIssue(text, { path: 'constraints[1].value', location: 'job.yaml:4:62', says: ["must be left out: operator 'distinct_hosts' takes no value"] });
    expectIssue(text, { path: 'constraints[2].attribute', location: 'job.yaml:5:5', says: ["is required: a node property: '${attr.NAME}'"] });
    expectIssue(text, { path: 'constraints[2].value', location: 'job.yaml:5:43', says: ['must be an integer ≥ 1: the most allocations per value of the attribute (default 1), got \'0\''] });
    expectIssue(text, { path: 'constraints[3].attribute', location: 'job.yaml:6:5', says: ['is required: a node property'] });
    expectIssue(text, { path: 'constraints[4].operator', location: 'job.yaml:7:17', says: ["'set_contains', 'distinct_hosts', 'distinct_property', got 'distinct_host' — did you mean 'distinct_hosts'?"] });
  });
});

describe('job file: affinities', () => {
  it('reads job and group affinities, operator defaulting to =, values as written', () => {
    const j = parse(
      job(
        'affinities:\n  - { attribute: attr.docker.version, operator: ">=", value: 24.10, weight: 40 }\n',
        '    affinities:\n      - { attribute: label.zone, value: eu-1, weight: -100 }\n      - { attribute: label.gpu, operator: is_set, weight: 100 }\n',
      ),
    );
    assert.deepEqual(j.affinities, [{ attribute: '${attr.docker.version}', operator: '>=', value: '24.10', weight: 40 }]);
    assert.deepEqual(j.groups[0]?.affinities, [
      { attribute: '${label.zone}', operator: '=', value: 'eu-1', weight: -100 },
      { attribute: '${label.gpu}', operator: 'is_set', weight: 100 },
    ]);
  });

  it('leaves affinities and spreads out when absent or empty', () => {
    const j = parse(job('affinities: []\nspreads: []\n', '    affinities: []\n    spreads: []\n'));
    assert.ok(!('affinities' in j) && !('spreads' in j));
    assert.ok(!('affinities' in (j.groups[0] ?? {})) && !('spreads' in (j.groups[0] ?? {})));
  });

  it('wants a weight from -100 to 100, not 0, and no distinct_* operator', () => {
    const text = job(
      'affinities:\n  - { attribute: label.zone, value: a }\n  - { attribute: label.zone, value: a, weight: 0 }\n  - { attribute: label.zone, value: a, weight: 101 }\n' +
        '  - { attribute: label.zone, operator: distinct_property, weight: 5 }\n  - { attribute: label.zone, operator: "!=", weight: 5 }\n',
    );
    expectIssue(text, { path: 'affinities[0].weight', location: 'job.yaml:3:5', says: ['is required: an integer from -100 to 100, not 0 (negative: avoid such nodes)'] });
    expectIssue(text, { path: 'affinities[1].weight', location: 'job.yaml:4:48', says: ['not 0', 'got 0'] });
    expectIssue(text, { path: 'affinities[2].weight', location: 'job.yaml:5:48', says: ['from -100 to 100', 'got 101'] });
    expectIssue(text, { path: 'affinities[3].operator', location: 'job.yaml:6:40', says: ["'is_not_set', 'set_contains', got 'distinct_property'"] });
    expectIssue(text, { path: 'affinities[4].value', location: 'job.yaml:7:5', says: ["is required: operator '!='"] });
  });
});

describe('job file: spreads', () => {
  it('reads spreads with weight 50 and no targets by default, target values as written', () => {
    const j = parse(
      job('spreads:\n  - attribute: label.zone\n', '    spreads:\n      - attribute: ${label.rack}\n        weight: 80\n        targets:\n          - { value: 1.10, percent: 60 }\n          - { value: b, percent: 40 }\n'),
    );
    assert.deepEqual(j.spreads, [{ attribute: '${label.zone}', weight: 50, targets: [] }]);
    assert.deepEqual(j.groups[0]?.spreads, [
      {
        attribute: '${label.rack}',
        weight: 80,
        targets: [
          { value: '1.10', percent: 60 },
          { value: 'b', percent: 40 },
        ],
      },
    ]);
  });

  it('checks weights, percents, their sum and unique values', () => {
    const text = job(
      'spreads:\n  - { attribute: label.zone, weight: 0 }\n  - attribute: label.zone\n    targets:\n      - { value: a, percent: 70 }\n      - { value: a, percent: 40 }\n      - { value: c, percent: 101 }\n' +
        '  - { attribute: zone }\n',
    );
    expectIssue(text, { path: 'spreads[0].weight', location: 'job.yaml:3:38', says: ['an integer from 1 to 100, got 0'] });
    expectIssue(text, { path: 'spreads[1].targets', location: 'job.yaml:6:7', says: ['percents must add up to at most 100, got 110'] });
    expectIssue(text, { path: 'spreads[1].targets[1].value', location: 'job.yaml:7:18', says: ["duplicate target value 'a' (also targets[0])"] });
    expectIssue(text, { path: 'spreads[1].targets[2].percent', location: 'job.yaml:8:30', says: ['an integer from 0 to 100, got 101'] });
    expectIssue(text, { path: 'spreads[2].attribute', location: 'job.yaml:9:18', says: ["a node property", "got 'zone'"] });
    assert.ok(issuesOf(text).every((i) => i.path.startsWith('spreads')));
  });
});
