import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Constraint, ConstraintOperator } from '../core/job.js';
import { compareValues, constraintHolds, resolveTarget } from './constraints.js';
import { aNode } from './testing/builders.js';

const node = aNode({
  name: 'alpha',
  attributes: { 'os.name': 'linux', 'docker.version': '20.10.24', 'cpu.cores': '8', 'kernel.version': '6.1.0-18-amd64' },
  labels: { zone: 'a', tier: 'gold' },
});
const holds = (attribute: string, operator: ConstraintOperator, value?: string) => {
  const c: Constraint = value === undefined ? { attribute, operator } : { attribute, operator, value };
  return constraintHolds(c, node);
};

describe('resolveTarget', () => {
  it('reads attributes, labels, node name and id; keeps literals', () => {
    assert.equal(resolveTarget('${attr.os.name}', node), 'linux');
    assert.equal(resolveTarget('${label.zone}', node), 'a');
    assert.equal(resolveTarget('${node.name}', node), 'alpha');
    assert.equal(resolveTarget('${node.id}', node), node.id);
    assert.equal(resolveTarget('linux', node), 'linux');
    assert.equal(resolveTarget('${attr.missing}', node), undefined);
    assert.equal(resolveTarget('${meta.x}', node), undefined);
  });
});

describe('constraint operators', () => {
  it('= and !=', () => {
    assert.equal(holds('${attr.os.name}', '=', 'linux'), true);
    assert.equal(holds('${attr.os.name}', '=', 'windows'), false);
    assert.equal(holds('${attr.os.name}', '!=', 'windows'), true);
    assert.equal(holds('${attr.os.name}', '!=', 'linux'), false);
    assert.equal(holds('${label.zone}', '=', 'a'), true);
    assert.equal(holds('${node.name}', '=', 'alpha'), true);
    // A missing attribute equals nothing and differs from everything.
    assert.equal(holds('${attr.gpu}', '=', 'yes'), false);
    assert.equal(holds('${attr.gpu}', '!=', 'yes'), true);
  });

  it('orders numbers numerically, not as strings', () => {
    assert.equal(holds('${attr.cpu.cores}', '>=', '8'), true);
    assert.equal(holds('${attr.cpu.cores}', '>', '8'), false);
    assert.equal(holds('${attr.cpu.cores}', '<', '10'), true); // "8" < "10" only as numbers
    assert.equal(holds('${attr.cpu.cores}', '<=', '7'), false);
  });

  it('orders versions segment by segment', () => {
    assert.equal(holds('${attr.docker.version}', '>', '20.10.3'), true); // 24 > 3
    assert.equal(holds('${attr.docker.version}', '>=', '20.10.24'), true);
    assert.equal(holds('${attr.docker.version}', '<', '20.10.3'), false);
    assert.equal(holds('${attr.docker.version}', '<', '23.0'), true);
    assert.equal(holds('${attr.docker.version}', '=', '20.10.24'), true);
    assert.equal(holds('${attr.kernel.version}', '>=', '5.10'), true);
    assert.equal(compareValues('1.0.0-rc1', '1.0.0'), -1);
    assert.equal(compareValues('v1.2', '1.10'), -1);
  });

  it('falls back to string order for other values', () => {
    assert.equal(holds('${label.tier}', '>', 'bronze'), true);
    assert.equal(holds('${label.tier}', '<', 'bronze'), false);
  });

  it('regexp', () => {
    assert.equal(holds('${attr.kernel.version}', 'regexp', '^6\\.'), true);
    assert.equal(holds('${attr.kernel.version}', 'regexp', '^5\\.'), false);
    assert.equal(holds('${attr.missing}', 'regexp', '.*'), false);
    assert.equal(holds('${attr.os.name}', 'regexp', '(unclosed'), false); // bad pattern matches nothing
  });

  it('is_set and is_not_set', () => {
    assert.equal(holds('${label.zone}', 'is_set'), true);
    assert.equal(holds('${label.rack}', 'is_set'), false);
    assert.equal(holds('${label.rack}', 'is_not_set'), true);
    assert.equal(holds('${label.zone}', 'is_not_set'), false);
  });
});

describe('set_contains and versions (issue 5)', () => {
  const tagged = aNode({ attributes: { tags: 'ssd, gpu,fast', 'driver.version': '1.10.2' } });
  const has = (value: string) => constraintHolds({ attribute: '${attr.tags}', operator: 'set_contains', value }, tagged);

  it('set_contains: every item of the value is in the attribute list, blanks and spaces ignored', () => {
    assert.equal(has('ssd'), true);
    assert.equal(has('gpu,ssd'), true);
    assert.equal(has(' fast , gpu '), true);
    assert.equal(has('ssd,nvme'), false);
    assert.equal(has('gp'), false); // items, not substrings
    assert.equal(constraintHolds({ attribute: '${attr.missing}', operator: 'set_contains', value: 'x' }, tagged), false);
  });

  it('compares versions when both sides look like versions: 1.10.2 > 1.9', () => {
    const v = (operator: ConstraintOperator, value: string) => constraintHolds({ attribute: '${attr.driver.version}', operator, value }, tagged);
    assert.equal(v('>', '1.9'), true);
    assert.equal(v('>=', '1.10.2'), true);
    assert.equal(v('<', '1.9'), false);
    assert.equal(v('<=', '1.10.1'), false);
    assert.equal(compareValues('1.10.2', '1.9'), 1);
  });

  it('distinct_* hold on every node by themselves: the DISTINCT_* filters check them with the plan', () => {
    assert.equal(constraintHolds({ attribute: '', operator: 'distinct_hosts' }, tagged), true);
    assert.equal(constraintHolds({ attribute: '${label.zone}', operator: 'distinct_property', value: '2' }, tagged), true);
  });
});
