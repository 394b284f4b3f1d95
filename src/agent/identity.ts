import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NodeId } from '../core/ids.js';

/** Who this node is to the server; kept across agent restarts so the node keeps its identity. */
export interface NodeIdentityRecord {
  nodeId: NodeId;
  secret: string;
}

export const IDENTITY_FILE = 'node.json';

/** Reads `<dataDir>/node.json`; undefined when absent or unreadable (the node registers anew). */
export async function loadIdentity(dataDir: string): Promise<NodeIdentityRecord | undefined> {
  let text: string;
  try {
    text = await readFile(join(dataDir, IDENTITY_FILE), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const parsed = JSON.parse(text) as Partial<NodeIdentityRecord>;
    if (typeof parsed.nodeId === 'string' && typeof parsed.secret === 'string') return { nodeId: parsed.nodeId as NodeId, secret: parsed.secret };
  } catch {
    /* corrupt: register as a new node */
  }
  return undefined;
}

/** Writes the identity atomically (temp file + rename), readable by the owner only: it holds the secret. */
export async function saveIdentity(dataDir: string, identity: NodeIdentityRecord): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  const path = join(dataDir, IDENTITY_FILE);
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(identity, null, 2) + '\n', { mode: 0o600 });
  await rename(tmp, path);
}
