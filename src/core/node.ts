import type { NodeId } from './ids.js';
import type { Resources } from './resources.js';

/**
 * A machine running a Karu agent. The agent reports resources, attributes and driver
 * health; the server owns `status` (from heartbeats) and `eligibility`/`drain` (from admins).
 */
export interface Node {
  id: NodeId;
  name: string;
  /** Address other machines reach this node on (host ports of allocations live here). */
  address: string;
  status: NodeStatus;
  statusDescription: string;
  eligibility: 'eligible' | 'ineligible';
  drain: boolean;
  /** While `drain`: how the drain runs (the drainer controller acts on it). */
  drainStrategy?: DrainStrategy;
  /** How the last drain ended, for `karu node status`. */
  lastDrain?: { completedAt: number; message: string };
  /** Total resources the node offers to allocations (after the agent's reservation). */
  resources: Resources;
  /** Fingerprinted facts: `os.name`, `kernel.version`, `cpu.cores`, `docker.version`… */
  attributes: Record<string, string>;
  /** Operator-given labels (`--label zone=a`). */
  labels: Record<string, string>;
  /** Node pool the node belongs to (`--pool`); undefined = `default`. Jobs run only in their own pool. */
  pool?: string;
  drivers: Record<string, DriverHealth>;
  /** URL of the agent's own API (logs), as the server reaches it. */
  agentUrl?: string;
  /** Range dynamic host ports are drawn from, inclusive. */
  portRange: { min: number; max: number };
  registeredAt: number;
  statusUpdatedAt: number;
  /** When the node last missed its heartbeats; meaningful while `status` is `disconnected`. */
  disconnectedAt?: number;
  /** Status changes, most recent last, capped at MAX_NODE_EVENTS (oldest dropped). */
  events?: NodeEvent[];
}

/** One change of a node's status, with why. */
export interface NodeEvent {
  time: number;
  status: NodeStatus;
  message: string;
}

export const MAX_NODE_EVENTS = 10;

/** `events` with one more, capped: the node's history for `karu node status`. */
export function withNodeEvent(events: readonly NodeEvent[] | undefined, event: NodeEvent): NodeEvent[] {
  return [...(events ?? []), event].slice(-MAX_NODE_EVENTS);
}

/** A drain in progress: allocations move off the node until none is left or the deadline passes. */
export interface DrainStrategy {
  startedAt: number;
  /** When whatever is left is stopped at once (replacements placed without waiting). */
  deadlineAt: number;
  /** Leave system jobs' allocations in place (there are no system jobs yet: kept for the API). */
  ignoreSystem: boolean;
}

export type NodeStatus = 'initializing' | 'ready' | 'disconnected' | 'down';

export interface DriverHealth {
  healthy: boolean;
  detail: string;
}

/** A node the scheduler may place new work on. */
export function isSchedulable(node: Node): boolean {
  return node.status === 'ready' && node.eligibility === 'eligible' && !node.drain;
}

/** The pool of a node without `pool` and of a job without `nodePool`. */
export const DEFAULT_NODE_POOL = 'default';
