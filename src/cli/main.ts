/**
 * The `karu` entry point: wires the process (argv, streams, environment, signals) to
 * runCli. Everything testable lives in program.ts and commands/.
 *
 * The same program is also the agent's ingress worker: the agent forks it with
 * `KARU_ROLE=ingress-worker` (src/agent/dataplane/ingress-workers.ts), so the bundle
 * dist/karu.mjs needs no second entry file. That branch is taken before anything else.
 */
import { EXIT_INTERRUPTED } from './context.js';
import { runCli } from './program.js';

async function runCommand(): Promise<void> {
  let taken: AbortController | undefined;

  function onSignal(signal: NodeJS.Signals): void {
    // Not taken over by a long-running command, or a second ^C: leave now.
    if (!taken || taken.signal.aborted) process.exit(signal === 'SIGINT' ? EXIT_INTERRUPTED : 143);
    taken.abort(new Error(`received ${signal}`));
  }
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  // A reader that goes away (`karu ps | head`) is not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });

  const code = await runCli(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    interrupts: () => (taken ??= new AbortController()).signal,
  });

  process.exitCode = code;
  // Leave when the event loop drains; if a stray handle (a keep-alive socket, a timer in a
  // library) holds it, do not hang: this timer only fires in that case.
  setTimeout(() => process.exit(code), 2000).unref();
}

if (process.env.KARU_ROLE === 'ingress-worker') {
  const { runIngressWorker } = await import('../agent/main.js');
  await runIngressWorker();
} else {
  await runCommand();
}
