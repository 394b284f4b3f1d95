import { KaruError, type ErrorCode } from '../core/errors.js';
import type { AllocId, EvalId, NodeId } from '../core/ids.js';
import type { AllocStatus, AllocView } from '../core/alloc.js';
import type { Evaluation } from '../core/evaluation.js';
import type { Job } from '../core/job.js';
import type {
  ApiErrorBody,
  HeartbeatRequest,
  HeartbeatResponse,
  JobDetail,
  JobListEntry,
  NodeAllocationsResponse,
  SharedGroupsNodeAllocationsResponse,
  NodeView,
  RegisterJobResponse,
  RegisterNodeRequest,
  RegisterNodeResponse,
  StopJobResponse,
  NodeDetail,
  NodeEligibilityRequest,
  DrainNodeRequest,
  RebalanceRequest,
  RebalanceResponse,
  JoinRequest,
  JoinResponse,
  RenewCertRequest,
  RenewCertResponse,
  RotateJoinTokenResponse,
  RemoveNodeResponse,
} from './types.js';
import type { PlanJobResponse } from './plan-types.js';
import type { Catalog, CatalogService, IngressRouteView } from './catalog-types.js';
import type { Transport } from './transport.js';

export interface ClientOptions {
  /** e.g. `http://127.0.0.1:4646` */
  baseUrl: string;
  /** Node secret, for the agent's calls. */
  nodeSecret?: string;
  /** Per-request timeout when none is given; default 30 s. */
  timeoutMs?: number;
  /** Replaces global fetch (tests pass `app.request`). */
  fetch?: typeof fetch;
  /**
   * Sends the JSON calls (everything but log streams) instead of fetch: `karu sim` passes
   * a shared keep-alive pool for thousands of nodes (src/client/transport.ts).
   */
  transport?: Transport;
}

/** Per-call options of `request`. `blocking`: a blocking query, held open by the server. */
export interface RequestOptions {
  signal?: AbortSignal | undefined;
  timeoutMs?: number;
  blocking?: boolean;
  /** A heartbeat: a transport sends it ahead of bulk calls (see Transport). */
  urgent?: boolean;
}

/**
 * The typed client for API v1, used by the CLI, the agent, the web UI and the tests.
 * Non-2xx answers become KaruErrors with the server's stable code.
 */
export class KaruClient {
  private readonly base: string;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly opts: ClientOptions) {
    this.base = opts.baseUrl.replace(/\/+$/, '');
    this.fetchImpl = opts.fetch ?? globalThis.fetch;
  }

  // ---- jobs
  registerJob(job: unknown): Promise<RegisterJobResponse> {
    return this.request('POST', '/v1/jobs', { job });
  }
  /** A dry run of `registerJob`: the spec diff and what the scheduler would do now; nothing is stored. */
  planJob(job: unknown): Promise<PlanJobResponse> {
    return this.request('POST', '/v1/jobs/plan', { job });
  }
  listJobs(namespace?: string): Promise<JobListEntry[]> {
    return this.request('GET', `/v1/jobs${query({ namespace })}`);
  }
  getJob(namespace: string, name: string): Promise<JobDetail> {
    return this.request('GET', `/v1/jobs/${enc(namespace)}/${enc(name)}`);
  }
  jobVersions(namespace: string, name: string): Promise<Job[]> {
    return this.request('GET', `/v1/jobs/${enc(namespace)}/${enc(name)}/versions`);
  }
  stopJob(namespace: string, name: string, opts: { purge?: boolean } = {}): Promise<StopJobResponse> {
    return this.request('DELETE', `/v1/jobs/${enc(namespace)}/${enc(name)}${query({ purge: opts.purge ? 'true' : undefined })}`);
  }

  // ---- allocations
  listAllocations(filter: { namespace?: string; job?: string; node?: string } = {}): Promise<AllocView[]> {
    return this.request('GET', `/v1/allocations${query(filter)}`);
  }
  /** `id` may be a full id or a unique prefix of its short form. */
  getAllocation(id: string): Promise<AllocView> {
    return this.request('GET', `/v1/allocations/${enc(id)}`);
  }
  /** Streams log lines as `{stream, line}` objects (NDJSON on the wire). */
  async *logs(id: string, opts: { task?: string; follow?: boolean; tail?: number; signal?: AbortSignal } = {}): AsyncIterable<{ stream: 'stdout' | 'stderr'; line: string }> {
    const res = await this.raw('GET', `/v1/allocations/${enc(id)}/logs${query({ task: opts.task, follow: opts.follow ? 'true' : undefined, tail: opts.tail?.toString() })}`, undefined, { signal: opts.signal, timeoutMs: 0 });
    if (!res.body) return;
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim()) yield JSON.parse(line);
      }
    }
  }

  // ---- nodes
  listNodes(): Promise<NodeView[]> {
    return this.request('GET', '/v1/nodes');
  }
  getNode(id: string): Promise<NodeDetail> {
    return this.request('GET', `/v1/nodes/${enc(id)}`);
  }
  setNodeEligibility(id: string, eligible: boolean): Promise<NodeDetail> {
    return this.request('POST', `/v1/nodes/${enc(id)}/eligibility`, { eligible } satisfies NodeEligibilityRequest);
  }
  /** Starts or updates a drain; `{enable: false}` cancels it. */
  drainNode(id: string, req: DrainNodeRequest): Promise<NodeDetail> {
    return this.request('POST', `/v1/nodes/${enc(id)}/drain`, req);
  }
  rebalance(req: RebalanceRequest): Promise<RebalanceResponse> {
    return this.request('POST', '/v1/rebalance', req);
  }

  // ---- evaluations
  listEvaluations(filter: { namespace?: string; job?: string } = {}): Promise<Evaluation[]> {
    return this.request('GET', `/v1/evaluations${query(filter)}`);
  }
  getEvaluation(id: EvalId | string): Promise<Evaluation> {
    return this.request('GET', `/v1/evaluations/${enc(id)}`);
  }

  // ---- service catalog (docs/design/networking.md)
  /**
   * The whole catalog. With `index` (the `index` of a previous answer) it is a blocking
   * query: the server answers once the catalog changed after `index`, or after `waitMs`
   * (default 30 s, capped at 60 s by the server) with the same index. Agents call it with
   * their node credentials, users without.
   */
  catalog(opts: { index?: number; waitMs?: number; signal?: AbortSignal } = {}): Promise<Catalog> {
    const waitMs = opts.waitMs ?? 30_000;
    const blocking = opts.index !== undefined && opts.index > 0;
    return this.request('GET', `/v1/catalog${query({ index: opts.index?.toString(), wait: blocking ? String(waitMs) : undefined })}`, undefined, {
      signal: opts.signal,
      ...(blocking ? { timeoutMs: waitMs + 15_000, blocking: true } : {}),
    });
  }
  /** Every service (of `namespace`, when given) with its VIP and endpoints. */
  services(namespace?: string): Promise<CatalogService[]> {
    return this.request('GET', `/v1/services${query({ namespace })}`);
  }
  service(namespace: string, name: string): Promise<CatalogService> {
    return this.request('GET', `/v1/services/${enc(namespace)}/${enc(name)}`);
  }
  /** Every ingress route of every service, with its owner and how many endpoints back it. */
  ingressRoutes(): Promise<IngressRouteView[]> {
    return this.request('GET', '/v1/ingress');
  }

  // ---- agent calls (authenticated with the node secret)
  registerNode(req: RegisterNodeRequest): Promise<RegisterNodeResponse> {
    return this.request('POST', '/v1/nodes/register', req);
  }
  /** `timeoutMs`: the agent gives up on a beat after about its TTL (a late beat is worthless). */
  heartbeat(nodeId: NodeId, req: HeartbeatRequest = {}, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<HeartbeatResponse> {
    return this.request('POST', `/v1/nodes/${enc(nodeId)}/heartbeat`, req, { ...opts, urgent: true });
  }
  /**
   * Blocks until the node's allocations change after `index` (or `waitMs` passes). Asks for
   * each group spec once (`groups=shared`) and expands the answer: allocations of one group
   * share its spec object (read-only). A server that does not know the form sends the plain one.
   *
   * `delta`: the caller holds the list as of `index` and can apply a delta (see
   * NodeAllocationsResponse.delta); the server may still send the whole list.
   */
  async nodeAllocations(nodeId: NodeId, index: number, waitMs: number, signal?: AbortSignal, opts: { delta?: boolean } = {}): Promise<NodeAllocationsResponse> {
    const res = await this.request<NodeAllocationsResponse | SharedGroupsNodeAllocationsResponse>(
      'GET',
      `/v1/nodes/${enc(nodeId)}/allocations${query({ index: String(index), waitMs: String(waitMs), groups: 'shared', delta: opts.delta ? 'true' : undefined })}`,
      undefined,
      { signal, timeoutMs: waitMs + 15_000, blocking: waitMs > 0 },
    );
    if (!('groups' in res)) return res;
    const { groups } = res;
    return {
      index: res.index,
      ...(res.delta ? { delta: true as const, removed: res.removed ?? [] } : {}),
      allocations: res.allocations.map(({ alloc, groupRef, jobType }) => {
        const group = groups[groupRef];
        if (!group) throw new KaruError('INTERNAL', `allocation ${alloc.id}: the server's answer names group #${groupRef} of ${groups.length}`);
        return { alloc, group, jobType };
      }),
    };
  }
  updateAllocStatus(nodeId: NodeId, updates: AllocStatus[]): Promise<void> {
    return this.request('PUT', `/v1/nodes/${enc(nodeId)}/allocations/status`, { updates });
  }

  // ---- cluster security
  /** Asks for a node certificate with a join token (see JoinRequest). */
  join(req: JoinRequest): Promise<JoinResponse> {
    return this.request('POST', '/v1/join', req);
  }
  renewNodeCert(nodeId: NodeId, req: RenewCertRequest): Promise<RenewCertResponse> {
    return this.request('POST', `/v1/nodes/${enc(nodeId)}/renew`, req);
  }
  rotateJoinToken(): Promise<RotateJoinTokenResponse> {
    return this.request('POST', '/v1/acl/join-token/rotate');
  }
  /** `node` may be an id, a unique id prefix or a name. */
  removeNode(node: string): Promise<RemoveNodeResponse> {
    return this.request('DELETE', `/v1/nodes/${enc(node)}`);
  }

  withNodeSecret(secret: string): KaruClient {
    return new KaruClient({ ...this.opts, nodeSecret: secret });
  }

  // ---- plumbing
  async request<T>(method: string, path: string, body?: unknown, opts: RequestOptions = {}): Promise<T> {
    if (this.opts.transport) return this.viaTransport(this.opts.transport, method, path, body, opts);
    const res = await this.raw(method, path, body, opts);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** `request` over a Transport: the same headers, body and error model, without fetch's objects. */
  private async viaTransport<T>(transport: Transport, method: string, path: string, body: unknown, opts: RequestOptions): Promise<T> {
    let res: { status: number; text: string };
    try {
      res = await transport({
        method,
        base: this.base,
        path,
        headers: this.headersFor(body),
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(opts.signal ? { signal: opts.signal } : {}),
        timeoutMs: opts.timeoutMs ?? this.opts.timeoutMs ?? 30_000,
        blocking: opts.blocking ?? false,
        ...(opts.urgent ? { urgent: true } : {}),
      });
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      throw new KaruError('UNAVAILABLE', `cannot reach the Karu server at ${this.base}: ${describeFetchError(e)}`, { cause: e, retryable: true });
    }
    if (res.status >= 200 && res.status < 300) return (res.status === 204 || !res.text ? undefined : JSON.parse(res.text)) as T;
    throw httpError(method, path, res.status, res.text);
  }

  /** Headers of every call; one object per client for bodiless calls (they are only read). */
  private headersFor(body: unknown): Record<string, string> {
    if (body === undefined) return (this.bareHeaders ??= this.makeHeaders(false));
    return (this.jsonHeaders ??= this.makeHeaders(true));
  }
  private bareHeaders: Record<string, string> | undefined;
  private jsonHeaders: Record<string, string> | undefined;
  private makeHeaders(json: boolean): Record<string, string> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (json) headers['content-type'] = 'application/json';
    if (this.opts.nodeSecret) headers['x-karu-node-secret'] = this.opts.nodeSecret;
    return headers;
  }

  async raw(method: string, path: string, body?: unknown, opts: RequestOptions = {}): Promise<Response> {
    const timeoutMs = opts.timeoutMs ?? this.opts.timeoutMs ?? 30_000;
    const signals: AbortSignal[] = [];
    if (opts.signal) signals.push(opts.signal);
    if (timeoutMs > 0) signals.push(AbortSignal.timeout(timeoutMs));
    const headers = { ...this.headersFor(body) };
    let res: Response;
    try {
      res = await this.fetchImpl(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: signals.length ? AbortSignal.any(signals) : undefined,
      });
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      throw new KaruError('UNAVAILABLE', `cannot reach the Karu server at ${this.base}: ${describeFetchError(e)}`, { cause: e, retryable: true });
    }
    if (res.ok) return res;
    throw httpError(method, path, res.status, await res.text());
  }
}

/** A non-2xx answer as a KaruError with the server's code (or one guessed from the status). */
export function httpError(method: string, path: string, status: number, text: string): KaruError {
  let parsed: ApiErrorBody | undefined;
  try {
    parsed = JSON.parse(text) as ApiErrorBody;
  } catch {
    /* not our error body: fall through */
  }
  return new KaruError((parsed?.code as ErrorCode) ?? (status >= 500 ? 'INTERNAL' : 'INVALID'), parsed?.message ?? `${method} ${path}: HTTP ${status} ${text.slice(0, 200)}`, {
    details: { ...(parsed?.details ?? {}), status },
    retryable: status >= 500 || status === 409,
  });
}

function describeFetchError(e: unknown): string {
  if (e instanceof Error) {
    const cause = (e as Error & { cause?: { code?: string; message?: string } }).cause;
    if (cause?.code) return `${cause.code}${cause.message ? ` (${cause.message})` : ''}`;
    return e.message;
  }
  return String(e);
}

const enc = encodeURIComponent;

function query(params: Record<string, string | undefined>): string {
  const entries = Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== '');
  return entries.length ? '?' + new URLSearchParams(entries).toString() : '';
}

export type { AllocId };
