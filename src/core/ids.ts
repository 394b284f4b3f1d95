import type { Brand } from '../lib/brand.js';
import { newPrefixedId } from '../lib/ids.js';

export type NodeId = Brand<string, 'NodeId'>;
export type AllocId = Brand<string, 'AllocId'>;
export type EvalId = Brand<string, 'EvalId'>;

export const newNodeId = (now?: number) => newPrefixedId('node', now) as NodeId;
export const newAllocId = (now?: number) => newPrefixedId('alloc', now) as AllocId;
export const newEvalId = (now?: number) => newPrefixedId('eval', now) as EvalId;

/** Jobs are named, not numbered: `namespace/name` is their identity. */
export type JobKey = Brand<string, 'JobKey'>;
export const jobKey = (namespace: string, name: string) => `${namespace}/${name}` as JobKey;
export function splitJobKey(key: JobKey): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
