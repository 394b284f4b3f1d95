import type { NodeView } from '../../client/types.js';
import { KaruError } from '../../core/errors.js';
import { shortId } from '../../lib/ids.js';
import type { CommandContext } from '../context.js';

/** By id (full or prefix, as the server resolves it), else by name or short id among all nodes. */
export async function findNode(ctx: CommandContext, ref: string): Promise<NodeView> {
  try {
    return await ctx.client.getNode(ref);
  } catch (e) {
    if (!(e instanceof KaruError && e.code === 'NOT_FOUND')) throw e;
  }
  const nodes = await ctx.client.listNodes();
  const matches = nodes.filter((n) => n.name === ref || n.id === ref || shortId(n.id).startsWith(ref));
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) throw new KaruError('INVALID', `'${ref}' matches ${matches.length} nodes (${matches.map((n) => `${n.name} ${shortId(n.id)}`).join(', ')}): give more of the id`);
  throw new KaruError('NOT_FOUND', `no node '${ref}' (list them with \`karu node ls\`)`);
}
