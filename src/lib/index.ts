/**
 * lib: domain-free helpers (ids, time, randomness, backoff, logging). Imports nothing of ours.
 */
export * from './brand.js';
export * from './ids.js';
export * from './clock.js';
export * from './rng.js';
export * from './backoff.js';
export * from './disposable.js';
