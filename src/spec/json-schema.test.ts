import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jobJsonSchema } from './json-schema.js';

/** Follows a local `$ref` (`#/$defs/X`) to its definition. */
function deref(root: Record<string, unknown>, node: unknown): Record<string, unknown> {
  const n = node as Record<string, unknown>;
  if (typeof n.$ref !== 'string') return n;
  const name = n.$ref.replace('#/$defs/', '');
  return (root.$defs as Record<string, Record<string, unknown>>)[name] ?? assert.fail(`no $defs entry ${name}`);
}

describe('jobJsonSchema', () => {
  const schema = JSON.parse(JSON.stringify(jobJsonSchema())) as Record<string, unknown>;

  it('is a draft 2020-12 object schema requiring name and groups, and nothing with a default', () => {
    assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
    assert.equal(schema.title, 'Karu job file');
    assert.equal(schema.type, 'object');
    assert.deepEqual(schema.required, ['name', 'groups']);
    assert.equal(schema.additionalProperties, false);
  });

  it('describes the file as written: defaults, units as text, no server-owned fields', () => {
    const props = schema.properties as Record<string, Record<string, unknown>>;
    assert.equal(props.namespace?.default, 'default');
    assert.equal(props.priority?.default, 50);
    assert.equal(props.version, undefined);
    assert.equal(props.stopped, undefined);
    const group = (props.groups?.items ?? {}) as Record<string, unknown>;
    assert.deepEqual(group.required, ['name', 'tasks']);
    const task = ((group.properties as Record<string, Record<string, unknown>>).tasks?.items ?? {}) as Record<string, unknown>;
    const taskProps = task.properties as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.keys(taskProps), ['name', 'image', 'command', 'args', 'env', 'resources', 'ports', 'killTimeout', 'mounts', 'volumeMounts', 'lifecycle']);
    assert.equal(task.additionalProperties, false);
    assert.match(String(taskProps.killTimeout?.description), /Default 10s/);
    const duration = deref(schema, taskProps.killTimeout);
    assert.ok(Array.isArray(duration.anyOf), 'a duration is a string or an integer');
  });

  it('includes the pod, service and placement fields, described', () => {
    const props = schema.properties as Record<string, Record<string, unknown>>;
    assert.ok(props.affinities && props.spreads, 'job affinities and spreads');
    const group = (props.groups?.items ?? {}) as Record<string, unknown>;
    const groupProps = group.properties as Record<string, Record<string, unknown>>;
    for (const key of ['affinities', 'spreads', 'volumes', 'services']) assert.match(String(groupProps[key]?.description), /\w/, key);
    const service = (groupProps.services?.items ?? {}) as Record<string, unknown>;
    assert.deepEqual(service.required, ['name', 'port']);
    const serviceProps = service.properties as Record<string, Record<string, unknown>>;
    const check = deref(schema, serviceProps.checks?.items);
    const types = (check.oneOf as Record<string, Record<string, Record<string, unknown>>>[]).map((c) => c.properties?.type?.const);
    assert.deepEqual(types, ['http', 'tcp', 'exec']);
    const rule = deref(schema, serviceProps.ingress?.items);
    assert.deepEqual(Object.keys(rule.properties as object), ['host', 'path', 'tcpPort', 'proxyProtocol']);
    // distinct_hosts takes no attribute, so a constraint requires none.
    const constraint = deref(schema, (props.constraints?.items ?? {}) as Record<string, unknown>);
    assert.equal(constraint.required, undefined);
    assert.ok((deref(schema, (constraint.properties as Record<string, unknown>).operator).enum as string[]).includes('distinct_property'));
  });
});
