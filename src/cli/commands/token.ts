import type { Command } from 'commander';
import { KaruError } from '../../core/errors.js';
import { println, printJson, type CommandContext, type CommandResult } from '../context.js';
import type { ActionWrapper } from '../program.js';

/** `karu token rotate`: a new join token; the old one stops working, joined nodes carry on. */
export function registerToken(program: Command, wrap: ActionWrapper): void {
  const token = program
    .command('token')
    .description('Manage the join token agents use to join the cluster')
    .addHelpText(
      'after',
      `
Examples:
  $ karu token rotate`,
    );
  token
    .command('rotate')
    .description('Replace the join token: the old one no longer joins anybody; joined nodes are not affected')
    .option('--json', 'print the token, CA fingerprint and join command as JSON')
    .addHelpText(
      'after',
      `
Prints the new token and the command to run on a new node.

Examples:
  $ karu token rotate
  $ karu --server https://10.0.0.5:4646 --ca ca.pem token rotate --json`,
    )
    .action(wrap((ctx, opts: { json?: boolean }) => runTokenRotate(ctx, opts)));
}

export async function runTokenRotate(ctx: CommandContext, opts: { json?: boolean }): CommandResult {
  const res = await ctx.client.rotateJoinToken();
  if (opts.json) return printJson(ctx.stdout, res);
  println(ctx.stdout, 'Join token rotated; the previous token no longer works.');
  println(ctx.stdout, `CA fingerprint (sha256): ${res.caFingerprint}`);
  println(ctx.stdout, `Join token: ${res.token}`);
  println(ctx.stdout, 'On each new node run:');
  println(ctx.stdout, `  ${res.joinCommand}`);
}

/** `karu node rm NODE`, added to the `node` command. */
export function registerNodeRemove(program: Command, wrap: ActionWrapper): void {
  const node = program.commands.find((c) => c.name() === 'node');
  if (!node) throw new Error('registerNodeRemove: the node command must be registered first');
  node
    .command('rm')
    .alias('remove')
    .description("Remove a node: revoke its certificate, mark it down, and replace its allocations elsewhere")
    .argument('<node>', 'node id, short id or name')
    .addHelpText(
      'after',
      `
The node's agent is refused from then on; to bring the machine back, delete its data
directory and join it again with a token.

Examples:
  $ karu node rm worker-3`,
    )
    .action(wrap((ctx, ref: string) => runNodeRemove(ctx, ref)));
}

export async function runNodeRemove(ctx: CommandContext, ref: string): CommandResult {
  let res;
  try {
    res = await ctx.client.removeNode(ref);
  } catch (e) {
    if (e instanceof KaruError && e.code === 'NOT_FOUND') throw new KaruError('NOT_FOUND', `no node '${ref}' (see \`karu node ls\`)`, { cause: e });
    throw e;
  }
  const n = res.evalIds.length;
  println(ctx.stdout, `Node ${res.nodeId} removed: its certificate is revoked${n ? `; ${n} job${n === 1 ? '' : 's'} re-evaluated to replace its allocations` : ''}.`);
}
