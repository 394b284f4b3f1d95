import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { Job } from '../core/job.js';
import { isMainTask, isPod } from '../core/job.js';
import { parseJobFile, readJobFile, validateJobObject } from './parse.js';

const dir = new URL('../../examples/', import.meta.url);
const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f));
const read = (file: string): Job => parseJobFile(readFileSync(new URL(file, dir), 'utf8'), `examples/${file}`);

describe('examples/', () => {
  it('holds the examples the docs point at', () => {
    for (const f of ['hello.yaml', 'batch.yaml', 'pod.yaml', 'services.yaml']) assert.ok(files.includes(f), f);
  });

  for (const file of files) {
    it(`${file} is a valid job file, read the same from the file and from what the CLI sends`, () => {
      const { job, spec } = readJobFile(readFileSync(new URL(file, dir), 'utf8'), `examples/${file}`);
      assert.deepEqual(validateJobObject(spec), job);
    });
  }

  it('pod.yaml: two tasks sharing a volume, a sidecar writer, a service with a check and an ingress rule', () => {
    const group = read('pod.yaml').groups[0] ?? assert.fail('no group');
    assert.ok(isPod(group));
    assert.deepEqual(group.volumes, [{ name: 'site' }]);
    const [server, writer] = group.tasks;
    assert.ok(server && isMainTask(server));
    assert.deepEqual(writer?.lifecycle, { hook: 'prestart', sidecar: true });
    assert.deepEqual(server.volumeMounts?.map((m) => m.volume), ['site']);
    assert.deepEqual(writer.volumeMounts?.map((m) => m.volume), ['site']);
    assert.deepEqual(server.args, ['-f', '-p', '8080', '-h', '/site']);
    const service = group.services?.[0];
    assert.equal(service?.name, 'web');
    assert.equal(service?.task, 'server');
    assert.equal(service?.checks[0]?.type, 'http');
    assert.deepEqual(service?.ingress, [{ kind: 'http', pathPrefix: '/' }]);
  });

  it('services.yaml: the service api, and a client group that calls it by name', () => {
    const job = read('services.yaml');
    const api = job.groups.find((g) => g.name === 'api');
    assert.equal(api?.services?.[0]?.name, 'api');
    assert.equal(api?.services?.[0]?.portLabel, 'http');
    const client = job.groups.find((g) => g.name === 'client');
    assert.match(client?.tasks[0]?.args.join(' ') ?? '', /nc api 8080/);
  });
});
