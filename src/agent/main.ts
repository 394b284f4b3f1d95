import { KaruClient } from '../client/client.js';
import { ValidationError } from '../core/errors.js';
import { systemClock, type Clock } from '../lib/clock.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { seededRng, type Rng } from '../lib/rng.js';
import type { Driver } from '../driver/driver.js';
import { DockerDriver } from '../driver/docker/docker-driver.js';
import { Agent, type AgentServerApi } from './agent.js';
import { resolveAgentConfig, type AgentConfig, type AgentConfigInput } from './config.js';
import { startAgentHttpServer } from './http-server.js';
import { limitConcurrentStarts } from './limited-driver.js';
import { createTlsFetch } from '../pki/tls.js';
import { CertRenewer } from './cert-renewal.js';
import { nodeSession } from './node-session.js';
import { resolveNodeTls } from './node-tls.js';
import { NodeDataPlane, type IngressConfig } from './dataplane/node-dataplane.js';
import type { HostNetwork } from './dataplane/host-network.js';
import { readFile } from 'node:fs/promises';

export { nodeSession } from './node-session.js';
/** Simulated nodes for `karu sim` and the scale benchmarks. */
export { startSim, type SimOptions, type RunningSim } from './sim.js';
/** The agent's ingress worker processes run this (the CLI entry branches on KARU_ROLE). */
export { runIngressWorker } from './dataplane/ingress-worker.js';

export interface AgentDepsOverride {
  /** Default: a DockerDriver on the configured socket. */
  driver?: Driver;
  logger?: Logger;
  clock?: Clock;
  rng?: Rng;
  /** Default: a KaruClient for `config.serverUrl`. */
  server?: AgentServerApi;
  /** With `config.dataPlane`: how the data plane changes karu0. Default: `ip`. */
  hostNetwork?: HostNetwork;
}

export interface RunningAgent {
  agent: Agent;
  /** URL of the agent's HTTP API as the server reaches it. */
  url: string;
  /** With TLS: renews the node certificate (tests call `renewNow`). */
  renewer?: CertRenewer;
  /** With `config.dataPlane`: the node's DNS, VIPs and ingress (status for `karu dev`). */
  dataPlane?: NodeDataPlane;
  /** Stops the agent (leaving its containers running for the next one), its API and the driver it created. */
  stop(): Promise<void>;
}

/**
 * The agent's composition root, used by `karu agent` and `karu dev`: resolves the config,
 * starts the agent's HTTP API, then the agent (which registers before this resolves).
 */
export async function startAgent(config: AgentConfig | AgentConfigInput, deps: AgentDepsOverride = {}): Promise<RunningAgent> {
  const cfg = isResolved(config) ? config : resolveAgentConfig(config);
  const logger = deps.logger ?? createLogger({ name: 'karu-agent' });
  const clock = deps.clock ?? systemClock;
  const ownDriver = deps.driver === undefined;
  const baseDriver = deps.driver ?? new DockerDriver({ ...(cfg.dockerSocketPath ? { socketPath: cfg.dockerSocketPath } : {}), logger, clock });
  const driver = limitConcurrentStarts(baseDriver, cfg.maxParallelStarts);
  const rng = deps.rng ?? seededRng(Date.now());
  // Mutual TLS when this node joined a TLS server (or joins now with a token).
  const nodeTls = deps.server ? undefined : await resolveNodeTls(cfg, logger);
  const tlsFetch = nodeTls && createTlsFetch(nodeTls, 'server');
  const client = new KaruClient({ baseUrl: cfg.serverUrl, ...(tlsFetch ? { fetch: tlsFetch.fetch } : {}) });
  const server = deps.server ?? nodeSession(client);

  // The API answers from the agent, which needs the API's URL to register: the closure
  // breaks the cycle (no request is served before the agent exists).
  let agent: Agent | undefined;
  const http = await startAgentHttpServer({
    port: cfg.httpPort,
    host: cfg.httpHost,
    logger,
    ...(nodeTls ? { tls: nodeTls } : {}),
    source: {
      get serverToken() {
        return agent?.serverToken;
      },
      get nodeId() {
        return agent?.nodeId;
      },
      driver,
      get driverHealth() {
        return agent?.driverHealth ?? { healthy: false, detail: 'agent starting' };
      },
      allocRunner: (id) => agent?.allocRunner(id),
    },
  });
  const url = `${nodeTls ? 'https' : 'http'}://${cfg.address.includes(':') ? `[${cfg.address}]` : cfg.address}:${http.port}`;
  const dataPlane = cfg.dataPlane
    ? new NodeDataPlane({
        catalog: (opts) => server.catalog(opts),
        clock,
        rng,
        logger,
        ...(deps.hostNetwork ? { network: deps.hostNetwork } : {}),
        ...(cfg.ingress ? { ingress: await ingressOf(cfg) } : {}),
      })
    : undefined;
  agent = new Agent({ config: cfg, driver, server, agentUrl: url, clock, rng, logger, ...(nodeTls ? { identityIsCertificate: true } : {}), ...(dataPlane ? { dataPlane } : {}) });
  const started = agent;
  const renewer =
    nodeTls && tlsFetch
      ? new CertRenewer(nodeTls, {
          dataDir: cfg.dataDir,
          name: cfg.name,
          client,
          clock,
          rng,
          logger,
          onRenewed: (t) => {
            tlsFetch.update(t);
            http.setCredentials(t);
          },
        })
      : undefined;
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      renewer?.stop();
      await started.stop();
      await tlsFetch?.close();
      await http.close();
      if (ownDriver) await baseDriver.close();
    })());
  try {
    await agent.start();
  } catch (e) {
    await stop();
    throw e;
  }
  renewer?.start();
  logger.info({ url, nodeId: agent.nodeId }, 'agent started');
  return { agent, url, stop, ...(renewer ? { renewer } : {}), ...(dataPlane ? { dataPlane } : {}) };
}

/** The ingress settings with the certificate and key read (a missing file fails the start, naming it). */
async function ingressOf(cfg: AgentConfig): Promise<IngressConfig> {
  const i = cfg.ingress!;
  if (!i.https) return { address: i.address, httpPort: i.httpPort, workers: i.workers };
  const read = (what: string, file: string) =>
    readFile(file).catch((e: unknown) => {
      throw new ValidationError(`cannot read the ingress ${what} ${file}: ${e instanceof Error ? e.message : String(e)}`, [{ path: `ingress.${what}File`, message: 'unreadable' }]);
    });
  const [cert, key] = await Promise.all([read('cert', i.https.certFile), read('key', i.https.keyFile)]);
  return { address: i.address, httpPort: i.httpPort, workers: i.workers, https: { port: i.https.port, cert, key } };
}

function isResolved(c: AgentConfig | AgentConfigInput): c is AgentConfig {
  return Object.isFrozen(c) && 'reservedMemoryMb' in c && 'portRange' in c && typeof (c as AgentConfig).name === 'string';
}
