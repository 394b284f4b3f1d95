import { KaruError, UnavailableError, type ErrorCode, type ErrorDetails } from '../core/errors.js';
import type { AllocView } from '../core/alloc.js';

/** The header the server presents to an agent's API (the agent checks it). */
export const SERVER_TOKEN_HEADER = 'x-karu-server-token';

const KNOWN_CODES: ReadonlySet<string> = new Set<ErrorCode>(['NOT_FOUND', 'CONFLICT', 'INVALID', 'UNAUTHORIZED', 'FORBIDDEN', 'UNAVAILABLE', 'INTERNAL']);

export interface LogsRequest {
  alloc: AllocView;
  /** From ControlPlane.agentEndpoint; undefined when the node has none on record. */
  endpoint: { url: string; token: string } | undefined;
  task?: string;
  follow: boolean;
  tail?: number;
  fetchAgent: typeof fetch;
  /** The client's request signal: when the client goes away, so does the upstream call. */
  signal: AbortSignal;
}

/**
 * Streams an allocation's logs from its node's agent, NDJSON passed through unchanged.
 * The upstream request is aborted when the client disconnects or cancels the body, so a
 * `karu logs -f` that is interrupted leaves nothing following on the agent.
 */
export async function proxyAllocLogs(req: LogsRequest): Promise<Response> {
  const { alloc, endpoint } = req;
  const node = `'${alloc.nodeName}' (${alloc.nodeId})`;
  if (!endpoint) throw new UnavailableError(`node ${node} has no agent address on record; its logs cannot be read until its agent registers again`);

  const params = new URLSearchParams();
  if (req.task) params.set('task', req.task);
  if (req.follow) params.set('follow', 'true');
  if (req.tail !== undefined) params.set('tail', String(req.tail));
  const qs = params.size ? `?${params}` : '';
  const url = `${endpoint.url.replace(/\/+$/, '')}/v1/agent/allocations/${encodeURIComponent(alloc.id)}/logs${qs}`;

  const upstreamAbort = new AbortController();
  const onClientGone = () => upstreamAbort.abort(req.signal.reason);
  if (req.signal.aborted) onClientGone();
  else req.signal.addEventListener('abort', onClientGone, { once: true });
  const release = () => req.signal.removeEventListener('abort', onClientGone);

  let upstream: Response;
  try {
    upstream = await req.fetchAgent(url, {
      method: 'GET',
      headers: { [SERVER_TOKEN_HEADER]: endpoint.token, accept: 'application/x-ndjson' },
      signal: upstreamAbort.signal,
    });
  } catch (e) {
    release();
    throw new UnavailableError(`the agent of node ${node} at ${endpoint.url} is unreachable (${describe(e)}); try again when the node is back`, e);
  }

  if (!upstream.ok) {
    release();
    throw await agentError(upstream, node);
  }
  if (!upstream.body) {
    release();
    return new Response(null, { status: 200, headers: ndjsonHeaders });
  }

  const reader = upstream.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          release();
          controller.close();
        } else {
          controller.enqueue(value);
        }
      } catch (e) {
        release();
        controller.error(e);
      }
    },
    async cancel(reason) {
      release();
      upstreamAbort.abort(reason);
      await reader.cancel(reason).catch(() => undefined);
    },
  });
  return new Response(body, { status: 200, headers: ndjsonHeaders });
}

const ndjsonHeaders = { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-cache' };

/**
 * The agent's own refusals that concern the user's request (no such task: 404, bad
 * parameter: 400) pass through with their code; anything else is the agent's trouble,
 * not the user's, and answers 503.
 */
async function agentError(res: Response, node: string): Promise<KaruError> {
  let parsed: { code?: unknown; message?: unknown; details?: unknown } | undefined;
  try {
    parsed = (await res.json()) as typeof parsed;
  } catch {
    /* not our error shape */
  }
  const code = typeof parsed?.code === 'string' && KNOWN_CODES.has(parsed.code) ? (parsed.code as ErrorCode) : undefined;
  const message = typeof parsed?.message === 'string' ? parsed.message : `HTTP ${res.status}`;
  if ((code === 'NOT_FOUND' || code === 'INVALID') && res.status < 500) {
    const details = parsed?.details && typeof parsed.details === 'object' ? (parsed.details as ErrorDetails) : {};
    return new KaruError(code, message, { details, retryable: false });
  }
  return new UnavailableError(`the agent of node ${node} could not serve logs: ${message}`);
}

function describe(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = (e as Error & { cause?: { code?: string } }).cause;
  return cause?.code ?? e.message;
}
