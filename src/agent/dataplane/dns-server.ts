import { createSocket, type RemoteInfo } from 'node:dgram';
import { once } from 'node:events';
import { connect, isIP, Socket, type AddressInfo } from 'node:net';
import dns2 from 'dns2';
import type { Packet as PacketT, Resource } from 'dns2';
import type { Logger } from '../../lib/logger.js';
import { silentLogger } from '../../lib/logger.js';
import { SERVICE_DOMAIN, type ServiceEntry, type ServiceTable } from './service-table.js';

const { Packet, UDPServer, TCPServer } = dns2;

/**
 * The node-local DNS server that Karu points its containers at. It answers, from the
 * ServiceTable, `NAME` (in the container's namespace), `NAME.NAMESPACE.karu` (A: the
 * service's VIP) and `_NAME._tcp.NAMESPACE.karu` (SRV: every healthy endpoint), says
 * NXDOMAIN for unknown names inside `.karu`, and forwards everything else to the
 * upstream resolver (REFUSED without one). UDP and TCP on the same port; an answer too big
 * for UDP is truncated (TC) so the client retries over TCP.
 */

export interface DnsUpstream {
  address: string;
  /** Default 53. */
  port?: number;
  /** Default 2000 ms; past it the client gets SERVFAIL. */
  timeoutMs?: number;
}

export interface DnsServerOptions {
  table: ServiceTable;
  /** Address to bind (the node's DNS address for containers). */
  host: string;
  /** UDP and TCP port; 0 picks a free one (the same for both). */
  port: number;
  /** Namespace in which a bare `NAME` is looked up (the querying container's). */
  namespace: string;
  /** Where names outside `.karu` go; without it they are REFUSED. */
  upstream?: DnsUpstream;
  /** TTL of Karu's answers, in seconds. Short, so a moved service is found soon. Default 5. */
  ttlSeconds?: number;
  logger?: Logger;
}

export interface KaruDnsServer {
  readonly host: string;
  /** The bound port (UDP and TCP). */
  readonly port: number;
  close(): Promise<void>;
}

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;

/**
 * SRV targets must be names, not addresses: an endpoint's address is encoded as
 * `10-0-0-7.addr.karu` (IPv6: colons become dashes), which this server answers itself
 * and also puts in the additional section.
 */
export function addressName(address: string): string {
  return `${address.replace(/[.:]/g, '-')}.addr.${SERVICE_DOMAIN}`;
}

function parseAddressName(label: string): string | undefined {
  const v4 = label.replace(/-/g, '.');
  if (isIP(v4) === 4) return v4;
  const v6 = label.replace(/-/g, ':');
  return isIP(v6) === 6 ? v6 : undefined;
}

type Answer = { rcode: number; answers: Resource[]; additionals: Resource[] };

/** Starts the server; resolves once both UDP and TCP are bound. */
export async function startDnsServer(opts: DnsServerOptions): Promise<KaruDnsServer> {
  const log = opts.logger ?? silentLogger();
  const ttl = opts.ttlSeconds ?? 5;
  const namespace = opts.namespace.toLowerCase();

  const record = (name: string, type: number, fields: Partial<Resource>): Resource =>
    ({ name, type, class: Packet.CLASS.IN, ttl, ...fields }) as Resource;

  /** The address records of an endpoint address, typed by family. */
  const addressRecord = (name: string, address: string): Resource =>
    isIP(address) === 6 ? record(name, Packet.TYPE.AAAA, { address }) : record(name, Packet.TYPE.A, { address });

  /** A/AAAA answers for a service: its VIP, or (no VIP) its healthy endpoints' addresses. */
  const serviceAddresses = (name: string, entry: ServiceEntry, type: number): Resource[] => {
    const addrs = entry.vip ? [entry.vip] : [...new Set(entry.endpoints.filter((e) => e.healthy).map((e) => e.address))];
    const family = type === Packet.TYPE.AAAA ? 6 : 4;
    return addrs.filter((a) => type === Packet.TYPE.ANY || isIP(a) === family).map((a) => addressRecord(name, a));
  };

  /** Answers a question about a name inside `.karu`. */
  const answerKaru = (qname: string, labels: string[], type: number): Answer => {
    const none: Answer = { rcode: RCODE.NXDOMAIN, answers: [], additionals: [] };
    // 10-0-0-7.addr.karu: the SRV targets.
    if (labels.length === 3 && labels[1] === 'addr') {
      const address = parseAddressName(labels[0]!);
      if (!address) return none;
      const answers = type === Packet.TYPE.ANY || type === (isIP(address) === 6 ? Packet.TYPE.AAAA : Packet.TYPE.A) ? [addressRecord(qname, address)] : [];
      return { rcode: RCODE.NOERROR, answers, additionals: [] };
    }
    // _NAME._tcp.NAMESPACE.karu: SRV of every healthy endpoint.
    if (labels.length === 4 && labels[0]!.startsWith('_') && labels[1] === '_tcp') {
      const entry = opts.table.get(labels[2]!, labels[0]!.slice(1));
      if (!entry) return none;
      if (type !== Packet.TYPE.SRV && type !== Packet.TYPE.ANY) return { rcode: RCODE.NOERROR, answers: [], additionals: [] };
      const eps = entry.endpoints.filter((e) => e.healthy);
      return {
        rcode: RCODE.NOERROR,
        answers: eps.map((e) => record(qname, Packet.TYPE.SRV, { priority: 0, weight: 10, port: e.port, target: addressName(e.address) })),
        additionals: [...new Set(eps.map((e) => e.address))].map((a) => addressRecord(addressName(a), a)),
      };
    }
    const entry = opts.table.lookup(qname, namespace);
    if (!entry) return none;
    // A known name asked for another type: NOERROR with no answer (NODATA), never
    // NXDOMAIN, or resolvers that ask AAAA alongside A would give up on the name.
    if (type !== Packet.TYPE.A && type !== Packet.TYPE.AAAA && type !== Packet.TYPE.ANY) return { rcode: RCODE.NOERROR, answers: [], additionals: [] };
    return { rcode: RCODE.NOERROR, answers: serviceAddresses(qname, entry, type), additionals: [] };
  };

  const handle = (request: PacketT, send: (r: PacketT | Buffer) => Promise<Buffer>, client: unknown): void => {
    const reply = (a: Answer, authoritative: boolean) => {
      const res = Packet.createResponseFromRequest(request);
      res.header.rcode = a.rcode;
      res.header.aa = authoritative ? 1 : 0;
      res.header.ra = opts.upstream ? 1 : 0;
      res.answers = a.answers;
      res.additionals = a.additionals;
      send(res).catch((e: unknown) => log.debug({ err: e }, 'dns: reply not sent'));
    };
    const q = request.questions[0];
    if (!q || request.questions.length !== 1) return reply({ rcode: RCODE.FORMERR, answers: [], additionals: [] }, false);
    const qname = q.name.toLowerCase().replace(/\.$/, '');
    const labels = qname.split('.');
    if (labels[labels.length - 1] === SERVICE_DOMAIN) return reply(answerKaru(qname, labels, q.type), true);
    // A bare name is a service in the container's namespace; no search domains involved.
    if (labels.length === 1) {
      if (!qname) return reply({ rcode: RCODE.REFUSED, answers: [], additionals: [] }, false);
      return reply(answerKaru(qname, labels, q.type), true);
    }
    if (!opts.upstream) return reply({ rcode: RCODE.REFUSED, answers: [], additionals: [] }, false);
    const viaTcp = client instanceof Socket;
    forward(request.toBuffer(), opts.upstream, viaTcp)
      .then((raw) => send(raw))
      .catch((e: unknown) => {
        log.debug({ err: e, name: qname }, 'dns: upstream failed');
        reply({ rcode: RCODE.SERVFAIL, answers: [], additionals: [] }, false);
      });
  };

  const udp = new UDPServer({ type: isIP(opts.host) === 6 ? 'udp6' : 'udp4' });
  const tcp = new TCPServer();
  udp.on('request', handle);
  tcp.on('request', handle);
  udp.on('requestError', (e: Error) => log.debug({ err: e }, 'dns: bad udp request'));
  tcp.on('requestError', (e: Error) => log.debug({ err: e }, 'dns: bad tcp request'));

  const bindUdp = async (port: number) => {
    udp.bind(port, opts.host);
    await Promise.race([once(udp, 'listening'), once(udp, 'error').then(([e]) => Promise.reject(e as Error))]);
    return (udp.address() as AddressInfo).port;
  };
  const bindTcp = async (port: number) => {
    tcp.listen(port, opts.host);
    await Promise.race([once(tcp, 'listening'), once(tcp, 'error').then(([e]) => Promise.reject(e as Error))]);
  };

  const udpPort = await bindUdp(opts.port);
  try {
    await bindTcp(udpPort);
  } catch (e) {
    udp.close();
    throw e;
  }
  udp.on('error', (e: Error) => log.warn({ err: e }, 'dns: udp socket error'));
  tcp.on('error', (e: Error) => log.warn({ err: e }, 'dns: tcp server error'));
  // Idle TCP clients must not hold close() up.
  const sockets = new Set<Socket>();
  tcp.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });

  return {
    host: opts.host,
    port: udpPort,
    async close() {
      const closed = Promise.all([once(udp, 'close'), new Promise<void>((r) => tcp.close(() => r()))]);
      udp.close();
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

/** Sends a raw query to the upstream resolver and returns its raw answer. */
function forward(query: Buffer, upstream: DnsUpstream, viaTcp: boolean): Promise<Buffer> {
  const port = upstream.port ?? 53;
  const timeoutMs = upstream.timeoutMs ?? 2000;
  const id = query.readUInt16BE(0);
  return new Promise<Buffer>((resolve, reject) => {
    let done = false;
    const cleanups: (() => void)[] = [];
    const finish = (err: Error | undefined, data?: Buffer) => {
      if (done) return;
      done = true;
      for (const c of cleanups) c();
      if (err) reject(err);
      else resolve(data!);
    };
    const timer = setTimeout(() => finish(new Error(`upstream ${upstream.address}:${port} timed out after ${timeoutMs} ms`)), timeoutMs);
    cleanups.push(() => clearTimeout(timer));

    if (!viaTcp) {
      const sock = createSocket(isIP(upstream.address) === 6 ? 'udp6' : 'udp4');
      cleanups.push(() => sock.close());
      sock.on('error', (e) => finish(e));
      sock.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
        // Only the resolver's answer to this query counts (anything else is spoofing or late).
        if (rinfo.port !== port || msg.length < 2 || msg.readUInt16BE(0) !== id) return;
        finish(undefined, msg);
      });
      sock.send(query, port, upstream.address, (e) => e && finish(e));
      return;
    }
    const sock = connect({ host: upstream.address, port });
    cleanups.push(() => sock.destroy());
    let buf = Buffer.alloc(0);
    sock.on('error', (e) => finish(e));
    sock.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(query.length);
      sock.write(Buffer.concat([len, query]));
    });
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) finish(undefined, buf.subarray(2, 2 + buf.readUInt16BE(0)));
    });
    sock.on('end', () => finish(new Error('upstream closed the connection before answering')));
  });
}
