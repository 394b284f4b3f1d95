import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { listenServiceProxy, proxyV1Header, VipProxy, type ServiceProxyListener } from './tcp-proxy.js';
import { ServiceTable, type ServiceEntry } from './service-table.js';
import { deadPort, freePortOn, randomLoopback, startTcpBackend, tcpRequest, type TcpBackend } from './testing.js';

const LO = '127.0.0.1';

function entry(ports: number[], over: Partial<ServiceEntry> = {}): ServiceEntry {
  return { namespace: 'default', name: 'api', vip: '', port: 0, endpoints: ports.map((port) => ({ address: LO, port, healthy: true })), ...over };
}

/** The greeting line of whichever backend answered. */
const who = (reply: string) => reply.split('\n')[0];

describe('TCP service proxy', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });
  const backend = async (name: string): Promise<TcpBackend> => {
    const b = await startTcpBackend(name);
    cleanup.push(() => b.close());
    return b;
  };
  const proxy = async (table: ServiceTable, extra: { proxyProtocol?: boolean } = {}): Promise<ServiceProxyListener> => {
    const p = await listenServiceProxy({ table, service: { namespace: 'default', name: 'api' }, host: randomLoopback(), port: 0, connectTimeoutMs: 1000, ...extra });
    cleanup.push(() => p.close(100));
    return p;
  };

  it('balances connections across the healthy endpoints and relays both ways', async () => {
    const [a, b] = [await backend('a'), await backend('b')];
    const table = new ServiceTable();
    table.set([entry([a.port, b.port])]);
    const p = await proxy(table);
    const replies = [];
    for (let i = 0; i < 4; i++) replies.push(await tcpRequest(p.host, p.port, `hello ${i}`));
    assert.deepEqual(replies.map(who).sort(), ['a', 'a', 'b', 'b']);
    assert.equal(replies[0], `${who(replies[0]!)}\nhello 0`, 'greeting, then the echo of what the client sent');
    assert.deepEqual([...a.received, ...b.received].sort(), ['hello 0', 'hello 1', 'hello 2', 'hello 3']);
  });

  it('skips a dead endpoint, tries the next one and takes the dead one out of rotation', async () => {
    const live = await backend('live');
    const table = new ServiceTable();
    table.set([entry([await deadPort(), live.port])]);
    const p = await proxy(table);
    for (let i = 0; i < 3; i++) assert.equal(who(await tcpRequest(p.host, p.port)), 'live');
    const s = table.get('default', 'api')!;
    assert.deepEqual(table.inRotation(s).map((e) => e.port), [live.port]);
  });

  it('sends no new connection to an endpoint removed from the table, and lets open ones finish', async () => {
    const [a, b] = [await backend('a'), await backend('b')];
    const table = new ServiceTable();
    table.set([entry([a.port, b.port])]);
    const p = await proxy(table);
    // An open connection to a, before a is removed.
    let first: Socket | undefined;
    let greeting = '';
    for (let i = 0; i < 2 && greeting !== 'a'; i++) {
      first?.destroy();
      first = connect({ host: p.host, port: p.port });
      const [d] = (await once(first, 'data')) as [Buffer];
      greeting = who(d.toString())!;
    }
    assert.equal(greeting, 'a');
    table.set([entry([b.port])]);
    for (let i = 0; i < 3; i++) assert.equal(who(await tcpRequest(p.host, p.port)), 'b');
    // The connection to a still works.
    first!.write('still here');
    const [echo] = (await once(first!, 'data')) as [Buffer];
    assert.equal(echo.toString(), 'still here');
    first!.destroy();
  });

  it('resets the client when no endpoint is healthy', async () => {
    const table = new ServiceTable();
    table.set([{ ...entry([await deadPort()]), endpoints: [{ address: LO, port: 1, healthy: false }] }]);
    const p = await proxy(table);
    await assert.rejects(tcpRequest(p.host, p.port, 'x'), /ECONNRESET/);
    table.set([]);
    await assert.rejects(tcpRequest(p.host, p.port, 'x'), /ECONNRESET/);
  });

  it('sends the PROXY protocol v1 header with the client address first', async () => {
    const a = await backend('a');
    const table = new ServiceTable();
    table.set([entry([a.port])]);
    const p = await proxy(table, { proxyProtocol: true });
    const sock = connect({ host: p.host, port: p.port, localAddress: '127.0.0.1' });
    await once(sock, 'connect');
    const clientPort = sock.localPort!;
    sock.resume();
    sock.end('payload');
    await once(sock, 'close');
    assert.equal(a.received[0], `PROXY TCP4 127.0.0.1 ${p.host} ${clientPort} ${p.port}\r\npayload`);
  });

  it('relays a large transfer intact, with back-pressure', async () => {
    const a = await backend('a');
    const table = new ServiceTable();
    table.set([entry([a.port])]);
    const p = await proxy(table);
    const big = 'x'.repeat(8 * 1024 * 1024);
    const reply = await tcpRequest(p.host, p.port, big, 20_000);
    assert.equal(reply.length, 'a\n'.length + big.length);
  });

  it('closes gracefully: stops accepting, lets an open connection finish', async () => {
    const a = await backend('a');
    const table = new ServiceTable();
    table.set([entry([a.port])]);
    const p = await listenServiceProxy({ table, service: { namespace: 'default', name: 'api' }, host: randomLoopback(), port: 0 });
    const sock = connect({ host: p.host, port: p.port });
    await once(sock, 'data');
    assert.equal(p.connections, 1);
    const closing = p.close(10_000);
    await assert.rejects(tcpRequest(p.host, p.port), /ECONNREFUSED/);
    sock.write('after close began');
    const [echo] = (await once(sock, 'data')) as [Buffer];
    assert.equal(echo.toString(), 'after close began');
    sock.end();
    await closing;
    assert.equal(p.connections, 0);
  });
});

describe('proxyV1Header', () => {
  it('writes TCP4, TCP6 and UNKNOWN lines', () => {
    assert.equal(proxyV1Header({ address: '::ffff:10.0.0.1', port: 1234 }, { address: '10.0.0.2', port: 80 }), 'PROXY TCP4 10.0.0.1 10.0.0.2 1234 80\r\n');
    assert.equal(proxyV1Header({ address: '2001:db8::1', port: 1 }, { address: '::1', port: 2 }), 'PROXY TCP6 2001:db8::1 ::1 1 2\r\n');
    assert.equal(proxyV1Header({ address: '10.0.0.1', port: 1 }, { address: '::1', port: 2 }), 'PROXY UNKNOWN\r\n');
  });
});

describe('VipProxy', () => {
  it('keeps one listener per service VIP:port in step with the table', async () => {
    const a = await startTcpBackend('a');
    const table = new ServiceTable();
    const vip = randomLoopback();
    const [port1, port2] = [await freePortOn(vip), await freePortOn(vip)];
    const vips = new VipProxy({ table, graceMs: 100, connectTimeoutMs: 1000 });
    try {
      table.set([entry([a.port], { vip, port: port1 })]);
      await vips.start();
      assert.deepEqual(vips.status(), [{ service: 'default/api', host: vip, port: port1 }]);
      assert.equal(who(await tcpRequest(vip, port1)), 'a');

      // The service moves to another port: the old listener goes, the new one comes.
      table.set([entry([a.port], { vip, port: port2 })]);
      await vips.sync();
      await assert.rejects(tcpRequest(vip, port1), /ECONNREFUSED/);
      assert.equal(who(await tcpRequest(vip, port2)), 'a');

      // A VIP the node does not have is reported, not thrown.
      table.set([entry([a.port], { vip, port: port2 }), entry([a.port], { name: 'web', vip: '192.0.2.77', port: port2 })]);
      await vips.sync();
      const failed = vips.status().find((s) => s.service === 'default/web');
      assert.match(failed?.error ?? '', /EADDRNOTAVAIL/);

      table.set([]);
      await vips.sync();
      assert.deepEqual(vips.status(), []);
      await assert.rejects(tcpRequest(vip, port2), /ECONNREFUSED/);
    } finally {
      await vips.close();
      await a.close();
    }
  });
});
