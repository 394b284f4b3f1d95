import type { Group } from './job.js';

/**
 * What happens to a group's allocations while their node is cut off from the server
 * (Nomad's `disconnect` block). The server decides from heartbeats alone: it cannot tell
 * a dead machine from a partitioned one, so this policy says what each mistake may cost.
 */
export interface DisconnectPolicy {
  /**
   * How long an allocation on a node that missed its heartbeats counts as disconnected
   * (it may come back) before it is lost for good (stopped and, if not yet, replaced).
   * 0 = lost as soon as the heartbeat TTL passes (the node goes straight to `down`).
   */
  lostAfterMs: number;
  /** Start a replacement while the original is only disconnected. */
  replace: boolean;
  /**
   * The agent stops the allocation itself after being cut off from the server this long
   * (so a partitioned node does not keep a second copy running). null = keep running.
   */
  stopOnClientAfterMs: number | null;
  /** When the node returns and both the original and its replacement run: which stays. */
  reconcile: DisconnectReconcile;
}

export type DisconnectReconcile = 'keep_original' | 'keep_replacement' | 'best_score';
export const DISCONNECT_RECONCILE_OPTIONS = ['keep_original', 'keep_replacement', 'best_score'] as const satisfies readonly DisconnectReconcile[];

/**
 * Defaults: lost at once (fast failover, as a node that misses its TTL is most often
 * gone), replace, keep running on the cut-off node, best score wins on return.
 */
export const DISCONNECT_DEFAULTS: Readonly<DisconnectPolicy> = Object.freeze({
  lostAfterMs: 0,
  replace: true,
  stopOnClientAfterMs: null,
  reconcile: 'best_score',
});

/** The group's policy with defaults filled in (groups written before the block existed have none). */
export function disconnectPolicy(group: Pick<Group, 'disconnect'>): DisconnectPolicy {
  return { ...DISCONNECT_DEFAULTS, ...group.disconnect };
}
