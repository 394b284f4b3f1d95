/**
 * A node's ports and group counts as a plan leaves them, without copying the read model's.
 * The state's set and map are shared and only read; an overlay keeps just what the plan
 * changed, so the first placement on a node costs O(1) instead of O(allocations there)
 * (at 1M allocations a node holds hundreds of ports and groups).
 *
 * The shared base must not change while an overlay reads it: a plan is built and verified
 * synchronously, within one turn of the read model.
 */

/** Host ports held on a node: what the port filters, port assignment and preemption read. */
export interface PortsView {
  has(port: number): boolean;
  /** How many held ports lie in `min..max` (a node's dynamic range). */
  countIn(min: number, max: number): number;
}

/** Live allocations per `namespace/job/group` (usage.ts `groupKey`); undefined = none, as a Map answers. */
export interface GroupCounts {
  get(key: string): number | undefined;
}

/** `base` (never mutated) with the plan's additions and removals: answers as a copied Set would. */
export class PortOverlay implements PortsView {
  /** Held now and not in `base`. */
  private added: Set<number> | undefined;
  /** In `base` but freed by the plan. */
  private removed: Set<number> | undefined;
  /** `base`'s count in the last range asked (a node's range does not change within a plan). */
  private baseIn: { min: number; max: number; n: number } | undefined;

  constructor(private readonly base: ReadonlySet<number>) {}

  has(port: number): boolean {
    if (this.base.has(port)) return this.removed === undefined || !this.removed.has(port);
    return this.added !== undefined && this.added.has(port);
  }

  add(port: number): void {
    if (this.base.has(port)) this.removed?.delete(port);
    else (this.added ??= new Set()).add(port);
  }

  delete(port: number): void {
    if (this.base.has(port)) (this.removed ??= new Set()).add(port);
    else this.added?.delete(port);
  }

  countIn(min: number, max: number): number {
    let b = this.baseIn;
    if (b === undefined || b.min !== min || b.max !== max) {
      let n = 0;
      for (const p of this.base) if (p >= min && p <= max) n++;
      b = this.baseIn = { min, max, n };
    }
    let n = b.n;
    if (this.added !== undefined) for (const p of this.added) if (p >= min && p <= max) n++;
    if (this.removed !== undefined) for (const p of this.removed) if (p >= min && p <= max) n--;
    return n;
  }
}

/**
 * `base` (never mutated) with the plan's changes: answers as a copied Map would, where a
 * count is raised by one, or lowered by one and dropped at 0. Raising never reads `base`
 * (a placement only adds), so the state's map is read only for the counts asked for.
 */
export class GroupOverlay implements GroupCounts {
  /** Added to `base`'s count, for keys never lowered. */
  private plus: Map<string, number> | undefined;
  /** The count itself (0 = none), for keys lowered at least once. */
  private lowered: Map<string, number> | undefined;

  constructor(private readonly base: ReadonlyMap<string, number>) {}

  get(key: string): number | undefined {
    const n = this.lowered?.get(key);
    if (n !== undefined) return n > 0 ? n : undefined;
    const p = this.plus?.get(key);
    if (p === undefined) return this.base.get(key);
    return (this.base.get(key) ?? 0) + p;
  }

  add(key: string): void {
    const n = this.lowered?.get(key);
    if (n !== undefined) this.lowered!.set(key, n + 1);
    else (this.plus ??= new Map()).set(key, (this.plus.get(key) ?? 0) + 1);
  }

  /** Lowers the count of `key` by one; a count at 0 stays 0 (gone). */
  remove(key: string): void {
    const n = Math.max(0, (this.get(key) ?? 0) - 1);
    (this.lowered ??= new Map()).set(key, n);
    this.plus?.delete(key);
  }
}

/** No ports held: for `node`-stage filters and empty nodes. */
export const NO_PORTS: PortsView = { has: () => false, countIn: () => 0 };
/** No groups: for `node`-stage filters and empty nodes. */
export const NO_GROUPS: GroupCounts = { get: () => undefined };
