import type { IngressRoute } from '../../core/ingress.js';
import type { ServiceEntry } from './service-table.js';

/**
 * The messages between the agent (primary) and its ingress worker processes, over the
 * IPC channel `node:cluster` sets up. Both ends are the same program (the worker runs the
 * agent's own entry), so the shapes are shared types and only the tag is checked.
 *
 * Level-triggered: `state` carries the whole table and route list every time, so a
 * worker that missed one (or was just restarted) is right after the next.
 */

/** One listener a worker serves: plain HTTP or HTTPS (PEM text), on a concrete port. */
export interface WorkerListener {
  name: 'http' | 'https';
  host: string;
  port: number;
  tls?: { cert: string; key: string };
}

export type ToWorker =
  | { t: 'start'; listeners: WorkerListener[]; keepAliveTimeoutMs?: number; backendKeepAliveMs?: number; logLevel: string }
  | { t: 'state'; seq: number; services: ServiceEntry[]; routes: IngressRoute[] }
  | { t: 'stop'; graceMs: number };

/** What became of one listener in a worker: its port, or why it could not listen. */
export type ListenerResult = { name: 'http' | 'https'; port: number } | { name: 'http' | 'https'; error: string };

export type FromWorker =
  /** The worker listens for messages: it is sent the state, then `start`. */
  | { t: 'hello' }
  | { t: 'ready'; listeners: ListenerResult[] }
  | { t: 'applied'; seq: number };

/** The environment variable that makes the program an ingress worker (read by the CLI entry). */
export const ROLE_ENV = 'KARU_ROLE';
export const INGRESS_WORKER_ROLE = 'ingress-worker';

/** A message of the protocol (anything else on the channel, e.g. cluster's own, is not). */
export function isMessage<T extends { t: string }>(m: unknown, tags: readonly T['t'][]): m is T {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string' && tags.includes((m as { t: string }).t);
}
