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
  /** Total resources the node offers to allocations (after the agent's reservation). */
  resources: Resources;
  /** Fingerprinted facts: `os.name`, `kernel.version`, `cpu.cores`, `docker.version`… */
  attributes: Record<string, string>;
  /** Operator-given labels (`--label zone=a`). */
  labels: Record<string, string>;
  drivers: Record<string, DriverHealth>;
  /** URL of the agent's own API (logs), as the server reaches it. */
  agentUrl?: string;
  /** Range dynamic host ports are drawn from, inclusive. */
  portRange: { min: number; max: number };
  registeredAt: number;
  statusUpdatedAt: number;
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
