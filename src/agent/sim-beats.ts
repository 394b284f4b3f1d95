import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { httpError } from '../client/client.js';
import { KaruError } from '../core/errors.js';
import type { NodeId } from '../core/ids.js';

/**
 * The beating thread. Every simulated node's heartbeats go from here, each node on its own
 * schedule (every half TTL, as the agent does, a little early at random so the nodes do
 * not beat in step), over keep-alive connections of its own. The main thread only tells
 * it who to beat with which credentials and body, and hears back what changed.
 *
 * A node whose beat was refused (401/404: revoked, forgotten, wrong secret) is not beaten
 * again until the main thread hands it new credentials; beating it on would only ask the
 * server the same question. Any other failure is retried within the period.
 *
 * The code is a string evaluated in the worker, so it runs the same from the TypeScript
 * sources and from the one-file bundle; it loads the undici of node_modules (the one the
 * bundle was built from).
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { Pool } = require(workerData.undici);
const { origin, prefix, connections, flushMs } = workerData;
const pool = new Pool(origin, { connections, pipelining: 1, keepAliveTimeout: 60000, keepAliveMaxTimeout: 600000 });
const nodes = new Map();
const changed = new Map();
let sent = 0, failed = 0, late = 0, maxGapMs = 0, reported = 0, flushTimer, closing = false;

const flush = () => {
  flushTimer = undefined;
  if (!changed.size && sent === reported) return;
  parentPort.postMessage({ sent, failed, late, maxGapMs, outcomes: [...changed.values()] });
  changed.clear();
  reported = sent;
};
const flushSoon = () => { if (!flushTimer && !closing) flushTimer = setTimeout(flush, flushMs); };
const outcome = (n, o) => {
  // Only changes go over; after new credentials or a new body the next outcome always does.
  const same = n.postedGen === n.gen && n.last && (o.ttlMs !== undefined ? n.last.ttlMs === o.ttlMs : n.last.status === o.status && n.last.text === o.text);
  n.last = o;
  n.postedGen = n.gen;
  if (same) return;
  changed.set(n.nodeId, { nodeId: n.nodeId, gen: n.gen, ...o });
  flushSoon();
};
const schedule = (n, ms) => {
  clearTimeout(n.timer);
  n.timer = setTimeout(() => beat(n), Math.max(0, ms));
};
const period = (n) => (n.ttlMs / 2) * (0.9 + 0.1 * Math.random());

const beat = async (n) => {
  n.timer = undefined;
  if (n.inFlight) { n.again = true; return; }
  n.inFlight = true;
  n.again = false;
  const gen = n.gen, startedAt = Date.now(), timeout = Math.max(1000, n.ttlMs);
  sent++;
  flushSoon();
  let o;
  try {
    const res = await pool.request({
      method: 'POST', path: prefix + '/v1/nodes/' + encodeURIComponent(n.nodeId) + '/heartbeat',
      headers: { accept: 'application/json', 'content-type': 'application/json', 'x-karu-node-secret': n.secret },
      body: n.body, headersTimeout: timeout, bodyTimeout: timeout,
    });
    const text = await res.body.text();
    if (res.statusCode >= 200 && res.statusCode < 300) {
      const ttl = JSON.parse(text).heartbeatTtlMs;
      o = { ttlMs: typeof ttl === 'number' && ttl > 0 ? ttl : n.ttlMs };
    } else {
      o = { status: res.statusCode, text }; // made a KaruError on the main thread, as the client makes it
    }
  } catch (err) {
    const cause = err && err.cause;
    o = { status: 0, text: 'cannot reach the Karu server at ' + origin + ': ' + ((cause && cause.code) || (err && (err.code || err.message)) || String(err)) };
  }
  n.inFlight = false;
  if (closing || nodes.get(n.nodeId) !== n) return;
  if (gen !== n.gen) return schedule(n, 0); // new credentials or body meanwhile: beat with them now
  outcome(n, o);
  if (o.ttlMs === undefined) failed++;
  else {
    // Time between two answered beats past the TTL: the server may have marked the node
    // down, and it was this thread's doing or the server's, not the agents' loop.
    const now = Date.now(), gap = n.okAt === undefined ? 0 : now - n.okAt;
    n.okAt = now;
    if (gap > n.ttlMs) { late++; if (gap > maxGapMs) maxGapMs = gap; }
  }
  if (o.ttlMs !== undefined) { n.ttlMs = o.ttlMs; return schedule(n, n.again ? 0 : startedAt + period(n) - Date.now()); }
  if (o.status === 401 || o.status === 404) return; // refused: parked until new credentials come
  schedule(n, Math.min(period(n), 1000));
};

parentPort.on('message', (msg) => {
  if (msg === 'close') {
    closing = true;
    clearTimeout(flushTimer);
    for (const n of nodes.values()) clearTimeout(n.timer);
    pool.destroy().finally(() => parentPort.close());
    return;
  }
  for (const c of msg) {
    let n = nodes.get(c.nodeId);
    if (c.op === 'remove') { if (n) { clearTimeout(n.timer); nodes.delete(c.nodeId); } continue; }
    if (!n) { n = { nodeId: c.nodeId, inFlight: false, again: false, timer: undefined, last: undefined }; nodes.set(c.nodeId, n); }
    n.gen = c.gen;
    if (c.op === 'body') { n.body = c.body; schedule(n, 0); continue; }
    n.secret = c.secret; n.body = c.body; n.ttlMs = c.ttlMs; n.okAt = Date.now();
    // The main thread starts from the registration's answer too.
    n.last = { ttlMs: c.ttlMs };
    n.postedGen = c.gen;
    // A new node has just registered (that was its contact): its first beat is within the period, spread.
    // New credentials or a new body go out now.
    schedule(n, c.op === 'add' ? Math.random() * n.ttlMs / 2 : 0);
  }
});
`;

/** What a node's beats got last: the server's TTL, or the error of the latest beat. */
export type BeatOutcome = { readonly ttlMs: number } | { readonly error: KaruError };

export interface BeatLaneOptions {
  /** The server's base URL (plain HTTP; may carry a path prefix). */
  serverUrl: string;
  /** Keep-alive connections the beats share. Default 16. */
  connections?: number;
  /** How long the thread gathers changed outcomes before posting them. Default 50 ms. */
  flushMs?: number;
}

interface Change {
  op: 'add' | 'update' | 'body' | 'remove';
  nodeId: NodeId;
  gen: number;
  secret?: string;
  body?: string;
  ttlMs?: number;
}

/** What the thread has seen of its beats so far. */
export interface BeatStats {
  /** Beats sent. */
  sent: number;
  /** Beats that failed (refused, timed out, connection lost). */
  failed: number;
  /** Answered beats that came more than a TTL after the node's previous answered one (or its registration). */
  late: number;
  /** The longest of those gaps. */
  maxGapMs: number;
}

interface Posted extends BeatStats {
  /** `status` 0: the server could not be reached (`text` says why); else its answer's status and body. */
  outcomes: { nodeId: NodeId; gen: number; ttlMs?: number; status?: number; text?: string }[];
}

interface Entry {
  gen: number;
  body: string;
  secret: string;
  last: BeatOutcome;
}

/**
 * Heartbeats of many simulated nodes from a thread of their own. `karu sim` runs thousands
 * of agents on one event loop; while allocations land it stalls for a second or two, and
 * with every node's beat loop on it, all of them missed their beats at once and the server
 * rightly marked them down (issue 5: ~1,500 false marks of 5,000). A real agent has its own
 * machine; here the beats get their own thread, and an agent's heartbeat call answers from
 * what the thread heard last (`last`), so its refusal → re-register path still runs.
 */
export class BeatLane {
  private readonly worker: Worker;
  private readonly entries = new Map<NodeId, Entry>();
  private pending: Change[] = [];
  private gen = 0;
  private closing: Promise<void> | undefined;
  private readonly exited: Promise<void>;
  /** As last reported by the thread. */
  readonly stats: BeatStats = { sent: 0, failed: 0, late: 0, maxGapMs: 0 };

  constructor(opts: BeatLaneOptions) {
    const url = new URL(opts.serverUrl);
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      execArgv: [],
      workerData: {
        undici: createRequire(import.meta.url).resolve('undici'),
        origin: url.origin,
        prefix: url.pathname.replace(/\/+$/, ''),
        connections: opts.connections ?? 16,
        flushMs: opts.flushMs ?? 50,
      },
    });
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.on('message', (msg: Posted) => this.receive(msg));
    // A thread that failed leaves every node without beats: say so in each node's outcome.
    this.worker.on('error', (err) => {
      const error = new KaruError('INTERNAL', `the sim's heartbeat thread failed: ${err.message}`, { cause: err });
      for (const e of this.entries.values()) e.last = { error };
    });
  }

  /** Starts beating a node that has just registered (with `ttlMs` from its registration). */
  add(nodeId: NodeId, secret: string, body: string, ttlMs: number): void {
    this.set('add', nodeId, secret, body, ttlMs);
  }

  /** New credentials (a re-registration, `ttlMs` from its answer): beats with them at once. */
  update(nodeId: NodeId, secret: string, body: string, ttlMs: number): void {
    this.set(this.entries.has(nodeId) ? 'update' : 'add', nodeId, secret, body, ttlMs);
  }

  /** The node's beats carry a new body (its driver health changed): sent at once; the last outcome stands until the thread answers. */
  setBody(nodeId: NodeId, body: string): void {
    const e = this.entries.get(nodeId);
    if (!e || e.body === body) return;
    e.gen = ++this.gen;
    e.body = body;
    this.post({ op: 'body', nodeId, gen: e.gen, body });
  }

  remove(nodeId: NodeId): void {
    if (!this.entries.delete(nodeId)) return;
    this.post({ op: 'remove', nodeId, gen: ++this.gen });
  }

  /** The latest outcome of the node's beats; undefined for a node the lane does not beat. */
  last(nodeId: NodeId): BeatOutcome | undefined {
    return this.entries.get(nodeId)?.last;
  }

  /** Stops every beat and ends the thread. */
  close(): Promise<void> {
    return (this.closing ??= (async () => {
      this.entries.clear();
      this.pending = [];
      this.worker.postMessage('close');
      await this.exited;
    })());
  }

  private set(op: 'add' | 'update', nodeId: NodeId, secret: string, body: string, ttlMs: number): void {
    const gen = ++this.gen;
    this.entries.set(nodeId, { gen, secret, body, last: { ttlMs } });
    this.post({ op, nodeId, gen, secret, body, ttlMs });
  }

  /** Changes go over in one message per turn of the event loop (5,000 registrations are 5,000 adds). */
  private post(c: Change): void {
    if (this.closing) return;
    this.pending.push(c);
    if (this.pending.length > 1) return;
    queueMicrotask(() => {
      const batch = this.pending;
      this.pending = [];
      if (batch.length && !this.closing) this.worker.postMessage(batch);
    });
  }

  private receive(msg: Posted): void {
    this.stats.sent = msg.sent;
    this.stats.failed = msg.failed;
    this.stats.late = msg.late;
    this.stats.maxGapMs = msg.maxGapMs;
    for (const o of msg.outcomes) {
      const e = this.entries.get(o.nodeId);
      // An outcome of older credentials or body: the node has moved on.
      if (!e || e.gen !== o.gen) continue;
      e.last = o.ttlMs !== undefined ? { ttlMs: o.ttlMs } : { error: beatError(o.nodeId, o.status ?? 0, o.text ?? '') };
    }
  }
}

/** A failed beat as the KaruClient would have thrown it. */
function beatError(nodeId: NodeId, status: number, text: string): KaruError {
  if (status === 0) return new KaruError('UNAVAILABLE', text, { retryable: true });
  return httpError('POST', `/v1/nodes/${encodeURIComponent(nodeId)}/heartbeat`, status, text);
}
