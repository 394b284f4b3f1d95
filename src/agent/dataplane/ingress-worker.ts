import type { IngressRoute } from '../../core/ingress.js';
import { createLogger, silentLogger, type Logger } from '../../lib/logger.js';
import { isMessage, type FromWorker, type ListenerResult, type ToWorker } from './ingress-ipc.js';
import { startHttpIngress, type HttpIngress } from './http-ingress.js';
import { ServiceTable } from './service-table.js';

/**
 * One ingress worker process (`KARU_ROLE=ingress-worker`, forked by the agent through
 * `node:cluster`; see ingress-workers.ts). It serves the HTTP(S) listeners with
 * `startHttpIngress` over its own ServiceTable and routes, which the agent sends over IPC
 * whenever the catalog changes. Its passive-failure marks (an endpoint that refused a
 * connection) stay its own.
 *
 * It never decides to stop by itself: SIGINT/SIGTERM (a ^C in the agent's terminal, or a
 * service manager signalling the whole group) are ignored so the agent can drain it
 * with `stop`; and when the agent goes (the IPC channel closes) it exits at once.
 */
export async function runIngressWorker(): Promise<void> {
  const send = process.send?.bind(process);
  if (!send) throw new Error(`the ingress worker runs under the agent (it forks it), not on its own`);
  const post = (m: FromWorker) => void send(m);
  const ignore = (): void => undefined;
  process.on('SIGINT', ignore);
  process.on('SIGTERM', ignore);
  process.once('disconnect', () => process.exit(0));

  const table = new ServiceTable();
  let routes: IngressRoute[] = [];
  const servers: HttpIngress[] = [];
  let log: Logger = silentLogger();
  let starting: Promise<void> = Promise.resolve();

  const start = async (m: Extract<ToWorker, { t: 'start' }>): Promise<void> => {
    log = createLogger({ name: 'karu-ingress', level: m.logLevel });
    const results: ListenerResult[] = [];
    for (const l of m.listeners) {
      try {
        const server = await startHttpIngress({
          table,
          routes,
          host: l.host,
          port: l.port,
          logger: log,
          ...(l.tls ? { tls: l.tls } : {}),
          ...(m.keepAliveTimeoutMs !== undefined ? { keepAliveTimeoutMs: m.keepAliveTimeoutMs } : {}),
          ...(m.backendKeepAliveMs !== undefined ? { backendKeepAliveMs: m.backendKeepAliveMs } : {}),
        });
        servers.push(server);
        server.setRoutes(routes); // a `state` may have come while it was binding
        results.push({ name: l.name, port: server.port });
      } catch (e) {
        results.push({ name: l.name, error: e instanceof Error ? e.message : String(e) });
      }
    }
    post({ t: 'ready', listeners: results });
  };

  const stop = async (graceMs: number): Promise<void> => {
    await starting;
    await Promise.allSettled(servers.map((s) => s.close(graceMs)));
    process.exit(0);
  };

  process.on('message', (m: unknown) => {
    if (!isMessage<ToWorker>(m, ['start', 'state', 'stop'])) return;
    switch (m.t) {
      case 'state':
        table.set(m.services);
        routes = m.routes;
        for (const s of servers) s.setRoutes(routes);
        post({ t: 'applied', seq: m.seq });
        return;
      case 'start':
        starting = start(m).catch((e: unknown) => log.error({ err: e }, 'ingress worker failed to start'));
        return;
      case 'stop':
        void stop(m.graceMs);
        return;
    }
  });
  post({ t: 'hello' });
}
