import type { Command } from 'commander';
import { join } from 'node:path';
import { KaruClient } from '../../client/client.js';
import type { NodeView } from '../../client/types.js';
import { allocName, isLive } from '../../core/alloc.js';
import { isKaruError, KaruError } from '../../core/errors.js';
import { sleep } from '../../lib/clock.js';
import { createLogger } from '../../lib/logger.js';
import { collect, collectLabel, parsePositiveInt } from '../args.js';
import { EXIT_OK, println, type CommandContext, type CommandResult } from '../context.js';
import { formatError } from '../errors.js';
import { DEFAULT_DATA_DIR, untilAborted } from '../lifecycle.js';
import type { ActionWrapper } from '../program.js';
import { agentInput } from './agent.js';
import { deployFile } from './deploy.js';
import { logLevelOption, type LogLevel } from './server.js';

export interface DevOptions {
  dataDir?: string;
  listen?: string;
  deploy?: string[];
  name?: string;
  label?: Record<string, string>;
  httpPort?: number;
  address?: string;
  stopOnExit?: boolean;
  logLevel?: LogLevel;
  /** commander's `--no-dataplane`. */
  dataplane?: boolean;
  ingressHttp?: number;
  ingressAddress?: string;
  ingressWorkers?: number;
}

/** Where `karu dev`'s ingress listens unless told otherwise: this machine only. */
const DEV_INGRESS = { address: '127.0.0.1', port: 8080 } as const;

/** How long `karu dev` waits for its own agent's node to be ready before deploying. */
const NODE_READY_TIMEOUT_MS = 60_000;
/** How long --stop-on-exit waits for the containers to stop (busybox ignores SIGTERM: 10 s grace). */
const STOP_TIMEOUT_MS = 60_000;

export function registerDev(program: Command, wrap: ActionWrapper): void {
  program
    .command('dev')
    .description('Run a server and an agent in one process: a one-node cluster for development')
    .option('--data-dir <dir>', 'where state is kept (server/ and agent/ inside)', DEFAULT_DATA_DIR)
    .option('--listen <host:port>', 'address of the API', '127.0.0.1:4646')
    .option('--deploy <file>', 'deploy this job file once up; repeatable', collect)
    .option('--name <name>', 'node name (default: the hostname)')
    .option('--address <ip>', 'address the node is reached on; a single-machine cluster needs no other', '127.0.0.1')
    .option('--label <key=value>', 'a node label; repeatable', collectLabel)
    .option('--http-port <port>', "port of the agent's own API (default: any free port)", parsePositiveInt)
    .option('--stop-on-exit', 'stop every job (and so its containers) when interrupted')
    .option('--no-dataplane', "don't run the data plane (DNS for containers, service VIPs, ingress)")
    .option('--ingress-http <port>', `HTTP port of the ingress (default ${DEV_INGRESS.port})`, parsePositiveInt)
    .option('--ingress-address <ip>', `address the ingress listens on (default ${DEV_INGRESS.address})`)
    .option('--ingress-workers <n>', 'processes serving the HTTP ingress, 1 = in this process (default: cores, at most 4)', parsePositiveInt)
    .addOption(logLevelOption('how much server and agent log to stderr (default warn)'))
    .addHelpText(
      'after',
      `
Prints the server's URL, deploys the --deploy files (watching each roll out), then the
URL of every running allocation with a port. ^C stops the agent, then the server (exit
0); containers keep running, as with an agent restart, unless --stop-on-exit.
The data plane runs as with \`karu agent --ingress\`: services' ingress routes answer on
http://${DEV_INGRESS.address}:${DEV_INGRESS.port}/; DNS and VIPs for containers need root (see \`karu agent --help\`).

Examples:
  $ karu dev --deploy examples/hello.yaml
  $ karu dev --data-dir /tmp/karu --listen 127.0.0.1:0 --stop-on-exit
  $ karu status                         # in another terminal`,
    )
    .action(wrap((ctx, opts: DevOptions) => runDev(ctx, opts)));
}

export async function runDev(ctx: CommandContext, opts: DevOptions): CommandResult {
  const signal = ctx.interrupts();
  const dataDir = opts.dataDir ?? DEFAULT_DATA_DIR;
  const logLevel = opts.logLevel ?? (ctx.env.KARU_LOG_LEVEL as LogLevel | undefined) ?? 'warn';
  const [{ startServer }, { startAgent }] = await Promise.all([import('../../server/main.js'), import('../../agent/main.js')]);

  const server = await startServer({ dataDir: join(dataDir, 'server'), listen: opts.listen, logLevel });
  // From here on the server must be stopped whatever happens, or the process hangs on it.
  println(ctx.stdout, `Karu server listening on ${server.url} (data in ${dataDir})`);
  let agent: { stop(): Promise<void> } | undefined;
  try {
    const dataplane = opts.dataplane !== false;
    const ingress = dataplane ? { ingress: true, ingressHttp: opts.ingressHttp ?? DEV_INGRESS.port, ingressAddress: opts.ingressAddress ?? DEV_INGRESS.address } : {};
    const running = await startAgent(agentInput(server.url, join(dataDir, 'agent'), { httpPort: 0, ...opts, ...ingress, dataplane, address: opts.address ?? '127.0.0.1' }), {
      logger: createLogger({ name: 'karu-agent', level: logLevel }),
    });
    agent = running;
    const client = new KaruClient({ baseUrl: server.url });
    const devCtx: CommandContext = { ...ctx, client, serverUrl: server.url };
    const node = await waitForReadyNode(devCtx, running.agent.nodeId, signal);
    if (node) println(ctx.stdout, `Node ${node.name} (${node.address}) is ready`);

    for (const file of node ? (opts.deploy ?? []) : []) {
      if (signal.aborted) break;
      try {
        await deployFile(devCtx, file);
      } catch (e) {
        // One bad file should not take the cluster down: say why and carry on.
        ctx.stderr.write(formatError(e, ctx.env));
      }
    }
    if (!signal.aborted) {
      await printAppUrls(devCtx);
      const ing = running.dataPlane?.status().ingressHttp;
      if (ing) await printIngressUrls(devCtx, ing);
      println(ctx.stdout, `Ready. Try \`KARU_SERVER=${server.url} karu status\`. ^C stops${opts.stopOnExit ? ' (and stops every job)' : ' (containers keep running)'}.`);
    }
    await untilAborted(signal);

    if (opts.stopOnExit) await stopAllJobs(devCtx);
  } finally {
    if (agent) {
      println(ctx.stdout, 'Stopping the agent…');
      await agent.stop();
    }
    println(ctx.stdout, 'Stopping the server…');
    await server.stop();
  }
  println(ctx.stdout, 'Stopped.');
  return EXIT_OK;
}

/** Our agent's node once ready (any ready node if the agent did not say which). Undefined on ^C or timeout. */
async function waitForReadyNode(ctx: CommandContext, nodeId: string | undefined, signal: AbortSignal): Promise<NodeView | undefined> {
  const started = ctx.clock.now();
  for (;;) {
    const nodes = await ctx.client.listNodes();
    const ready = nodes.find((n) => n.status === 'ready' && (nodeId === undefined || n.id === nodeId));
    if (ready) return ready;
    if (ctx.clock.now() - started > NODE_READY_TIMEOUT_MS) {
      println(ctx.stderr, `Error: the agent's node did not become ready within ${NODE_READY_TIMEOUT_MS / 1000}s; nothing was deployed. Is Docker running? See \`karu node ls\`.`);
      return undefined;
    }
    try {
      await sleep(ctx.clock, 250, signal);
    } catch {
      return undefined;
    }
  }
}

/** `hello.web[0]  http://10.0.0.5:23041/` for every live allocation with a port. */
async function printAppUrls(ctx: CommandContext): Promise<void> {
  const [allocs, nodes] = await Promise.all([ctx.client.listAllocations(), ctx.client.listNodes()]);
  const address = new Map(nodes.map((n) => [n.id as string, n.address]));
  for (const a of allocs.filter((x) => isLive(x) && x.desiredStatus === 'run' && x.ports.length > 0)) {
    for (const p of a.ports) {
      println(ctx.stdout, `${allocName(a)} (${p.task}.${p.label}) answers at http://${address.get(a.nodeId) ?? a.nodeName}:${p.host}/`);
    }
  }
}

/** Where each HTTP ingress route answers through this node's ingress. */
async function printIngressUrls(ctx: CommandContext, at: { host: string; port: number }): Promise<void> {
  let routes;
  try {
    routes = await ctx.client.ingressRoutes();
  } catch {
    return; // an older server: the URLs above still work
  }
  const base = `http://${at.host === '0.0.0.0' ? '127.0.0.1' : at.host}:${at.port}`;
  for (const r of routes) {
    if (r.kind !== 'http') continue;
    const how = r.host ? `curl -H 'Host: ${r.host}' ${base}${r.pathPrefix}` : `${base}${r.pathPrefix}`;
    println(ctx.stdout, `${r.namespace}/${r.service} (job ${r.job}) answers through the ingress: ${how}  [${r.healthy}/${r.total} healthy]`);
  }
  if (!routes.some((r) => r.kind === 'http')) println(ctx.stdout, `Ingress listening on ${base}/ (no job declares an ingress route yet)`);
}

/** --stop-on-exit: stop every job, then wait (bounded) until no allocation is live. */
async function stopAllJobs(ctx: CommandContext): Promise<void> {
  try {
    const jobs = (await ctx.client.listJobs()).filter((j) => !j.stopped);
    for (const j of jobs) {
      await ctx.client.stopJob(j.namespace, j.name);
      println(ctx.stdout, `Stopping job ${j.name}…`);
    }
    const started = ctx.clock.now();
    while (ctx.clock.now() - started < STOP_TIMEOUT_MS) {
      const live = (await ctx.client.listAllocations()).filter(isLive);
      if (live.length === 0) return;
      await sleep(ctx.clock, 250);
    }
    println(ctx.stderr, `Some allocations were still stopping after ${STOP_TIMEOUT_MS / 1000}s; check \`docker ps\`.`);
  } catch (e) {
    if (!isKaruError(e)) throw e;
    ctx.stderr.write(formatError(new KaruError(e.code, `could not stop the jobs: ${e.message}`), ctx.env));
  }
}
