/** Plain WebSocket on /channels/...: receive, publish, wildcards, auth at upgrade, envelope format, slow consumers. */
import type { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { Authorizer } from '../../../broker/index.js';
import { closeClient, collect, connectClient, until } from '../../helpers.js';
import {
  ALL_BYTES,
  closedWithin,
  closeWs,
  type HttpTestBroker,
  openWs,
  startHttpBroker,
  type WsClient,
} from './http-helpers.js';

let tb: HttpTestBroker;
const clients: MqttClient[] = [];
const sockets: WsClient[] = [];
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => closeWs(s)));
  await Promise.all(clients.splice(0).map((c) => closeClient(c, true)));
  await tb.close();
});

async function ws(
  path: string,
  options: Parameters<typeof openWs>[1] = {},
  protocols?: string[],
): Promise<WsClient> {
  const c = await openWs(`${tb.wsBase}${path}`, options, protocols);
  sockets.push(c);
  return c;
}

async function refusal(
  path: string,
  options: Parameters<typeof openWs>[1] = {},
): Promise<{ status: number; body: string }> {
  try {
    const c = await openWs(`${tb.wsBase}${path}`, options);
    sockets.push(c);
  } catch (err) {
    return err as { status: number; body: string };
  }
  throw new Error(`upgrade to ${path} was accepted`);
}

/** "pub" may publish and subscribe on c1; "sub" may only subscribe; anything else is refused. */
const channelAuthorizer: Authorizer = {
  authenticate: (req) => {
    const who = req.password?.toString();
    return who === 'pub' || who === 'sub'
      ? { ok: true, principal: who }
      : { ok: false, reason: 'bad-credentials' };
  },
  authorizePublish: (client, topic) => client.principal === 'pub' && topic.startsWith('channels/c1/'),
  authorizeSubscribe: (_client, filter) => filter.startsWith('channels/c1/'),
};

describe('plain WebSocket', () => {
  it('receives matching messages as binary frames of the payload bytes, wildcards included', async () => {
    tb = await startHttpBroker();
    const exact = await ws('/channels/c1/messages/t');
    const wild = await ws('/channels/c1/messages/%2B');
    const pub = await connectClient(tb.mqttUrl);
    clients.push(pub);
    await pub.publishAsync('channels/c1/messages/t', ALL_BYTES);
    await pub.publishAsync('channels/c1/messages/u', 'only the wildcard');
    await until(() => exact.received.length === 1 && wild.received.length === 2);
    expect(exact.received[0]!.isBinary).toBe(true);
    expect(exact.received[0]!.data.equals(ALL_BYTES)).toBe(true);
    expect(wild.received.map((m) => m.data.length)).toEqual([ALL_BYTES.length, 'only the wildcard'.length]);
  });

  it('publishes every frame it sends to the exact topic, and never gets its own frames back', async () => {
    tb = await startHttpBroker();
    const sub = await connectClient(tb.mqttUrl, { protocolVersion: 5 });
    clients.push(sub);
    await sub.subscribeAsync('channels/c1/messages/#');
    const sender = await ws('/channels/c1/messages/dev?content-type=application/senml%2Bjson');
    const listener = await ws('/channels/c1/messages/dev');
    sender.ws.send(ALL_BYTES);
    sender.ws.send('[{"v":1}]'); // a text frame: its UTF-8 bytes
    await until(() => collect(sub).length === 2 && listener.received.length === 2);
    const got = collect(sub);
    expect(got[0]!.topic).toBe('channels/c1/messages/dev');
    expect(got[0]!.payload.equals(ALL_BYTES)).toBe(true);
    expect(got[1]!.payload.toString()).toBe('[{"v":1}]');
    expect(got[0]!.packet.properties?.contentType).toBe('application/senml+json');
    expect(listener.received[0]!.data.equals(ALL_BYTES)).toBe(true);
    expect(sender.received).toHaveLength(0);
    expect(tb.broker.http!.stats.published).toBe(2);
  });

  it('?format=envelope gives JSON text frames with topic, content type and base64 payload', async () => {
    tb = await startHttpBroker();
    const c = await ws('/channels/c1/messages/%23?format=envelope');
    tb.broker.publish({
      topic: 'channels/c1/messages/a',
      payload: ALL_BYTES,
      properties: { contentType: 'application/octet-stream' },
    });
    await until(() => c.received.length === 1);
    expect(c.received[0]!.isBinary).toBe(false);
    const envelope = JSON.parse(c.received[0]!.data.toString()) as Record<string, unknown>;
    expect(envelope).toMatchObject({
      topic: 'channels/c1/messages/a',
      contentType: 'application/octet-stream',
    });
    expect(Buffer.from(envelope.payload as string, 'base64').equals(ALL_BYTES)).toBe(true);
  });

  it('sending on a wildcard path closes with 4400', async () => {
    tb = await startHttpBroker();
    const c = await ws('/channels/c1/messages/%23');
    c.ws.send('nope');
    const closed = await closedWithin(c);
    expect(closed.code).toBe(4400);
    expect(closed.reason).toContain('wildcard');
  });

  it('refuses bad upgrades: 404/400 path, 415 content-type, 401 credentials, 403 rights', async () => {
    tb = await startHttpBroker({ authorizer: channelAuthorizer });
    const auth = { headers: { authorization: 'Thing pub' } };
    expect((await refusal('/elsewhere', auth)).status).toBe(404);
    expect((await refusal('/channels/c1/nothing', auth)).status).toBe(404);
    const bad = await refusal('/channels//messages', auth);
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body)).toMatchObject({ error: 'bad-request' });
    expect((await refusal('/channels/c1/messages?content-type=text/plain', auth)).status).toBe(415);
    expect((await refusal('/channels/c1/messages?format=xml', auth)).status).toBe(400);
    const anonymous = await refusal('/channels/c1/messages');
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.body)).toMatchObject({ error: 'unauthorized' });
    expect(
      (await refusal('/channels/c1/messages', { headers: { authorization: 'Thing wrong' } })).status,
    ).toBe(401);
    const foreign = await refusal('/channels/c2/messages', auth);
    expect(foreign.status).toBe(403);
    expect(JSON.parse(foreign.body)).toMatchObject({ error: 'forbidden' });
  });

  it('?authorization= works like the header; a subscribe-only socket is closed 4403 when it sends', async () => {
    tb = await startHttpBroker({ authorizer: channelAuthorizer });
    const reader = await ws('/channels/c1/messages?authorization=Thing%20sub');
    const writer = await ws('/channels/c1/messages', { headers: { authorization: 'Thing pub' } });
    writer.ws.send('hello');
    await until(() => reader.received.length === 1);
    expect(reader.received[0]!.data.toString()).toBe('hello');
    reader.ws.send('not allowed');
    const closed = await closedWithin(reader);
    expect(closed.code).toBe(4403);
    // The writer is unaffected.
    writer.ws.send('still here');
    const sub = await connectClient(tb.mqttUrl, { password: 'sub', username: 'x' });
    clients.push(sub);
    await sub.subscribeAsync('channels/c1/messages');
    writer.ws.send('after');
    await until(() => collect(sub).length === 1);
  });

  it('echoes the first offered subprotocol (browsers fail the handshake otherwise)', async () => {
    tb = await startHttpBroker();
    const c = await ws('/channels/c1/messages', {}, ['omap.v1', 'other']);
    expect(c.ws.protocol).toBe('omap.v1');
  });

  it('a frame larger than maxBodyBytes closes only that socket', async () => {
    tb = await startHttpBroker({ http: { maxBodyBytes: 1024 } });
    const big = await ws('/channels/c1/messages');
    const other = await ws('/channels/c1/messages');
    big.ws.send(Buffer.alloc(4096));
    await closedWithin(big);
    tb.broker.publish({ topic: 'channels/c1/messages', payload: 'fine' });
    await until(() => other.received.length === 1);
  });

  it('a slow WebSocket subscriber loses QoS 0 messages (counted) while a fast one gets everything', async () => {
    tb = await startHttpBroker({ http: { maxSubscriberBufferBytes: 64 * 1024 } });
    const slow = await ws('/channels/load/messages');
    const fast = await ws('/channels/load/messages');
    // Stop reading the slow socket: kernel buffers fill, then the bound is reached.
    (slow.ws as unknown as { _socket: import('node:net').Socket })._socket.pause();
    const payload = Buffer.alloc(4096, 0x5a);
    const total = 3000; // 12 MB
    for (let i = 0; i < total; i += 10) {
      for (let j = 0; j < 10; j++) tb.broker.publish({ topic: 'channels/load/messages', payload });
      await until(() => fast.received.length >= i + 10, 10_000, 'the fast subscriber');
    }
    expect(fast.received.length).toBe(total);
    expect(tb.broker.http!.stats.droppedWs).toBeGreaterThan(0);
    expect(slow.received.length).toBeLessThan(total);
  });

  it('closing a socket removes its subscription', async () => {
    tb = await startHttpBroker();
    const c = await ws('/channels/c1/messages');
    expect(tb.broker.stats().subscriptions).toBe(1);
    c.ws.close();
    await closedWithin(c);
    await until(() => tb.broker.http!.connections.ws === 0);
    expect(tb.broker.stats().subscriptions).toBe(0);
  });

  it('disconnectClients() closes matching sockets with 1008', async () => {
    tb = await startHttpBroker({ authorizer: channelAuthorizer });
    const victim = await ws('/channels/c1/messages', { headers: { authorization: 'Thing sub' } });
    const bystander = await ws('/channels/c1/messages', { headers: { authorization: 'Thing pub' } });
    expect(tb.broker.disconnectClients((c) => c.principal === 'sub', 'revoked')).toBe(1);
    const closed = await closedWithin(victim);
    expect(closed).toEqual({ code: 1008, reason: 'revoked' });
    expect(bystander.ws.readyState).toBe(bystander.ws.OPEN);
  });

  it('frames are checked by the broker payload validator: an invalid one closes the socket with 4400', async () => {
    tb = await startHttpBroker({
      payloadValidator: { validate: (_t, _c, payload) => (payload[0] === 0x5b ? null : 'not a JSON array') },
    });
    const sub = await ws('/channels/c1/messages');
    const c = await ws('/channels/c1/messages?content-type=application/senml%2Bjson');
    c.ws.send('[1]');
    c.ws.send('{2}');
    const closed = await closedWithin(c);
    expect(closed).toEqual({ code: 4400, reason: 'invalid payload: not a JSON array' });
    await until(() => sub.received.length === 1);
    expect(sub.received[0]!.data.toString()).toBe('[1]');
  });

  it('frames sent while an asynchronous publish decision is pending are held and published in order', async () => {
    let decisions = 0;
    tb = await startHttpBroker({
      limits: { authorizationCacheTtlMs: 0 },
      authorizer: {
        authenticate: () => ({ ok: true }),
        authorizePublish: async () => {
          decisions++;
          await new Promise((r) => setTimeout(r, 20));
          return true;
        },
        authorizeSubscribe: () => true,
      },
    });
    const listener = await ws('/channels/c1/messages');
    const sender = await ws('/channels/c1/messages');
    for (let i = 0; i < 20; i++) sender.ws.send(`m${i}`);
    await until(() => listener.received.length === 20);
    expect(listener.received.map((m) => m.data.toString())).toEqual(
      Array.from({ length: 20 }, (_, i) => `m${i}`),
    );
    expect(decisions).toBeLessThan(20 + 2);
  });

  it('a socket is closed (4401) and an SSE stream ended when the credential expires', async () => {
    tb = await startHttpBroker({
      authorizer: {
        authenticate: () => ({ ok: true, expiresAt: Date.now() + 300 }),
        authorizePublish: () => true,
        authorizeSubscribe: () => true,
      },
    });
    const c = await ws('/channels/c1/messages');
    const { SseClient } = await import('./http-helpers.js');
    const stream = new SseClient(tb.httpPort, '/channels/c1/messages');
    await stream.subscribed();
    const closed = await closedWithin(c);
    expect(closed.code).toBe(4401);
    await stream.until(() => stream.ended, 5000, 'the SSE stream to end');
    stream.close();
  });

  it('broken WebSocket framing closes only that connection (plain and /mqtt)', async () => {
    tb = await startHttpBroker();
    const healthy = await ws('/channels/c1/messages');
    const { connect } = await import('node:net');
    for (const path of ['/channels/c1/messages', '/mqtt']) {
      const socket = connect({ port: tb.httpPort, host: '127.0.0.1' });
      socket.on('error', () => {});
      const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      let head = '';
      const upgraded = new Promise<void>((resolve) => {
        socket.on('data', (d) => {
          head += d.toString('latin1');
          if (head.includes('\r\n\r\n')) resolve();
        });
      });
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n',
      );
      await upgraded;
      expect(head).toMatch(/^HTTP\/1\.1 101/);
      // Reserved opcode 0x3, unmasked: both are protocol errors for a server.
      socket.write(Buffer.from([0x83, 0x02, 0x01, 0x02, 0xff, 0xff, 0xff]));
      await Promise.race([
        closed,
        new Promise((_, reject) => setTimeout(() => reject(new Error(`${path} not closed`)), 5000)),
      ]);
    }
    tb.broker.publish({ topic: 'channels/c1/messages', payload: 'still fine' });
    await until(() => healthy.received.length === 1);
  });

  it('an asynchronous Authorizer decides the upgrade (accepted and refused)', async () => {
    tb = await startHttpBroker({
      authorizer: {
        authenticate: async (req) =>
          req.password?.toString() === 'ok' ? { ok: true } : { ok: false, reason: 'bad-credentials' },
        authorizePublish: async () => true,
        authorizeSubscribe: async (_c, filter) => !filter.startsWith('channels/secret/'),
      },
    });
    const c = await ws('/channels/c1/messages', { headers: { authorization: 'Thing ok' } });
    expect((await refusal('/channels/c1/messages', { headers: { authorization: 'Thing no' } })).status).toBe(
      401,
    );
    expect(
      (await refusal('/channels/secret/messages/%23', { headers: { authorization: 'Thing ok' } })).status,
    ).toBe(403);
    tb.broker.publish({ topic: 'channels/c1/messages', payload: 'x' });
    await until(() => c.received.length === 1);
  });
});
