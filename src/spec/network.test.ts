import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Group } from '../core/job.js';
import { parseJobFile } from './parse.js';
import { expectIssue, issuesOf } from './testing.js';

/** A job with one group `web` whose body (indented 4) is `groupLines`. */
const withGroup = (groupLines: string) => `name: app\ngroups:\n  - name: web\n${groupLines}`;
const groupOf = (text: string): Group => parseJobFile(text, 'job.yaml').groups[0] ?? assert.fail('no group');

const POD = withGroup(`    volumes: [data, { name: logs }]
    tasks:
      - name: init
        image: karu/busybox:1
        lifecycle: { hook: prestart }
        volumeMounts: [{ volume: data, target: /data }]
      - name: server
        image: karu/busybox:1
        ports: [{ label: http, to: 8080 }]
        volumeMounts:
          - { volume: data, target: /srv, readOnly: true }
          - { volume: logs, target: /logs }
      - name: shipper
        image: karu/busybox:1
        lifecycle: { hook: prestart, sidecar: true }
        volumeMounts: [{ volume: logs, target: /logs, readOnly: true }]
      - name: report
        image: karu/busybox:1
        lifecycle: { hook: poststop }
`);

describe('job file: pods (volumes, volume mounts, lifecycle)', () => {
  it('reads volumes in both forms, mounts with readOnly defaulting to false, and lifecycles', () => {
    const g = groupOf(POD);
    assert.deepEqual(g.volumes, [{ name: 'data' }, { name: 'logs' }]);
    const [init, server, shipper, report] = g.tasks;
    assert.deepEqual(init?.volumeMounts, [{ volume: 'data', target: '/data', readOnly: false }]);
    assert.deepEqual(init?.lifecycle, { hook: 'prestart', sidecar: false });
    assert.deepEqual(server?.volumeMounts, [
      { volume: 'data', target: '/srv', readOnly: true },
      { volume: 'logs', target: '/logs', readOnly: false },
    ]);
    assert.equal(server?.lifecycle, undefined, 'a main task has no lifecycle');
    assert.deepEqual(shipper?.lifecycle, { hook: 'prestart', sidecar: true });
    assert.deepEqual(report?.lifecycle, { hook: 'poststop', sidecar: false });
    assert.equal(report?.volumeMounts, undefined);
  });

  it('leaves volumes, services and volume mounts out when empty', () => {
    const g = groupOf(withGroup('    volumes: []\n    services: []\n    tasks: [{ name: t, image: i, volumeMounts: [] }]\n'));
    assert.ok(!('volumes' in g) && !('services' in g));
    assert.ok(!('volumeMounts' in (g.tasks[0] ?? {})));
  });

  it('refuses a volume name that is no DNS label, and a duplicate one', () => {
    const text = withGroup('    volumes: [Data, logs, { name: logs }]\n    tasks: [{ name: t, image: i }]\n');
    expectIssue(text, { path: 'groups[0].volumes[0]', location: 'job.yaml:4:15', says: ['DNS label', 'tasks mount the volume by this name', "got 'Data'"] });
    expectIssue(text, { path: 'groups[0].volumes[2]', location: 'job.yaml:4:27', says: ["duplicate volume name 'logs' (also volumes[1])", 'unique within a group'] });
  });

  it('refuses a mount of a volume the group lacks, listing the volumes or saying how to declare one', () => {
    const text = withGroup('    volumes: [data, logs]\n    tasks:\n      - name: t\n        image: i\n        volumeMounts: [{ volume: cache, target: /c }]\n');
    expectIssue(text, { path: 'groups[0].tasks[0].volumeMounts[0].volume', location: 'job.yaml:8:34', says: ["names no volume of the group (group 'web' has: data, logs)"] });
    const none = withGroup('    tasks:\n      - name: t\n        image: i\n        volumeMounts: [{ volume: cache, target: /c }]\n');
    expectIssue(none, { path: 'groups[0].tasks[0].volumeMounts[0].volume', location: 'job.yaml:7:34', says: ["group 'web' declares no volumes: add `volumes: [cache]` to the group"] });
  });

  it('wants absolute mount targets, unique within the task (host mounts included)', () => {
    const text = withGroup(
      '    volumes: [data]\n    tasks:\n      - name: t\n        image: i\n        mounts: [{ source: /srv, target: /data }]\n' +
        '        volumeMounts:\n          - { volume: data, target: data }\n          - { volume: data, target: /data }\n',
    );
    expectIssue(text, { path: 'groups[0].tasks[0].volumeMounts[0].target', location: 'job.yaml:10:37', says: ['absolute path', "got 'data'"] });
    expectIssue(text, { path: 'groups[0].tasks[0].volumeMounts[1].target', location: 'job.yaml:11:37', says: ["target '/data' is already mounted by mounts[0]", 'unique within a task'] });
  });

  it('suggests the spelling of a mount field', () => {
    expectIssue(withGroup('    volumes: [data]\n    tasks:\n      - name: t\n        image: i\n        volumeMounts: [{ volume: data, target: /d, readonly: true }]\n'), {
      path: 'groups[0].tasks[0].volumeMounts[0].readonly',
      location: 'job.yaml:8:52',
      says: ["unknown field 'readonly' (allowed: volume, target, readOnly) — did you mean 'readOnly'?"],
    });
  });

  it('checks lifecycle hooks: known hooks, sidecars only before, and one main task at least', () => {
    const text = withGroup(
      '    tasks:\n      - name: a\n        image: i\n        lifecycle: { hook: prestrat }\n' +
        '      - name: b\n        image: i\n        lifecycle: { hook: poststop, sidecar: true }\n',
    );
    expectIssue(text, { path: 'groups[0].tasks[0].lifecycle.hook', location: 'job.yaml:7:28', says: ["must be 'prestart' or 'poststop', got 'prestrat' — did you mean 'prestart'?"] });
    expectIssue(text, { path: 'groups[0].tasks[1].lifecycle.sidecar', location: 'job.yaml:10:47', says: ["only a prestart task can be a sidecar"] });
    expectIssue(text, { path: 'groups[0].tasks', location: 'job.yaml:5:7', says: ['needs at least one main task (a task without lifecycle)'] });
    expectIssue(withGroup('    tasks:\n      - name: a\n        image: i\n        lifecycle: {}\n'), {
      path: 'groups[0].tasks[0].lifecycle.hook',
      location: 'job.yaml:7:20',
      says: ["is required: 'prestart' or 'poststop'"],
    });
  });

  it('refuses two tasks of a pod on one container port', () => {
    const text = withGroup('    tasks:\n      - name: a\n        image: i\n        ports: [{ label: http, to: 80 }]\n      - name: b\n        image: i\n        ports: [{ label: web, to: 80 }]\n');
    expectIssue(text, {
      path: 'groups[0].tasks[1].ports[0].to',
      location: 'job.yaml:10:35',
      says: ["container port 80 is also used by task 'a' (tasks[0].ports[0])", 'share one network namespace'],
    });
  });
});

/** A group `web` with a task `server` (port http 8080) and `services` lines (indented 4). */
const withServices = (serviceLines: string, extraTasks = '') =>
  withGroup(`    tasks:\n      - name: server\n        image: i\n        ports: [{ label: http, to: 8080 }, { label: admin, to: 9000 }]\n${extraTasks}    services:\n${serviceLines}`);

describe('job file: services, checks and ingress', () => {
  it('fills in the port label, the owning task and every default', () => {
    const g = groupOf(withServices('      - name: web\n        port: http\n'));
    assert.deepEqual(g.services, [{ name: 'web', portLabel: 'http', task: 'server', tags: [], checks: [], ingress: [] }]);
  });

  it('reads every kind of check with its defaults', () => {
    const g = groupOf(
      withServices(
        '      - name: web\n        port: http\n        tags: [v2, 1.10]\n        checks:\n          - type: http\n          - { type: http, path: /healthz, expectStatus: 204, interval: 30s, timeout: 5s }\n' +
          '          - type: tcp\n          - { type: exec, command: [pg_isready, -q] }\n          - { type: exec, command: [cat, /ready], task: probe }\n',
        '      - name: probe\n        image: i\n        lifecycle: { hook: prestart, sidecar: true }\n',
      ),
    );
    const service = g.services?.[0];
    assert.deepEqual(service?.tags, ['v2', '1.10'], 'tags are text, as written');
    assert.deepEqual(service?.checks, [
      { type: 'http', path: '/', expectStatus: 200, intervalMs: 10_000, timeoutMs: 2_000 },
      { type: 'http', path: '/healthz', expectStatus: 204, intervalMs: 30_000, timeoutMs: 5_000 },
      { type: 'tcp', intervalMs: 10_000, timeoutMs: 2_000 },
      { type: 'exec', task: 'server', command: ['pg_isready', '-q'], intervalMs: 10_000, timeoutMs: 2_000 },
      { type: 'exec', task: 'probe', command: ['cat', '/ready'], intervalMs: 10_000, timeoutMs: 2_000 },
    ]);
  });

  it('reads ingress rules: hosts lower-cased, prefixes normalised, TCP with proxyProtocol defaulting to false', () => {
    const g = groupOf(
      withServices(
        '      - name: web\n        port: http\n        ingress:\n          - {}\n          - { host: Shop.Example.COM, path: /api/ }\n          - { host: shop.example.com. }\n' +
          '      - name: admin\n        port: admin\n        ingress:\n          - tcpPort: 9443\n          - { tcpPort: 9444, proxyProtocol: true }\n',
      ),
    );
    assert.deepEqual(g.services?.[0]?.ingress, [
      { kind: 'http', pathPrefix: '/' },
      { kind: 'http', host: 'shop.example.com', pathPrefix: '/api' },
      { kind: 'http', host: 'shop.example.com', pathPrefix: '/' },
    ]);
    assert.deepEqual(g.services?.[1]?.ingress, [
      { kind: 'tcp', port: 9443, proxyProtocol: false },
      { kind: 'tcp', port: 9444, proxyProtocol: true },
    ]);
  });

  it('refuses a service name that is not a DNS label, saying why it must be one', () => {
    expectIssue(withServices('      - name: My_Api\n        port: http\n'), {
      path: 'groups[0].services[0].name',
      location: 'job.yaml:9:15',
      says: ['must be a DNS label', 'containers reach the service as NAME and NAME.NAMESPACE.karu', "got 'My_Api'"],
    });
  });

  it('refuses a service name used twice in the job, naming the first', () => {
    const text = `name: app
groups:
  - name: a
    tasks: [{ name: t, image: i, ports: [{ label: http, to: 80 }] }]
    services: [{ name: web, port: http }]
  - name: b
    tasks: [{ name: t, image: i, ports: [{ label: http, to: 80 }] }]
    services: [{ name: web, port: http }]
`;
    expectIssue(text, { path: 'groups[1].services[0].name', location: 'job.yaml:8:24', says: ["duplicate service name 'web' (also groups[0].services[0])"] });
  });

  it('wants the port to be a label of one task of the group, and lists the labels there are', () => {
    expectIssue(withServices('      - name: web\n        port: htp\n'), {
      path: 'groups[0].services[0].port',
      location: 'job.yaml:10:15',
      says: ["names no port of the group's tasks, got 'htp'", "port labels of group 'web': http (task server), admin (task server)"],
    });
    expectIssue(withGroup('    tasks: [{ name: t, image: i }]\n    services: [{ name: web, port: http }]\n'), {
      path: 'groups[0].services[0].port',
      location: 'job.yaml:5:35',
      says: ["the tasks of group 'web' declare no ports", '`ports: [{label: http, to: 8080}]`'],
    });
    expectIssue(withServices('      - name: web\n        port: HTTP\n'), {
      path: 'groups[0].services[0].port',
      location: 'job.yaml:10:15',
      says: ["the port label of one of the group's tasks", "got 'HTTP'"],
    });
  });

  it("refuses a port label that two tasks declare, naming both, and a port of a task that runs to completion", () => {
    expectIssue(withServices('      - name: web\n        port: http\n', '      - name: other\n        image: i\n        ports: [{ label: http, to: 8081 }]\n'), {
      path: 'groups[0].services[0].port',
      location: 'job.yaml:13:15',
      says: ["port label 'http' is declared by tasks 'server' and 'other'", 'unique across the group'],
    });
    expectIssue(withServices('      - name: init\n        port: setup\n', '      - name: init\n        image: i\n        lifecycle: { hook: prestart }\n        ports: [{ label: setup, to: 7000 }]\n'), {
      path: 'groups[0].services[0].port',
      location: 'job.yaml:14:15',
      says: ["port 'setup' belongs to task 'init', a prestart task that runs to completion"],
    });
  });

  it('names an unknown or missing check type at `type`, with the types there are', () => {
    const text = withServices('      - name: web\n        port: http\n        checks:\n          - type: htp\n          - path: /\n          - 5\n');
    expectIssue(text, { path: 'groups[0].services[0].checks[0].type', location: 'job.yaml:12:19', says: ["must be one of 'http', 'tcp', 'exec', got 'htp' — did you mean 'http'?"] });
    expectIssue(text, { path: 'groups[0].services[0].checks[1].type', location: 'job.yaml:13:13', says: ["is required: one of 'http', 'tcp', 'exec'"] });
    expectIssue(text, { path: 'groups[0].services[0].checks[2]', location: 'job.yaml:14:13', says: ['must be a check: a map with a type (http, tcp, exec), got 5'] });
  });

  it('lists the fields of the check type when one is unknown', () => {
    expectIssue(withServices('      - name: web\n        port: http\n        checks: [{ type: tcp, path: / }]\n'), {
      path: 'groups[0].services[0].checks[0].path',
      location: 'job.yaml:11:31',
      says: ["unknown field 'path' (allowed: type, interval, timeout)"],
    });
  });

  it('wants timeout shorter than interval, saying which one was a default', () => {
    const text = withServices(
      '      - name: web\n        port: http\n        checks:\n          - { type: tcp, interval: 5s, timeout: 5s }\n          - { type: tcp, interval: 1s }\n          - { type: tcp, timeout: 15s }\n          - { type: tcp, timeout: 0 }\n',
    );
    expectIssue(text, { path: 'groups[0].services[0].checks[0].timeout', location: 'job.yaml:12:49', says: ['must be shorter than interval (5s), got 5s'] });
    expectIssue(text, { path: 'groups[0].services[0].checks[1].interval', location: 'job.yaml:13:36', says: ['must be longer than timeout (2s, the default), got 1s'] });
    expectIssue(text, { path: 'groups[0].services[0].checks[2].timeout', location: 'job.yaml:14:35', says: ['must be shorter than interval (10s, the default), got 15s'] });
    expectIssue(text, { path: 'groups[0].services[0].checks[3].timeout', location: 'job.yaml:15:35', says: ['must be longer than 0s'] });
  });

  it('checks http paths, exec commands and exec tasks', () => {
    const text = withServices(
      '      - name: web\n        port: http\n        checks:\n          - { type: http, path: health }\n          - { type: exec, command: [] }\n          - { type: exec, command: [true], task: nope }\n',
    );
    expectIssue(text, { path: 'groups[0].services[0].checks[0].path', location: 'job.yaml:12:33', says: ["a URL path starting with '/'", "got 'health'"] });
    expectIssue(text, { path: 'groups[0].services[0].checks[1].command', location: 'job.yaml:13:36', says: ['a non-empty list of strings', 'got an empty list'] });
    expectIssue(text, { path: 'groups[0].services[0].checks[2].task', location: 'job.yaml:14:50', says: ["names no task of group 'web' (its tasks: server)"] });
  });

  it('checks ingress rules: hosts, paths, and HTTP fields apart from TCP ones', () => {
    const text = withServices(
      '      - name: web\n        port: http\n        ingress:\n          - { host: "shop.example.com:8080" }\n          - { host: "*.example.com" }\n          - { path: api }\n' +
        '          - { tcpPort: 9000, path: / }\n          - { proxyProtocol: true }\n          - { tcpPort: 70000 }\n',
    );
    expectIssue(text, { path: 'groups[0].services[0].ingress[0].host', location: 'job.yaml:12:21', says: ["must be a host name without port", 'on any of its ports'] });
    expectIssue(text, { path: 'groups[0].services[0].ingress[1].host', location: 'job.yaml:13:21', says: ['wildcard hosts are not supported'] });
    expectIssue(text, { path: 'groups[0].services[0].ingress[2].path', location: 'job.yaml:14:21', says: ["a URL path starting with '/'", "got 'api'"] });
    expectIssue(text, { path: 'groups[0].services[0].ingress[3].path', location: 'job.yaml:15:36', says: ['must be left out: a TCP rule (tcpPort) forwards a whole port'] });
    expectIssue(text, { path: 'groups[0].services[0].ingress[4].proxyProtocol', location: 'job.yaml:16:30', says: ['must be left out without tcpPort', 'X-Forwarded-For'] });
    expectIssue(text, { path: 'groups[0].services[0].ingress[5].tcpPort', location: 'job.yaml:17:24', says: ['an integer from 1 to 65535, got 70000'] });
  });

  it('refuses the same host and path (or TCP port) twice in a job, naming both places', () => {
    const text = withServices(
      '      - name: web\n        port: http\n        ingress: [{ host: a.example, path: /x/ }, { tcpPort: 9000 }]\n' +
        '      - name: admin\n        port: admin\n        ingress: [{ host: A.example, path: /x }, { tcpPort: 9000 }, { path: /x }]\n',
    );
    expectIssue(text, {
      path: 'groups[0].services[1].ingress[0]',
      location: 'job.yaml:14:19',
      says: ["ingress host 'a.example' path '/x' is already routed by groups[0].services[0].ingress[0] (service 'web')"],
    });
    expectIssue(text, { path: 'groups[0].services[1].ingress[1]', location: 'job.yaml:14:50', says: ["ingress tcpPort 9000 is already routed by groups[0].services[0].ingress[1] (service 'web')"] });
    assert.equal(issuesOf(text).length, 2, 'a host-less /x is another claim');
  });
});
