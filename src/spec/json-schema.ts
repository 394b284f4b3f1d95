/**
 * The published JSON Schema of the job file (`karu job schema`), generated from the zod
 * schema so the two cannot drift. It describes the file as written (zod's "input" side):
 * fields with defaults are optional, units are strings, nothing server-owned appears.
 */
import { z } from 'zod';
import { jobFileSchema } from './job-schema.js';

/** JSON Schema (draft 2020-12) of a Karu job file, for editors and other tools. */
export function jobJsonSchema(): Record<string, unknown> {
  const { $schema, ...rest } = z.toJSONSchema(jobFileSchema, { io: 'input', target: 'draft-2020-12' });
  return { $schema, title: 'Karu job file', ...rest };
}
