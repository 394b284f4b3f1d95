import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { serve } from '@hono/node-server';
import { createApi, withHeartbeatFastPath, type NodeRequestListener } from '../api/index.js';
import { Controllers } from '../controllers/index.js';
import { systemClock, type Clock } from '../lib/clock.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import { createStateStore, openStateCache, type Store } from '../store/index.js';
import { createTlsFetch } from '../pki/tls.js';
import { resolveServerConfig, type ServerConfigInput } from './config.js';
import { advertiseHost, openClusterPki } from './tls-setup.js';

export interface RunningServer {
  /** Base URL of the API, e.g. http://127.0.0.1:4646 */
  url: string;
  controllers: Controllers;
  /** With TLS: what `karu server` prints. The token and command follow rotations. */
  tls?: { caPem: string; caFingerprint: string; readonly joinToken: string; readonly joinCommand: string };
  stop(): Promise<void>;
}

/**
 * The control plane's composition root: store → read model → controllers → API.
 * `karu server` and `karu dev` call this; nothing else wires concrete classes.
 */
export async function startServer(input: ServerConfigInput, deps: { clock?: Clock; logger?: Logger } = {}): Promise<RunningServer> {
  const config = resolveServerConfig(input);
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger ?? createLogger({ name: 'karu-server', level: config.logLevel });
  mkdirSync(config.dataDir, { recursive: true });

  const store = openSqliteStore({ path: join(config.dataDir, 'karu.db'), clock });
  const stateStore = createStateStore(store);
  const cache = await openStateCache(store);
  const controllers = new Controllers(
    { stateStore, cache, clock, logger, serverToken: loadServerToken(config.dataDir) },
    {
      nodeMonitor: { minTtlMs: config.heartbeatTtlMs, graceMs: config.heartbeatGraceMs, maxHeartbeatsPerSecond: config.maxHeartbeatsPerSecond },
      schedulerWorkers: config.schedulerWorkers,
      catalog: { serviceCidr: config.serviceCidr },
    },
  );
  controllers.start();
  const stopCompactor = startCompactor(store, clock, logger);

  // With TLS: HTTPS for everyone, client certificates asked for but optional at the TLS
  // layer (users and joining agents have none); agent routes then require a node's.
  let joinUrl = '';
  const pki = config.tls ? await openClusterPki(config, store, clock, logger, () => joinUrl) : undefined;
  const agentFetch = pki && createTlsFetch({ caPem: pki.ca.certPem, certPem: pki.serverCert.certPem, keyPem: pki.serverCert.keyPem }, 'node');
  const app = createApi({ controlPlane: controllers.cluster, logger, ...(pki && agentFetch ? { pki, fetchAgent: agentFetch.fetch } : {}) });
  const httpServer = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    // Heartbeats (most of the traffic) are answered before Hono; everything else goes to the app.
    const fast = { controlPlane: controllers.cluster, logger, tls: pki !== undefined };
    const listen = {
      fetch: app.fetch,
      hostname: config.host,
      port: config.port,
      createServer: ((options: object, listener: NodeRequestListener) => createHttpServer(options, withHeartbeatFastPath(listener, fast))) as never,
    };
    const s = pki
      ? serve(
          {
            ...listen,
            createServer: ((options: object, listener: NodeRequestListener) => createHttpsServer(options, withHeartbeatFastPath(listener, fast))) as never,
            serverOptions: { key: pki.serverCert.keyPem, cert: pki.serverCert.certPem + pki.ca.certPem, ca: [pki.ca.certPem], requestCert: true, rejectUnauthorized: false },
          },
          () => resolve(s),
        )
      : serve(listen, () => resolve(s));
    s.once('error', reject);
  });
  // Blocking queries hold requests for up to a minute: don't let Node cut them at 5 s idle.
  const srv = httpServer as unknown as { requestTimeout: number; headersTimeout: number; keepAliveTimeout: number };
  srv.requestTimeout = 0;
  srv.keepAliveTimeout = 65_000;
  const addr = httpServer.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `${pki ? 'https' : 'http'}://${host}:${addr.port}`;
  const advertised = advertiseHost(config);
  joinUrl = `https://${advertised.includes(':') ? `[${advertised}]` : advertised}:${addr.port}`;
  logger.info({ url, dataDir: config.dataDir, ...(pki ? { caFingerprint: pki.caFingerprint } : {}) }, 'karu server listening');

  let stopped = false;
  return {
    url,
    controllers,
    ...(pki
      ? {
          tls: {
            caPem: pki.ca.certPem,
            caFingerprint: pki.caFingerprint,
            get joinToken() {
              return pki.joinToken;
            },
            get joinCommand() {
              return pki.joinCommand;
            },
          },
        }
      : {}),
    async stop() {
      if (stopped) return;
      stopped = true;
      stopCompactor();
      await controllers.stop();
      await new Promise<void>((resolve) => {
        httpServer.close(() => resolve());
        (httpServer as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      await agentFetch?.close();
      cache.close();
      await store.close();
      logger.info('karu server stopped');
    },
  };
}

/** Revisions of history kept for watchers that fall behind; older change-log rows are dropped. */
const KEEP_REVISIONS = 10_000;

/**
 * The change log behind watches grows with every write: trim it every few minutes.
 * A watcher that fell further behind gets CompactedError and re-lists (the cache does).
 */
function startCompactor(store: Store, clock: Clock, logger: Logger): () => void {
  let cancel: (() => void) | undefined;
  const loop = () => {
    cancel = clock.setTimer(5 * 60_000, () => {
      void (async () => {
        const rev = await store.revision();
        if (rev > KEEP_REVISIONS) await store.compact(rev - KEEP_REVISIONS);
      })()
        .catch((err) => logger.warn({ err }, 'store compaction failed'))
        .finally(() => {
          if (cancel) loop();
        });
    });
  };
  loop();
  return () => {
    cancel?.();
    cancel = undefined;
  };
}

/** The token the server presents to agents' APIs; kept across restarts. */
function loadServerToken(dataDir: string): string {
  const file = join(dataDir, 'server-token');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const token = randomBytes(32).toString('hex');
  writeFileSync(file, token + '\n', { mode: 0o600 });
  return token;
}
