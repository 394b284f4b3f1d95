/**
 * A standalone data-plane process for bench/ingress.ts: Karu's HTTP ingress (`http`: in
 * this one process; `http-workers`: in INGRESS_WORKERS worker processes forked from this
 * one, as the agent runs it by default — see ingress-workers.ts) or
 * its VIP TCP proxy (`tcp`: one listener) in front of one backend, from a static
 * ServiceTable, as the agent would run them; or (`vip`, for bench/vip.ts) the agent's
 * `VipProxy` following that table, listening on LISTEN_HOST as the service's VIP; or (`app`) a tiny Node HTTP app to measure against (in its own
 * process: the bench's own blocks while wrk runs). Prints `{"port":N}` once listening;
 * stops on SIGTERM.
 * Usage: node --import tsx bench/ingress-proxy.ts http|http-workers|tcp|vip LISTEN_HOST BACKEND_HOST:PORT
 *        node --import tsx bench/ingress-proxy.ts app LISTEN_HOST
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { defaultIngressWorkers } from '../src/agent/config.js';
import { startHttpIngress } from '../src/agent/dataplane/http-ingress.js';
import { startIngressWorkers } from '../src/agent/dataplane/ingress-workers.js';
import { ServiceTable } from '../src/agent/dataplane/service-table.js';
import { listenServiceProxy, VipProxy } from '../src/agent/dataplane/tcp-proxy.js';

async function start(mode: string | undefined, host: string | undefined, backend: string | undefined): Promise<{ port: number; close(): Promise<void> }> {
  if (mode === 'app' && host) {
    const app = createServer((_req, res) => res.end('hello from karu\n'));
    app.listen(0, host);
    await once(app, 'listening');
    return {
      port: (app.address() as AddressInfo).port,
      close: () => new Promise((r) => (app.closeAllConnections(), app.close(() => r()))),
    };
  }
  const [bHost, bPort] = (backend ?? '').split(':');
  if ((mode !== 'http' && mode !== 'http-workers' && mode !== 'tcp' && mode !== 'vip') || !host || !bHost || !bPort) {
    console.error('usage: ingress-proxy.ts http|http-workers|tcp|vip LISTEN_HOST BACKEND_HOST:PORT | app LISTEN_HOST');
    process.exit(2);
  }
  if (mode === 'vip') {
    // VipProxy binds each service's VIP:port itself: take a port free on the VIP now.
    const probe = createNetServer().listen(0, host);
    await once(probe, 'listening');
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const table = new ServiceTable();
    table.set([{ namespace: 'default', name: 'hello', vip: host, port, endpoints: [{ address: bHost, port: Number(bPort), healthy: true }] }]);
    const proxy = new VipProxy({ table, graceMs: 1000 });
    await proxy.start();
    const bound = proxy.status()[0];
    if (!bound || bound.error) throw new Error(`VipProxy could not listen on ${host}:${port}: ${bound?.error ?? 'no listener'}`);
    return { port, close: () => proxy.close() };
  }
  const services = [{ namespace: 'default', name: 'hello', vip: host, port: 0, endpoints: [{ address: bHost, port: Number(bPort), healthy: true }] }];
  const routes = [{ pathPrefix: '/', service: 'hello', namespace: 'default', owner: { job: 'hello' } }];
  if (mode === 'http-workers') {
    const pool = await startIngressWorkers({ workers: Number(process.env.INGRESS_WORKERS ?? defaultIngressWorkers()), host, httpPort: 0 });
    await pool.setState(services, routes);
    return { port: pool.http!.port, close: () => pool.close(1000) };
  }
  const table = new ServiceTable();
  table.set(services);
  const server =
    mode === 'http'
      ? await startHttpIngress({ table, host, port: 0, routes })
      : await listenServiceProxy({ table, service: { namespace: 'default', name: 'hello' }, host, port: 0 });
  return { port: server.port, close: () => server.close(1000) };
}

const [mode, host, backend] = process.argv.slice(2);
const server = await start(mode, host, backend);
console.log(JSON.stringify({ port: server.port }));
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
