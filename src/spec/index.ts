/**
 * spec: the job file — its schema (the single source of truth for what a job may say),
 * YAML parsing with errors located at `file:line:col`, validation of API bodies, and the
 * published JSON Schema. Turns what users write into a core `Job`; imports only core and lib.
 */
export { parseJobFile, readJobFile, validateJobObject } from './parse.js';
export type { JobFileContents } from './parse.js';
export { jobJsonSchema } from './json-schema.js';
export {
  jobFileSchema,
  normaliseAttribute,
  DEFAULT_KILL_TIMEOUT_MS,
  DEFAULT_RESOURCES,
  MHZ_PER_CORE,
  MIN_MEMORY_MB,
  RESCHEDULE_DEFAULTS,
  RESTART_DEFAULTS,
} from './job-schema.js';
export type { JobFile } from './job-schema.js';
export { DEFAULT_CHECK_INTERVAL_MS, DEFAULT_CHECK_TIMEOUT_MS } from './network-schema.js';
export { DEFAULT_SPREAD_WEIGHT } from './placement-schema.js';
export { formatDurationMs, parseDurationMs, parseMemoryMb } from './units.js';
