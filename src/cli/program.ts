import { Command, CommanderError } from 'commander';
import { readFile } from 'node:fs/promises';
import { KaruClient } from '../client/client.js';
import { KaruError } from '../core/errors.js';
import type { Clock } from '../lib/clock.js';
import { colorsFor } from './output/color.js';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, type CommandContext, type CommandResult, type Env, type OutStream } from './context.js';
import { formatError, UsageError } from './errors.js';
import { registerDeploy } from './commands/deploy.js';
import { registerStatus } from './commands/status.js';
import { registerPlan } from './commands/plan.js';
import { registerPs } from './commands/ps.js';
import { registerStop } from './commands/stop.js';
import { registerLogs } from './commands/logs.js';
import { registerNode } from './commands/node.js';
import { registerService } from './commands/service.js';
import { registerIngress } from './commands/ingress.js';
import { registerRebalance } from './commands/rebalance.js';
import { registerJob } from './commands/job.js';
import { registerAlloc } from './commands/alloc.js';
import { registerServer } from './commands/server.js';
import { registerAgent } from './commands/agent.js';
import { registerDev } from './commands/dev.js';
import { registerSim } from './commands/sim.js';
import { registerNodeRemove, registerToken } from './commands/token.js';
import { caFileFor, clientCertFor, cliTlsFetch } from './tls-client.js';

/** Where the CLI looks for a server when neither --server nor KARU_SERVER says. */
export const DEFAULT_SERVER = 'http://127.0.0.1:4646';

/** What the CLI needs from the process; main.ts passes the real ones, tests their own. */
export interface CliDeps {
  stdout: OutStream;
  stderr: OutStream;
  env: Env;
  clock?: Clock;
  /** Builds the API client for a server URL; default: a KaruClient over global fetch. */
  makeClient?(baseUrl: string): KaruClient;
  readFile?(path: string): Promise<string>;
  /** See CommandContext.interrupts. Default: a signal that never aborts. */
  interrupts?(): AbortSignal;
}

/**
 * Wraps a command's run function as a commander action: builds its context from the
 * global options and records its exit code.
 */
export type ActionWrapper = <A extends unknown[]>(fn: (ctx: CommandContext, ...args: A) => CommandResult) => (...args: unknown[]) => Promise<void>;

/**
 * Parses `argv` (without `node karu`), runs the command and returns the exit code.
 * Never throws and never exits the process: errors are printed to stderr.
 */
export async function runCli(argv: string[], deps: CliDeps): Promise<number> {
  let exitCode = EXIT_OK;
  const program = buildProgram(deps, (code) => (exitCode = code));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and --version "exit" with 0; everything else commander rejects is bad usage.
      return e.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    deps.stderr.write(formatError(e, deps.env));
    return e instanceof UsageError ? EXIT_USAGE : EXIT_FAILED;
  }
}

/** The whole command tree. Exported for tests that inspect help texts. */
export function buildProgram(deps: CliDeps, setExitCode: (code: number) => void = () => {}): Command {
  const program = new Command('karu');
  program
    .description('Karu: a lightweight container orchestrator.')
    .version('0.1.0', '-V, --version')
    .option('--server <url>', 'URL of the Karu server (env KARU_SERVER)', deps.env.KARU_SERVER || DEFAULT_SERVER)
    .option('--ca <file>', "the cluster CA to trust for an https:// server (env KARU_CA_CERT; default .karu/server/ca.pem when present)")
    .option('--cert <file>', 'client certificate for an https:// server, e.g. the cluster admin\'s (env KARU_CLIENT_CERT; default admin.pem beside the CA file when present)')
    .option('--key <file>', 'key of the --cert client certificate (env KARU_CLIENT_KEY; default admin-key.pem beside the CA file)')
    .showHelpAfterError('(add --help for usage)')
    .configureHelp({ showGlobalOptions: true })
    // Settings below are inherited by every subcommand added after them.
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void deps.stdout.write(s),
      writeErr: (s) => void deps.stderr.write(s),
    })
    .addHelpText(
      'after',
      `
Examples:
  $ karu dev --deploy hello.yaml      # server + agent in one process, then deploy
  $ karu deploy hello.yaml            # submit a job and watch it roll out
  $ karu status                       # all jobs
  $ karu status hello                 # one job, its allocations and problems
  $ karu ps                           # running allocations and their ports
  $ karu logs 1a2b3c4d -f             # follow an allocation's logs
  $ KARU_SERVER=http://10.0.0.5:4646 karu node ls

Exit codes: 0 ok, 1 failed, 2 bad usage, 130 interrupted.
Set KARU_DEBUG=1 to see stack traces.`,
    );

  const wrap: ActionWrapper =
    (fn) =>
    async (...args) => {
      const command = args[args.length - 1] as Command;
      const globals = command.optsWithGlobals();
      const serverUrl = String(globals.server ?? DEFAULT_SERVER);
      const ctx = makeContext(deps, serverUrl, globals as TlsFlags);
      const code = await fn(ctx, ...(args.slice(0, -1) as never));
      setExitCode(code ?? EXIT_OK);
    };

  registerDeploy(program, wrap);
  registerPlan(program, wrap);
  registerStatus(program, wrap);
  registerPs(program, wrap);
  registerStop(program, wrap);
  registerLogs(program, wrap);
  registerNode(program, wrap);
  registerService(program, wrap);
  registerIngress(program, wrap);
  registerRebalance(program, wrap);
  registerNodeRemove(program, wrap);
  registerToken(program, wrap);
  registerJob(program, wrap);
  registerAlloc(program, wrap);
  registerServer(program, wrap);
  registerAgent(program, wrap);
  registerDev(program, wrap);
  registerSim(program, wrap);
  return program;
}

/** The global TLS options: CA to trust, client certificate to present. */
type TlsFlags = { ca?: string; cert?: string; key?: string };

function makeContext(deps: CliDeps, serverUrl: string, tls: TlsFlags): CommandContext {
  let client: KaruClient | undefined;
  const never = new AbortController().signal;
  return {
    // Built on first use: `karu job validate` and `karu server` never need one.
    get client() {
      client ??= deps.makeClient
        ? deps.makeClient(serverUrl)
        : new KaruClient({ baseUrl: serverUrl, ...(serverUrl.startsWith('https:') ? { fetch: httpsFetch(tls, deps.env) } : {}) });
      return client;
    },
    serverUrl,
    stdout: deps.stdout,
    stderr: deps.stderr,
    colors: colorsFor(deps.stdout, deps.env),
    clock: deps.clock ?? cliClock,
    env: deps.env,
    readFile: deps.readFile ?? readTextFile,
    interrupts: deps.interrupts ?? (() => never),
  };
}

/** The CLI's HTTPS fetch: the cluster CA, and the admin (or given) client certificate when there is one. */
function httpsFetch(tls: TlsFlags, env: Env): typeof fetch {
  const caFile = caFileFor(tls.ca, env);
  return cliTlsFetch(caFile, clientCertFor(tls, env, caFile));
}

/**
 * The real clock, with timers that keep the process alive: lib's systemClock unrefs its
 * timers (right for a server's housekeeping), but a CLI waiting between two polls has
 * nothing else holding the event loop and would silently exit.
 */
const cliClock: Clock = {
  now: () => Date.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

async function readTextFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : String(e);
    throw new KaruError('INVALID', `cannot read ${path}: ${why}`, { cause: e });
  }
}
