import type { Rng } from './rng.js';

export interface BackoffOptions {
  /** First delay. Default 100 ms. */
  baseMs?: number;
  /** Upper bound on any delay. Default 30 s. */
  maxMs?: number;
  /** Fraction of random spread around each delay, 0..1. Default 0.2. */
  jitter?: number;
}

/** Exponential backoff with jitter: attempt 0 → ~base, 1 → ~2·base, … capped at max. */
export function backoffDelay(attempt: number, rng: Rng | undefined, opts: BackoffOptions = {}): number {
  const base = opts.baseMs ?? 100;
  const max = opts.maxMs ?? 30_000;
  const jitter = opts.jitter ?? 0.2;
  const raw = Math.min(max, base * 2 ** Math.min(attempt, 30));
  if (!rng || jitter === 0) return raw;
  const spread = raw * jitter;
  return Math.max(0, Math.min(max, raw - spread + rng.next() * 2 * spread));
}
