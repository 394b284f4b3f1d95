import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ValidationError } from '../core/errors.js';
import type { Job } from '../core/job.js';
import { parseJobFile, readJobFile, validateJobObject } from './parse.js';
import { expectIssue, issuesOf } from './testing.js';

/** A minimal valid file with `task` lines spliced in as the only task (indented 8). */
function withTask(taskLines: string): string {
  return `name: app
groups:
  - name: web
    tasks:
      - name: server
${taskLines}`;
}

const FULL = `namespace: shop
name: checkout
type: service
priority: 70
placement: spread
constraints:
  - attribute: attr.os.name
    value: linux
  - attribute: \${label.zone}
    operator: regexp
    value: "^eu-"
meta:
  team: payments
  build: 1.10
groups:
  - name: api
    count: 3
    constraints:
      - attribute: \${attr.docker.version}
        operator: is_set
    restart:
      attempts: 5
      interval: 10m
      delay: 1s
      mode: delay
    reschedule:
      attempts: 0
    tasks:
      - name: server
        image: shop/checkout:2.1
        command: /bin/server
        args: [--port, 8080, --verbose]
        env:
          LOG_LEVEL: debug
          WORKERS: 4
          FEATURE_X: true
          VERSION: 1.10
        resources:
          cores: 0.5
          memory: 1GB
        ports:
          - label: http
            to: 8080
          - label: admin_ui
            to: 9000
            static: 9000
        killTimeout: 1m30s
      - name: sidecar
        image: shop/proxy:1
        resources:
          cpu: 250
          memory: 64
        killTimeout: 250
`;

describe('parseJobFile: valid files', () => {
  it('turns a full job file into exactly this core Job', () => {
    const expected: Job = {
      namespace: 'shop',
      name: 'checkout',
      type: 'service',
      priority: 70,
      constraints: [
        { attribute: '${attr.os.name}', operator: '=', value: 'linux' },
        { attribute: '${label.zone}', operator: 'regexp', value: '^eu-' },
      ],
      placement: 'spread',
      nodePool: 'default',
      groups: [
        {
          name: 'api',
          count: 3,
          constraints: [{ attribute: '${attr.docker.version}', operator: 'is_set' }],
          restart: { attempts: 5, intervalMs: 600_000, delayMs: 1000, mode: 'delay' },
          // Only attempts given: the interval is the service default.
          reschedule: { attempts: 0, intervalMs: 3_600_000 },
          tasks: [
            {
              name: 'server',
              image: 'shop/checkout:2.1',
              command: '/bin/server',
              args: ['--port', '8080', '--verbose'],
              // Numbers and booleans are taken as the text written, not as YAML typed them.
              env: { LOG_LEVEL: 'debug', WORKERS: '4', FEATURE_X: 'true', VERSION: '1.10' },
              resources: { cpuMhz: 500, memoryMb: 1024 },
              ports: [
                { label: 'http', to: 8080 },
                { label: 'admin_ui', to: 9000, static: 9000 },
              ],
              killTimeoutMs: 90_000,
            },
            {
              name: 'sidecar',
              image: 'shop/proxy:1',
              args: [],
              env: {},
              resources: { cpuMhz: 250, memoryMb: 64 },
              ports: [],
              killTimeoutMs: 250,
            },
          ],
        },
      ],
      meta: { team: 'payments', build: '1.10' },
      stopped: false,
      version: 0,
      submittedAt: 0,
    };
    assert.deepEqual(parseJobFile(FULL, 'checkout.yaml'), expected);
  });

  it('fills every default for a minimal service job', () => {
    const job = parseJobFile('name: tiny\ngroups:\n  - name: g\n    tasks:\n      - name: t\n        image: busybox\n', 'tiny.yaml');
    assert.deepEqual(job, {
      namespace: 'default',
      name: 'tiny',
      type: 'service',
      priority: 50,
      constraints: [],
      placement: 'binpack',
      nodePool: 'default',
      groups: [
        {
          name: 'g',
          count: 1,
          constraints: [],
          restart: { attempts: 2, intervalMs: 30 * 60_000, delayMs: 15_000, mode: 'fail' },
          reschedule: { attempts: 3, intervalMs: 3_600_000 },
          tasks: [{ name: 't', image: 'busybox', args: [], env: {}, resources: { cpuMhz: 100, memoryMb: 128 }, ports: [], killTimeoutMs: 10_000 }],
        },
      ],
      meta: {},
      stopped: false,
      version: 0,
      submittedAt: 0,
    } satisfies Job);
  });

  it('uses the batch defaults for restart and reschedule, merging fields given', () => {
    const job = parseJobFile('name: b\ntype: batch\ngroups:\n  - name: g\n    restart: { delay: 5s }\n    tasks: [{ name: t, image: i }]\n', 'b.yaml');
    assert.deepEqual(job.groups[0]?.restart, { attempts: 3, intervalMs: 24 * 3_600_000, delayMs: 5000, mode: 'fail' });
    assert.deepEqual(job.groups[0]?.reschedule, { attempts: 1, intervalMs: 24 * 3_600_000 });
  });

  it('reads memory sizes and cpu forms', () => {
    const mem = (m: string) => parseJobFile(withTask(`        image: i\n        resources: { memory: ${m} }\n`), 'm.yaml').groups[0]?.tasks[0]?.resources.memoryMb;
    assert.equal(mem('256'), 256);
    assert.equal(mem('256MB'), 256);
    assert.equal(mem('512MiB'), 512);
    assert.equal(mem('"1.5GB"'), 1536);
    assert.equal(mem('2g'), 2048);
    const cpu = (r: string) => parseJobFile(withTask(`        image: i\n        resources: { ${r} }\n`), 'c.yaml').groups[0]?.tasks[0]?.resources.cpuMhz;
    assert.equal(cpu('cpu: 500'), 500);
    assert.equal(cpu('cores: 2'), 2000);
    assert.equal(cpu('cores: 0.25'), 250);
  });

  it('parses both example files', () => {
    const hello = parseJobFile(readFileSync(new URL('../../examples/hello.yaml', import.meta.url), 'utf8'), 'examples/hello.yaml');
    assert.equal(hello.name, 'hello');
    assert.equal(hello.type, 'service');
    assert.equal(hello.groups.length, 1);
    assert.equal(hello.groups[0]?.name, 'web');
    assert.equal(hello.groups[0]?.count, 2);
    assert.deepEqual(hello.groups[0]?.tasks[0], {
      name: 'server',
      image: 'karu/hello:1',
      args: [],
      env: {},
      resources: { cpuMhz: 100, memoryMb: 32 },
      ports: [{ label: 'http', to: 8080 }],
      killTimeoutMs: 10_000,
    });

    const batch = parseJobFile(readFileSync(new URL('../../examples/batch.yaml', import.meta.url), 'utf8'), 'examples/batch.yaml');
    assert.equal(batch.type, 'batch');
    const task = batch.groups[0]?.tasks[0];
    assert.equal(task?.image, 'karu/busybox:1');
    assert.equal(task?.command, 'sh');
    assert.deepEqual(task?.args, ['-c', 'echo hello; sleep 2']);
  });

  it('readJobFile returns the plain contents with text fields as written', () => {
    const { job, spec } = readJobFile(FULL, 'checkout.yaml');
    assert.equal(job.name, 'checkout');
    // What the CLI sends: the server, validating it, reads the same job.
    assert.deepEqual(validateJobObject(spec), job);
  });
});

describe('parseJobFile: problems are located and explained', () => {
  it('reports invalid YAML with the library code and its line:col', () => {
    const issues = issuesOf('name: x\ngroups: [1\n', 'broken.yaml');
    assert.equal(issues.length, 1);
    assert.equal(issues[0]?.location, 'broken.yaml:3:1');
    assert.match(issues[0]?.message ?? '', /invalid YAML \([A-Z_]+\)/);
  });

  it('reports a duplicate YAML key', () => {
    const issues = issuesOf('name: x\nname: y\n');
    assert.equal(issues[0]?.location, 'job.yaml:2:1');
    assert.match(issues[0]?.message ?? '', /DUPLICATE_KEY/);
  });

  it('points at an alias whose anchor is missing', () => {
    const [issue] = issuesOf('name: a\ngroups:\n  - *web\n');
    assert.equal(issue?.location, 'job.yaml:3:5');
    assert.match(issue?.message ?? '', /alias/i);
  });

  it('refuses an empty file, a list and several documents', () => {
    for (const text of ['', '# nothing\n', '---\n']) {
      const [issue] = issuesOf(text);
      assert.match(issue?.message ?? '', /empty/);
      assert.equal(issue?.location, 'job.yaml:1:1');
    }
    const [list] = issuesOf('- name: a\n');
    assert.match(list?.message ?? '', /must be a map with the fields namespace, name, .*groups, got a list/);
    const [docs] = issuesOf('name: a\n---\nname: b\n');
    assert.match(docs?.message ?? '', /one job, but it has 2 YAML documents/);
    assert.equal(docs?.location, 'job.yaml:2:1');
  });

  it('names an unknown field at its key, lists the allowed ones and suggests one', () => {
    expectIssue(withTask('        imagee: karu/hello:1\n'), {
      path: 'groups[0].tasks[0].imagee',
      location: 'job.yaml:6:9',
      says: ["unknown field 'imagee' (allowed: name, image, command, args, env, resources, ports, killTimeout, mounts, volumeMounts, lifecycle) — did you mean 'image'?"],
    });
    expectIssue(withTask('        image: i\n        kill_timeout: 5s\n'), {
      path: 'groups[0].tasks[0].kill_timeout',
      location: 'job.yaml:7:9',
      says: ["did you mean 'killTimeout'?"],
    });
  });

  it('reports a missing image at the task it belongs to', () => {
    expectIssue(withTask(''), {
      path: 'groups[0].tasks[0].image',
      location: 'job.yaml:5:9',
      says: ['is required', "container image", "'karu/hello:1'"],
    });
  });

  it('reports a wrong type', () => {
    expectIssue('name: app\ngroups: web\n', { path: 'groups', location: 'job.yaml:2:9', says: ["must be a list of groups, got 'web'"] });
    expectIssue(withTask('        image: i\n        args: "-c echo"\n'), {
      path: 'groups[0].tasks[0].args',
      location: 'job.yaml:7:15',
      says: ["must be a list of strings, got '-c echo'"],
    });
  });

  it('reports a negative count', () => {
    const text = 'name: app\ngroups:\n  - name: web\n    count: -1\n    tasks: [{ name: t, image: i }]\n';
    expectIssue(text, { path: 'groups[0].count', location: 'job.yaml:4:12', says: ['must be an integer ≥ 0, got -1'] });
  });

  it('reports a port out of range', () => {
    expectIssue(withTask('        image: i\n        ports:\n          - label: http\n            to: 70000\n'), {
      path: 'groups[0].tasks[0].ports[0].to',
      location: 'job.yaml:9:17',
      says: ['must be an integer from 1 to 65535, got 70000'],
    });
  });

  it('reports a bad port label', () => {
    expectIssue(withTask('        image: i\n        ports: [{ label: HTTP, to: 80 }]\n'), {
      path: 'groups[0].tasks[0].ports[0].label',
      location: 'job.yaml:7:26',
      says: ["lowercase letters, digits or '_'", "got 'HTTP'"],
    });
  });

  it('reports duplicate task names at the second one', () => {
    const text = withTask('        image: i\n      - name: server\n        image: j\n');
    expectIssue(text, {
      path: 'groups[0].tasks[1].name',
      location: 'job.yaml:7:15',
      says: ["duplicate task name 'server' (also groups[0].tasks[0])", 'must be unique within a group'],
    });
  });

  it('reports duplicate group names at the second one', () => {
    const text = 'name: app\ngroups:\n  - name: web\n    tasks: [{ name: t, image: i }]\n  - name: web\n    tasks: [{ name: t, image: i }]\n';
    expectIssue(text, {
      path: 'groups[1].name',
      location: 'job.yaml:5:11',
      says: ["duplicate group name 'web' (also groups[0])", 'must be unique within a job'],
    });
  });

  it('reports duplicate port labels and equal static ports within a group', () => {
    const text = withTask(
      '        image: i\n        ports:\n          - { label: http, to: 80, static: 8080 }\n          - { label: http, to: 81 }\n' +
        '      - name: other\n        image: j\n        ports: [{ label: web, to: 80, static: 8080 }]\n',
    );
    expectIssue(text, { path: 'groups[0].tasks[0].ports[1].label', location: 'job.yaml:9:22', says: ["duplicate port label 'http' (also ports[0])"] });
    expectIssue(text, {
      path: 'groups[0].tasks[1].ports[0].static',
      location: 'job.yaml:12:47',
      says: ['static port 8080 is already taken by groups[0].tasks[0].ports[0]', 'unique within a group'],
    });
  });

  it('reports a bad duration', () => {
    expectIssue(withTask('        image: i\n        killTimeout: 10 secs\n'), {
      path: 'groups[0].tasks[0].killTimeout',
      location: 'job.yaml:7:22',
      says: ["must be a duration like '250ms', '30s', '5m', '1h'", "got '10 secs'"],
    });
    expectIssue(withTask('        image: i\n        killTimeout: -5\n'), {
      path: 'groups[0].tasks[0].killTimeout',
      location: 'job.yaml:7:22',
      says: ['integer of milliseconds', 'got -5'],
    });
  });

  it('reports a bad memory string', () => {
    expectIssue(withTask('        image: i\n        resources:\n          memory: 12XB\n'), {
      path: 'groups[0].tasks[0].resources.memory',
      location: 'job.yaml:8:19',
      says: ["'256MB', '512MiB' or '1GB'", "got '12XB'"],
    });
    expectIssue(withTask('        image: i\n        resources:\n          memory: 0.5MB\n'), {
      path: 'groups[0].tasks[0].resources.memory',
      location: 'job.yaml:8:19',
      says: ['whole megabytes', "got '0.5MB'"],
    });
  });

  it('refuses cpu and cores together', () => {
    expectIssue(withTask('        image: i\n        resources: { cpu: 100, cores: 1 }\n'), {
      path: 'groups[0].tasks[0].resources.cores',
      location: 'job.yaml:7:39',
      says: ['either cpu (MHz) or cores', '1 core = 1000 MHz'],
    });
  });

  it('reports a regexp constraint that does not compile', () => {
    const text = 'name: app\nconstraints:\n  - attribute: ${label.zone}\n    operator: regexp\n    value: "(eu"\ngroups:\n  - name: g\n    tasks: [{ name: t, image: i }]\n';
    expectIssue(text, { path: 'constraints[0].value', location: 'job.yaml:5:12', says: ['must be a valid regular expression', "got '(eu'"] });
  });

  it('checks constraint attributes, operators and values', () => {
    const text =
      'name: app\nconstraints:\n  - attribute: zone\n    value: a\n  - attribute: attr.os.name\n    operator: equals\n    value: linux\n' +
      '  - attribute: attr.os.name\n    operator: "!="\n  - attribute: label.gpu\n    operator: is_set\n    value: "yes"\n' +
      'groups:\n  - name: g\n    tasks: [{ name: t, image: i }]\n';
    expectIssue(text, { path: 'constraints[0].attribute', location: 'job.yaml:3:16', says: ["'${attr.NAME}', '${label.NAME}'", "got 'zone'"] });
    expectIssue(text, { path: 'constraints[1].operator', location: 'job.yaml:6:15', says: ["one of '=', '!='", "got 'equals'"] });
    expectIssue(text, { path: 'constraints[2].value', location: 'job.yaml:8:5', says: ["is required: operator '!='"] });
    expectIssue(text, { path: 'constraints[3].value', location: 'job.yaml:12:12', says: ["operator 'is_set' takes no value"] });
  });

  it('suggests the intended enum value', () => {
    expectIssue('name: app\ntype: servce\ngroups: [{ name: g, tasks: [{ name: t, image: i }] }]\n', {
      path: 'type',
      location: 'job.yaml:2:7',
      says: ["must be 'service' or 'batch', got 'servce' — did you mean 'service'?"],
    });
  });

  it('reports a name that is no DNS label', () => {
    expectIssue('name: My_App\ngroups: [{ name: g, tasks: [{ name: t, image: i }] }]\n', {
      path: 'name',
      location: 'job.yaml:1:7',
      says: ['DNS label', "got 'My_App'"],
    });
  });

  it('reports a restart policy whose attempts cannot fit its interval', () => {
    const text = 'name: app\ngroups:\n  - name: g\n    restart: { attempts: 5, delay: 1m, interval: 2m }\n    tasks: [{ name: t, image: i }]\n';
    expectIssue(text, { path: 'groups[0].restart.interval', location: 'job.yaml:4:50', says: ['at least attempts × delay (5 × 1m = 5m), got 2m'] });
  });

  it('reports every problem at once, in file order, one per line of the message', () => {
    const text = 'name: app\ngroups:\n  - name: web\n    count: -1\n    tasks:\n      - name: t\n        imagee: i\n';
    try {
      parseJobFile(text, 'all.yaml');
      assert.fail('accepted');
    } catch (e) {
      assert.ok(e instanceof ValidationError);
      assert.deepEqual(e.message.split('\n'), [
        'all.yaml:4:12: groups[0].count: must be an integer ≥ 0, got -1',
        "all.yaml:6:9: groups[0].tasks[0].image: is required: a container image reference, e.g. 'karu/hello:1'",
        "all.yaml:7:9: groups[0].tasks[0].imagee: unknown field 'imagee' (allowed: name, image, command, args, env, resources, ports, killTimeout, mounts, volumeMounts, lifecycle) — did you mean 'image'?",
      ]);
    }
  });
});

describe('validateJobObject', () => {
  it('accepts an API body and applies the same defaults', () => {
    const job = validateJobObject({ name: 'api', groups: [{ name: 'g', tasks: [{ name: 't', image: 'i', env: { N: 5 } }] }] });
    assert.equal(job.namespace, 'default');
    assert.deepEqual(job.groups[0]?.tasks[0]?.env, { N: '5' });
    assert.equal(job.groups[0]?.tasks[0]?.killTimeoutMs, 10_000);
  });

  it('reports paths and messages without locations', () => {
    try {
      validateJobObject({ name: 'api', groups: [{ name: 'g', count: 'two', tasks: [{ name: 't', image: 'i', foo: 1 }] }] });
      assert.fail('accepted');
    } catch (e) {
      assert.ok(e instanceof ValidationError);
      const issues = e.details.issues ?? [];
      assert.deepEqual(issues.map((i) => [i.path, i.location]), [
        ['groups[0].count', undefined],
        ['groups[0].tasks[0].foo', undefined],
      ]);
      assert.match(issues[0]?.message ?? '', /must be an integer ≥ 0, got 'two'/);
      assert.match(e.message, /^groups\[0\]\.count: must be an integer/);
    }
  });

  it('refuses a body that is not an object', () => {
    assert.throws(() => validateJobObject([]), (e: unknown) => e instanceof ValidationError && /a job must be a map/.test(e.message));
    assert.throws(() => validateJobObject(null), ValidationError);
  });
});
