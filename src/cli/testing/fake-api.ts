import type { JobDetail, JobListEntry, NodeDetail, NodeView, RebalanceRequest, RebalanceResponse, RegisterJobResponse } from '../../client/types.js';
import type { PlanJobResponse } from '../../client/plan-types.js';
import type { CatalogService, IngressRouteView } from '../../client/catalog-types.js';
import { T0 } from './builders.js';
import { KaruClient } from '../../client/client.js';
import { isLive, type AllocView, type ClientStatus } from '../../core/alloc.js';
import type { Evaluation } from '../../core/evaluation.js';
import { jobTotalCount, type Job } from '../../core/job.js';
import { shortId } from '../../lib/ids.js';

/** One request the fake API received. */
export interface SeenRequest {
  method: string;
  path: string;
  body: unknown;
}

/**
 * A small in-memory stand-in for the Karu API v1, answering `fetch` calls the way the real
 * routes do (JSON bodies, `{code, message, details}` errors, prefix lookup of alloc ids).
 * Tests set its state, or change it from `onGetJob` to play a rollout forward one poll at
 * a time.
 */
export class FakeApi {
  jobs: Job[] = [];
  /** Older versions per `ns/name`; the current one is in `jobs`. */
  versions = new Map<string, Job[]>();
  allocations: AllocView[] = [];
  nodes: (NodeView & NodeDetail)[] = [];
  evaluations: Evaluation[] = [];
  /** What GET /v1/services and /v1/services/:ns/:name answer from. */
  services: CatalogService[] = [];
  /** What GET /v1/ingress answers. */
  ingress: IngressRouteView[] = [];
  logs = new Map<string, { stream: 'stdout' | 'stderr'; line: string }[]>();
  readonly requests: SeenRequest[] = [];
  /** When true every request fails as a refused connection does. */
  down = false;
  /** Called before each GET of one job with how many came before: move the world on here. */
  onGetJob: ((call: number) => void) | undefined;
  private getJobCalls = 0;
  /** What POST /v1/jobs/plan answers (`karu plan`). */
  onPlan: ((spec: Record<string, unknown>) => PlanJobResponse) | undefined;
  /** What POST /v1/jobs answers; default: stores a job named as the body says. */
  onRegister: ((body: Record<string, unknown>) => RegisterJobResponse) | undefined;

  client(baseUrl = 'http://karu.test:4646'): KaruClient {
    return new KaruClient({ baseUrl, fetch: this.fetch });
  }

  readonly fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    if (this.down) throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4646'), { code: 'ECONNREFUSED' }) });
    const url = new URL(String(input));
    const method = init?.method ?? 'GET';
    const body = typeof init?.body === 'string' ? (JSON.parse(init.body) as unknown) : undefined;
    this.requests.push({ method, path: url.pathname + url.search, body });
    try {
      return this.route(method, url, body);
    } catch (e) {
      if (e instanceof ApiError) return json(e.status, { code: e.code, message: e.message, details: e.details });
      throw e;
    }
  };

  private route(method: string, url: URL, body: unknown): Response {
    const p = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const q = url.searchParams;
    if (p[0] !== 'v1') throw new ApiError(404, 'NOT_FOUND', `no route ${url.pathname}`);
    if (p[1] === 'jobs') {
      if (p.length === 3 && p[2] === 'plan' && method === 'POST') {
        if (!this.onPlan) throw new ApiError(500, 'INTERNAL', 'test did not set onPlan');
        return json(200, this.onPlan((body as { job: Record<string, unknown> }).job));
      }
      if (p.length === 2 && method === 'POST') return json(200, this.register((body as { job: Record<string, unknown> }).job));
      if (p.length === 2 && method === 'GET') return json(200, this.jobs.filter((j) => !q.get('namespace') || j.namespace === q.get('namespace')).map((j) => this.listEntry(j)));
      const job = this.findJob(p[2]!, p[3]!);
      if (p.length === 4 && method === 'GET') {
        this.onGetJob?.(this.getJobCalls++);
        return json(200, this.detail(this.findJob(p[2]!, p[3]!)));
      }
      if (p.length === 5 && p[4] === 'versions') return json(200, [...(this.versions.get(`${job.namespace}/${job.name}`) ?? []), job]);
      if (p.length === 4 && method === 'DELETE') {
        job.stopped = true;
        if (q.get('purge')) this.jobs = this.jobs.filter((j) => j !== job);
        return json(200, { evalId: 'eval_01hzzzzzzz0009aaaabbbbcccc', purged: q.get('purge') === 'true' });
      }
    }
    if (p[1] === 'allocations') {
      if (p.length === 2) {
        const node = q.get('node');
        const ns = q.get('namespace');
        return json(200, this.allocations.filter((a) => (!node || a.nodeId === node) && (!ns || a.namespace === ns)));
      }
      const alloc = this.findAlloc(p[2]!);
      if (p.length === 3) return json(200, alloc);
      if (p[3] === 'logs') {
        const lines = this.logs.get(alloc.id) ?? [];
        return new Response(lines.map((l) => JSON.stringify(l) + '\n').join(''), { status: 200, headers: { 'content-type': 'application/x-ndjson' } });
      }
    }
    if (p[1] === 'nodes') {
      if (p.length === 2) return json(200, this.nodes);
      const node = this.nodes.find((n) => n.id === p[2] || n.id.startsWith(p[2]!));
      if (!node) throw new ApiError(404, 'NOT_FOUND', `node '${p[2]}' not found`, { kind: 'node', id: p[2] });
      if (p.length === 4 && method === 'POST' && (p[3] === 'drain' || p[3] === 'eligibility')) return json(200, this.nodeAdmin(node, p[3], body as Record<string, unknown>));
      if (p.length === 3) this.onGetNode?.(node, this.getNodeCalls++);
      return json(200, this.nodes.find((n) => n.id === node.id));
    }
    if (p[1] === 'rebalance' && method === 'POST') {
      if (!this.rebalanceAnswer) throw new ApiError(500, 'INTERNAL', 'test did not set rebalanceAnswer');
      return json(200, this.rebalanceAnswer(body as RebalanceRequest));
    }
    if (p[1] === 'evaluations') return json(200, this.evaluations);
    if (p[1] === 'services' && p.length === 2) return json(200, this.services.filter((x) => !q.get('namespace') || x.namespace === q.get('namespace')));
    if (p[1] === 'services' && p.length === 4) {
      const found = this.services.find((x) => x.namespace === p[2] && x.name === p[3]);
      if (!found) throw new ApiError(404, 'NOT_FOUND', `service '${p[2]}/${p[3]}' not found`, { kind: 'service', id: `${p[2]}/${p[3]}` });
      return json(200, found);
    }
    if (p[1] === 'ingress') return json(200, this.ingress);
    throw new ApiError(404, 'NOT_FOUND', `no route ${method} ${url.pathname}`);
  }

  /** Called before each GET of one node with how many came before: move a drain on here. */
  onGetNode: ((node: NodeDetail, call: number) => void) | undefined;
  private getNodeCalls = 0;
  /** What POST /v1/rebalance answers. */
  rebalanceAnswer: ((body: RebalanceRequest) => RebalanceResponse) | undefined;

  /** POST /v1/nodes/:id/drain and /eligibility, applied to the stored node as the server would. */
  private nodeAdmin(node: NodeDetail, what: 'drain' | 'eligibility', body: Record<string, unknown>): NodeDetail {
    const i = this.nodes.indexOf(node);
    let next: NodeDetail;
    if (what === 'eligibility') next = { ...node, eligibility: body.eligible ? 'eligible' : 'ineligible' };
    else if (body.enable === false) {
      next = { ...node, drain: false, eligibility: 'eligible' };
      delete next.drainStrategy;
    } else {
      const deadlineMs = typeof body.deadlineMs === 'number' ? body.deadlineMs : 3_600_000;
      next = { ...node, drain: true, eligibility: 'ineligible', drainStrategy: { startedAt: T0, deadlineAt: T0 + deadlineMs, ignoreSystem: Boolean(body.ignoreSystem) } };
    }
    this.nodes[i] = next;
    return next;
  }

  private register(spec: Record<string, unknown>): RegisterJobResponse {
    if (this.onRegister) return this.onRegister(spec);
    throw new ApiError(500, 'INTERNAL', 'test did not set onRegister');
  }

  private findJob(namespace: string, name: string): Job {
    const job = this.jobs.find((j) => j.namespace === namespace && j.name === name);
    if (!job) throw new ApiError(404, 'NOT_FOUND', `job '${namespace}/${name}' not found`, { kind: 'job', id: `${namespace}/${name}` });
    return job;
  }

  private findAlloc(id: string): AllocView {
    const found = this.allocations.filter((a) => a.id === id || shortId(a.id).startsWith(id));
    if (found.length === 0) throw new ApiError(404, 'NOT_FOUND', `allocation '${id}' not found`, { kind: 'allocation', id });
    if (found.length > 1) throw new ApiError(400, 'INVALID', `'${id}' matches ${found.length} allocations`);
    return found[0]!;
  }

  private jobAllocs(job: Job): AllocView[] {
    return this.allocations.filter((a) => a.namespace === job.namespace && a.jobName === job.name);
  }

  private summary(job: Job): JobListEntry['summary'] {
    const s: Record<ClientStatus, number> = { pending: 0, running: 0, complete: 0, failed: 0, lost: 0 };
    for (const a of this.jobAllocs(job)) s[a.clientStatus]++;
    return { ...s, desired: job.stopped ? 0 : jobTotalCount(job) };
  }

  private status(job: Job): JobListEntry['status'] {
    const allocs = this.jobAllocs(job);
    if (job.stopped || (allocs.length > 0 && !allocs.some(isLive))) return 'dead';
    return allocs.some((a) => a.clientStatus === 'running') ? 'running' : 'pending';
  }

  private listEntry(job: Job): JobListEntry {
    return { namespace: job.namespace, name: job.name, type: job.type, version: job.version, stopped: job.stopped, status: this.status(job), summary: this.summary(job), submittedAt: job.submittedAt };
  }

  private detail(job: Job): JobDetail {
    const evaluations = this.evaluations.filter((e) => e.namespace === job.namespace && e.jobName === job.name).sort((a, b) => b.createdAt - a.createdAt);
    return { job, status: this.status(job), summary: this.summary(job), allocations: this.jobAllocs(job), evaluations };
  }
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

