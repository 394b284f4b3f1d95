import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import dns2 from 'dns2';
import type { Packet as PacketT, Question, Resource } from 'dns2';
import { addressName, startDnsServer, type KaruDnsServer } from './dns-server.js';
import { ServiceTable, type ServiceEntry } from './service-table.js';

const { Packet, UDPClient, TCPClient, UDPServer } = dns2;
const HOST = '127.0.0.1';

function svc(name: string, namespace: string, vip: string, n: number): ServiceEntry {
  return {
    namespace,
    name,
    vip,
    port: 80,
    endpoints: Array.from({ length: n }, (_, i) => ({ address: `10.1.${Math.floor(i / 250)}.${(i % 250) + 1}`, port: 20000 + i, healthy: true })),
  };
}

/** One raw UDP query, bounded in time; returns the parsed answer. */
async function rawUdp(port: number, name: string, type: number): Promise<PacketT> {
  const q = new Packet();
  q.header.id = 4242;
  q.questions.push({ name, type, class: Packet.CLASS.IN } as Question);
  const sock = createSocket('udp4');
  try {
    sock.send(q.toBuffer(), port, HOST);
    const [msg] = (await Promise.race([once(sock, 'message'), new Promise((_, rej) => setTimeout(() => rej(new Error('no answer in 3 s')), 3000).unref())])) as [Buffer];
    return Packet.parse(msg);
  } finally {
    sock.close();
  }
}

describe('DNS server', () => {
  const table = new ServiceTable();
  let server: KaruDnsServer;
  let udp: ReturnType<typeof UDPClient>;
  let tcp: ReturnType<typeof TCPClient>;

  before(async () => {
    table.set([svc('web', 'default', '127.77.0.10', 2), svc('web', 'prod', '127.77.0.11', 1), svc('big', 'default', '127.77.0.12', 40)]);
    server = await startDnsServer({ table, host: HOST, port: 0, namespace: 'default', ttlSeconds: 5 });
    udp = UDPClient({ dns: HOST, port: server.port, timeout: 3000 });
    tcp = TCPClient({ dns: HOST, port: server.port });
  });
  after(() => server.close());

  it('answers NAME.NAMESPACE.karu with the VIP, authoritatively, with a short TTL', async () => {
    const r = await udp('web.prod.karu', 'A');
    assert.equal(r.header.rcode, 0);
    assert.equal(r.header.aa, 1);
    assert.deepEqual(r.answers.map((a) => a.address), ['127.77.0.11']);
    assert.equal(r.answers[0]!.ttl, 5);
  });

  it('answers a bare NAME within the configured namespace', async () => {
    const r = await udp('web', 'A');
    assert.deepEqual(r.answers.map((a) => a.address), ['127.77.0.10']);
  });

  it('answers SRV with every healthy endpoint and their addresses', async () => {
    table.set([
      { ...svc('web', 'default', '127.77.0.10', 2), endpoints: [{ address: '10.1.0.1', port: 20000, healthy: true }, { address: '10.1.0.2', port: 20001, healthy: false }, { address: '10.1.0.3', port: 20002, healthy: true }] },
      svc('web', 'prod', '127.77.0.11', 1),
      svc('big', 'default', '127.77.0.12', 40),
    ]);
    const r = await udp('_web._tcp.default.karu', 'SRV');
    assert.deepEqual(
      r.answers.map((a) => `${a.target}:${a.port}`).sort(),
      [`${addressName('10.1.0.1')}:20000`, `${addressName('10.1.0.3')}:20002`],
    );
    assert.deepEqual(r.additionals.map((a) => a.address).sort(), ['10.1.0.1', '10.1.0.3']);
    const target = await udp(addressName('10.1.0.3'), 'A');
    assert.deepEqual(target.answers.map((a) => a.address), ['10.1.0.3']);
  });

  it('says NXDOMAIN for unknown names inside .karu and for unknown bare names', async () => {
    for (const name of ['nope.default.karu', 'web.nope.karu', '_nope._tcp.default.karu', 'nope', 'x.y.web.default.karu']) {
      const r = await udp(name, 'A');
      assert.equal(r.header.rcode, 3, name);
      assert.equal(r.answers.length, 0, name);
    }
  });

  it('answers a known name asked for AAAA with no data, not NXDOMAIN', async () => {
    const r = await udp('web.default.karu', 'AAAA');
    assert.equal(r.header.rcode, 0);
    assert.equal(r.answers.length, 0);
  });

  it('refuses names outside .karu when it has no upstream', async () => {
    const r = await udp('example.com', 'A');
    assert.equal(r.header.rcode, 5);
  });

  it('truncates an answer too big for UDP, and gives it whole over TCP', async () => {
    const raw = await rawUdp(server.port, '_big._tcp.default.karu', Packet.TYPE.SRV);
    assert.equal(raw.header.tc, 1);
    assert.equal(raw.answers.length, 0);
    const viaTcp = await tcp('_big._tcp.default.karu', 'SRV');
    assert.equal(viaTcp.answers.length, 40);
    // dns2's UDP client follows the TC bit to TCP by itself, as a stub resolver would.
    const followed = await udp('_big._tcp.default.karu', 'SRV');
    assert.equal(followed.answers.length, 40);
  });

  it('sees a change of the table at the next query', async () => {
    table.set([svc('web', 'default', '127.77.0.99', 1)]);
    assert.deepEqual((await tcp('web.default.karu', 'A')).answers.map((a) => a.address), ['127.77.0.99']);
    assert.equal((await udp('web.prod.karu', 'A')).header.rcode, 3);
  });
});

describe('DNS server forwarding', () => {
  it('forwards names outside .karu to the upstream over UDP and TCP', async () => {
    // A fake upstream on loopback: answers every A question with 192.0.2.1.
    const upstreamUdp = new UDPServer();
    const seen: string[] = [];
    upstreamUdp.on('request', (req, send) => {
      seen.push(req.questions[0]!.name);
      const res = Packet.createResponseFromRequest(req);
      res.answers.push({ name: req.questions[0]!.name, type: Packet.TYPE.A, class: Packet.CLASS.IN, ttl: 60, address: '192.0.2.1' } as Resource);
      void send(res);
    });
    upstreamUdp.bind(0, HOST);
    await once(upstreamUdp, 'listening');
    const upPort = upstreamUdp.address().port;
    // TCP side of the fake upstream on the same port, via dns2's TCP server.
    const upstreamTcp = new dns2.TCPServer();
    upstreamTcp.on('request', (req, send) => {
      seen.push(`tcp:${req.questions[0]!.name}`);
      const res = Packet.createResponseFromRequest(req);
      res.answers.push({ name: req.questions[0]!.name, type: Packet.TYPE.A, class: Packet.CLASS.IN, ttl: 60, address: '192.0.2.2' } as Resource);
      void send(res);
    });
    upstreamTcp.listen(upPort, HOST);
    await once(upstreamTcp, 'listening');

    const server = await startDnsServer({ table: new ServiceTable(), host: HOST, port: 0, namespace: 'default', upstream: { address: HOST, port: upPort, timeoutMs: 2000 } });
    try {
      const viaUdp = await UDPClient({ dns: HOST, port: server.port, timeout: 3000 })('example.org', 'A');
      assert.deepEqual(viaUdp.answers.map((a) => a.address), ['192.0.2.1']);
      const viaTcp = await TCPClient({ dns: HOST, port: server.port })('example.net', 'A');
      assert.deepEqual(viaTcp.answers.map((a) => a.address), ['192.0.2.2']);
      assert.deepEqual(seen, ['example.org', 'tcp:example.net']);
      // .karu names never leave the node.
      assert.equal((await UDPClient({ dns: HOST, port: server.port, timeout: 3000 })('x.default.karu', 'A')).header.rcode, 3);
      assert.equal(seen.length, 2);
    } finally {
      await server.close();
      upstreamUdp.close();
      await new Promise((r) => upstreamTcp.close(r));
    }
  });

  it('answers SERVFAIL when the upstream does not answer in time', async () => {
    // A UDP socket that never answers stands in for a dead resolver.
    const silent = createSocket('udp4');
    silent.bind(0, HOST);
    await once(silent, 'listening');
    const server = await startDnsServer({ table: new ServiceTable(), host: HOST, port: 0, namespace: 'default', upstream: { address: HOST, port: silent.address().port, timeoutMs: 200 } });
    try {
      const r = await UDPClient({ dns: HOST, port: server.port, timeout: 3000 })('example.org', 'A');
      assert.equal(r.header.rcode, 2);
    } finally {
      await server.close();
      silent.close();
    }
  });
});
