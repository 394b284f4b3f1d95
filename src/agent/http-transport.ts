import { Pool } from 'undici';
import type { Transport, TransportRequest } from '../client/transport.js';

export interface PooledTransportOptions {
  /**
   * Keep-alive connections for short calls (register, status reports), shared by every
   * client on the transport; calls beyond them queue. Default 32.
   */
  connections?: number;
  /** Keep-alive connections for heartbeats, a lane of their own. Default 16. */
  beatConnections?: number;
}

export interface PooledTransport {
  readonly request: Transport;
  /** Calls sent so far: heartbeats, other short calls, blocking queries (what `karu sim` divides its CPU by). */
  readonly sent: { beats: number; short: number; blocking: number };
  /** Waits for calls in flight, then closes every connection. */
  close(): Promise<void>;
}

/**
 * A KaruClient transport over undici's dispatcher API (no fetch: no web streams, Headers,
 * Response or abort-signal objects per call), for many clients of one server in one
 * process — `karu sim`'s thousands of nodes. Three pools per server: heartbeats have a
 * bounded set of keep-alive connections of their own (a late beat marks a node down; while
 * plans land, status reports would otherwise fill every connection); other short calls
 * share another; blocking queries, which the server holds open for up to their wait, get
 * their own (one per query in flight, reused), so a beat never waits behind a long poll. The deadline is undici's own (headers, then body,
 * checked about every half second, counted from when the call is written), so a call
 * allocates no timer or signal of its own.
 */
export function pooledTransport(opts: PooledTransportOptions = {}): PooledTransport {
  const connections = opts.connections ?? 32;
  const beatConnections = opts.beatConnections ?? 16;
  const pools = new Map<string, { beats: Pool; short: Pool; blocking: Pool }>();
  const sent = { beats: 0, short: 0, blocking: 0 };
  const poolsFor = (base: string) => {
    let p = pools.get(base);
    if (!p) {
      const origin = new URL(base).origin;
      const keepAlive = { keepAliveTimeout: 60_000, keepAliveMaxTimeout: 600_000 };
      p = {
        beats: new Pool(origin, { ...keepAlive, connections: beatConnections, pipelining: 1 }),
        short: new Pool(origin, { ...keepAlive, connections, pipelining: 1 }),
        blocking: new Pool(origin, { ...keepAlive, connections: null, pipelining: 1 }),
      };
      pools.set(base, p);
    }
    return p;
  };
  // The base URL may carry a path prefix (a server behind a proxy): keep it.
  const prefixes = new Map<string, string>();
  const prefixOf = (base: string) => {
    let prefix = prefixes.get(base);
    if (prefix === undefined) prefixes.set(base, (prefix = new URL(base).pathname.replace(/\/+$/, '')));
    return prefix;
  };

  const request: Transport = async (req: TransportRequest) => {
    const p = poolsFor(req.base);
    const lane = req.blocking ? 'blocking' : req.urgent ? 'beats' : 'short';
    sent[lane]++;
    const pool = p[lane];
    const timeout = req.timeoutMs > 0 ? req.timeoutMs : 0;
    const res = await pool.request({
      method: req.method as 'GET',
      path: prefixOf(req.base) + req.path,
      headers: req.headers,
      body: req.body ?? null,
      signal: req.signal ?? null,
      headersTimeout: timeout,
      bodyTimeout: timeout,
    });
    return { status: res.statusCode, text: await res.body.text() };
  };

  return {
    request,
    sent,
    async close() {
      await Promise.all([...pools.values()].flatMap((p) => [p.beats.close(), p.short.close(), p.blocking.close()]));
      pools.clear();
    },
  };
}
