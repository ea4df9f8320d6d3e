/** CoAP Observe: registration, notifications from MQTT and the application, deregistration, dead observers. */
import { createSocket, type Socket } from 'node:dgram';
import coap from 'coap';
import type { ParsedPacket } from 'coap-packet';
import type { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { ClientInfo } from '../../../broker/index.js';
import { closeClient, connectClient, until, waitFor } from '../../helpers.js';
import {
  CoapClientProcess,
  type CoapTestBroker,
  option,
  RawCoapClient,
  startCoapBroker,
  uint,
  uintOption,
} from './coap-helpers.js';

let tb: CoapTestBroker | undefined;
const mqttClients: MqttClient[] = [];
const raws: RawCoapClient[] = [];
const processes: CoapClientProcess[] = [];
const sockets: Socket[] = [];

async function start(options: Parameters<typeof startCoapBroker>[0] = {}) {
  tb = await startCoapBroker(options);
  return tb;
}

async function publisher() {
  const c = await connectClient(tb!.mqttUrl, { protocolVersion: 5 });
  mqttClients.push(c);
  return c;
}

async function raw() {
  const r = await RawCoapClient.open(tb!.coapPort);
  raws.push(r);
  return r;
}

const subscribed = () => waitFor<ClientInfo | undefined>(tb!.broker, 'subscribed');
const unsubscribed = () => waitFor<ClientInfo | undefined>(tb!.broker, 'unsubscribed');

/** Registers a raw observer on `target`; resolves with the 2.05 registration response. */
async function observe(
  c: RawCoapClient,
  target: string,
  extra: Parameters<RawCoapClient['request']>[2] = {},
) {
  const registered = subscribed();
  const sent = c.request('GET', target, {
    ...extra,
    extraOptions: [{ name: 'Observe', value: uint(0) }, ...(extra.extraOptions ?? [])],
  });
  const response = await c.response(sent);
  expect(response.code).toBe('2.05');
  expect(option(response, 'Observe')).toBeDefined();
  await registered;
  return { sent, response };
}

/** The next notification for `token`. */
const notification = (c: RawCoapClient, token: Buffer) => c.next((p) => p.token.equals(token) && !p.ack);

afterEach(async () => {
  await Promise.all(processes.splice(0).map((p) => p.kill()));
  await Promise.all(mqttClients.splice(0).map((c) => closeClient(c, true)));
  for (const s of sockets.splice(0)) await new Promise<void>((r) => s.close(() => r()));
  await tb?.close();
  await Promise.all(raws.splice(0).map((r) => r.close()));
  tb = undefined;
});

describe('observe with coap-client-notls', () => {
  it('receives messages published over MQTT and by the application', async () => {
    await start();
    const registered = subscribed();
    const client = new CoapClientProcess([
      '-B',
      '10',
      '-s',
      '10',
      `${tb!.coapUrl}/channels/c1/messages/t?auth=s`,
    ]);
    processes.push(client);
    await registered;
    const pub = await publisher();
    await pub.publishAsync('channels/c1/messages/t', 'from-mqtt');
    await client.waitForOutput((o) => o.includes('from-mqtt'));
    tb!.broker.publish({ topic: 'channels/c1/messages/t', payload: 'from-app' });
    await client.waitForOutput((o) => o.includes('from-app'));
    expect(client.output.indexOf('from-mqtt')).toBeLessThan(client.output.indexOf('from-app'));
  });

  it('deregisters when coap-client-notls ends its observation (GET with Observe 1)', async () => {
    await start();
    const registered = subscribed();
    const client = new CoapClientProcess([
      '-B',
      '5',
      '-s',
      '1',
      `${tb!.coapUrl}/channels/c1/messages/t?auth=s`,
    ]);
    processes.push(client);
    await registered;
    const gone = unsubscribed();
    expect((await client.done).code).toBe(0);
    await gone;
    expect(tb!.broker.coap!.stats().observers).toBe(0);
  });
});

describe('observe with the npm coap client', () => {
  it('streams notifications with increasing Observe numbers and the message content-format', async () => {
    await start();
    // With its own socket the agent does not close it when the stream closes, so close(true) can
    // still send its deregistration (node-coap closes an agent-owned socket first).
    const socket = createSocket('udp4');
    sockets.push(socket);
    const agent = new coap.Agent({ type: 'udp4', socket });
    const registered = subscribed();
    const req = coap.request({
      hostname: '127.0.0.1',
      port: tb!.coapPort,
      pathname: '/channels/c2/messages/+',
      query: 'auth=x',
      observe: true,
      agent,
    });
    const stream = await new Promise<coap.ObserveReadStream>((resolve, reject) => {
      req.on('response', resolve);
      req.on('error', reject);
      req.end();
    });
    await registered;
    const received: { payload: string; format: unknown; observe: unknown }[] = [];
    let arrived: () => void = () => {};
    stream.on('data', (chunk: Buffer) => {
      if (chunk.length === 0) return; // the registration response
      received.push({
        payload: chunk.toString(),
        format: stream.headers['Content-Format'],
        observe: stream.headers.Observe,
      });
      arrived();
    });
    const nextData = () => new Promise<void>((resolve) => (arrived = resolve));
    const pub = await publisher();
    let next = nextData();
    await pub.publishAsync('channels/c2/messages/a', '[{"v":1}]', {
      properties: { contentType: 'application/senml+json' },
    });
    await next;
    next = nextData();
    await pub.publishAsync('channels/c2/messages/b', 'raw');
    await next;
    next = nextData();
    tb!.broker.publish({
      topic: 'channels/c2/messages/c',
      payload: Buffer.from([0xa0]),
      properties: { contentType: 'application/senml+cbor' },
    });
    await next;
    expect(received.map((r) => r.payload)).toEqual(['[{"v":1}]', 'raw', '\ufffd']);
    expect(received.map((r) => r.format)).toEqual([
      'application/senml+json',
      'application/octet-stream',
      'application/senml+cbor',
    ]);
    const numbers = received.map((r) => r.observe as number);
    expect(numbers[1]!).toBeGreaterThan(numbers[0]!);
    expect(numbers[2]!).toBeGreaterThan(numbers[1]!);
    // close(true) sends a GET with Observe 1.
    const gone = unsubscribed();
    stream.close(true);
    await gone;
  });
});

describe('observe with raw datagrams', () => {
  it('notifies with the token, a 24-bit Observe number and Content-Format 42 for unknown types', async () => {
    await start();
    const c = await raw();
    const { sent, response } = await observe(c, '/channels/c1/messages/#?auth=s');
    const first = uintOption(response, 'Observe')!;
    tb!.broker.publish({
      topic: 'channels/c1/messages/x/y',
      payload: 'a',
      properties: { contentType: 'image/png' },
    });
    tb!.broker.publish({ topic: 'channels/c1/messages', payload: 'b' });
    tb!.broker.publish({ topic: 'channels/c2/messages', payload: 'not for us' });
    const n1 = await notification(c, sent.token);
    const n2 = await notification(c, sent.token);
    expect([n1.payload.toString(), n2.payload.toString()]).toEqual(['a', 'b']);
    expect(n1.code).toBe('2.05');
    expect(uintOption(n1, 'Content-Format')).toBe(42);
    expect(uintOption(n1, 'Observe')).toBe((first + 1) & 0xffffff);
    expect(uintOption(n2, 'Observe')).toBe((first + 2) & 0xffffff);
    expect(n1.confirmable || n1.reset || n1.ack).toBe(false); // NON by default
  });

  it('sends the retained message after the registration response', async () => {
    await start();
    tb!.broker.publish({
      topic: 'channels/c1/messages/state',
      payload: '[{"n":"on","vb":true}]',
      retain: true,
      properties: { contentType: 'application/senml+json' },
    });
    const c = await raw();
    const { sent } = await observe(c, '/channels/c1/messages/state?auth=s');
    const n = await notification(c, sent.token);
    expect(n.payload.toString()).toBe('[{"n":"on","vb":true}]');
    expect(uintOption(n, 'Content-Format')).toBe(110);
  });

  it('a plain GET answers the retained message, or an empty 2.05', async () => {
    await start();
    const c = await raw();
    const empty = c.request('GET', '/channels/c1/messages/state?auth=s');
    const r1 = await c.response(empty);
    expect(r1.code).toBe('2.05');
    expect(r1.payload.length).toBe(0);
    tb!.broker.publish({ topic: 'channels/c1/messages/state', payload: 'kept', retain: true });
    const full = c.request('GET', '/channels/c1/messages/state?auth=s');
    const r2 = await c.response(full);
    expect(r2.payload.toString()).toBe('kept');
    expect(uintOption(r2, 'Content-Format')).toBe(42);
    expect(option(r2, 'Observe')).toBeUndefined();
  });

  it('deregisters with Observe 1 and unsubscribes from the core', async () => {
    await start();
    const c = await raw();
    const { sent } = await observe(c, '/channels/c1/messages?auth=s');
    expect(tb!.broker.stats().subscriptions).toBe(1);
    const gone = unsubscribed();
    const dereg = c.request('GET', '/channels/c1/messages?auth=s', {
      token: sent.token,
      extraOptions: [{ name: 'Observe', value: uint(1) }],
    });
    const response = await c.response(dereg);
    expect(response.code).toBe('2.05');
    expect(option(response, 'Observe')).toBeUndefined();
    await gone;
    expect(tb!.broker.stats().subscriptions).toBe(0);
    expect(tb!.broker.coap!.stats().observers).toBe(0);
  });

  it('deregisters on an RST to a NON notification', async () => {
    await start();
    const c = await raw();
    const { sent } = await observe(c, '/channels/c1/messages?auth=s');
    tb!.broker.publish({ topic: 'channels/c1/messages', payload: 'x' });
    const n = await notification(c, sent.token);
    expect(n.confirmable).toBe(false);
    const gone = unsubscribed();
    c.reset(n);
    await gone;
    expect(tb!.broker.coap!.stats().observers).toBe(0);
  });

  it('sends every n-th notification CON and deregisters on an RST to it', async () => {
    await start({ coap: { observeConEvery: 3 } });
    const c = await raw();
    const { sent } = await observe(c, '/channels/c1/messages?auth=s');
    const types: boolean[] = [];
    let con: ParsedPacket | undefined;
    for (let i = 0; i < 3; i++) {
      tb!.broker.publish({ topic: 'channels/c1/messages', payload: `${i}` });
      const n = await notification(c, sent.token);
      types.push(n.confirmable);
      if (n.confirmable) con = n;
    }
    expect(types).toEqual([false, false, true]);
    const gone = unsubscribed();
    c.reset(con!);
    await gone;
  });

  it('keeps an observer that acknowledges its CON notifications', async () => {
    await start({ coap: { observeConEvery: 1 } });
    const c = await raw();
    const { sent } = await observe(c, '/channels/c1/messages?auth=s');
    for (let i = 0; i < 3; i++) {
      tb!.broker.publish({ topic: 'channels/c1/messages', payload: `${i}` });
      const n = await notification(c, sent.token);
      expect(n.confirmable).toBe(true);
      c.ack(n);
      await until(() => tb!.broker.coap!.stats().awaitingAck === 0, 2000, 'the ACK to be taken');
    }
    expect(tb!.broker.coap!.stats()).toMatchObject({
      observers: 1,
      retransmissions: 0,
      confirmableNotifications: 3,
    });
  });

  it('removes an observer that never acknowledges, after retransmitting with backoff', async () => {
    await start({ coap: { observeConEvery: 1, ackTimeoutMs: 30, ackRandomFactor: 1, maxRetransmit: 2 } });
    const c = await raw();
    const { sent } = await observe(c, '/channels/c1/messages?auth=s');
    const gone = unsubscribed();
    tb!.broker.publish({ topic: 'channels/c1/messages', payload: 'hello?' });
    const copies: ParsedPacket[] = [];
    for (let i = 0; i < 3; i++) copies.push(await notification(c, sent.token));
    await gone;
    expect(new Set(copies.map((x) => x.messageId)).size).toBe(1);
    // Exponential backoff: 30 ms, then 60 ms. Timers never fire early, so only lower bounds are
    // checked (a loaded machine makes the gaps longer, never shorter); 5 ms slack for clock rounding.
    const at = copies.map((p) => c.arrivedAt(p));
    const gap1 = at[1]! - at[0]!;
    const gap2 = at[2]! - at[1]!;
    expect(gap1).toBeGreaterThanOrEqual(25);
    expect(gap2).toBeGreaterThanOrEqual(55);
    expect(tb!.broker.coap!.stats()).toMatchObject({ observers: 0, giveUps: 1, retransmissions: 2 });
  });

  it('sends a CON when the last one is older than observeConIntervalMs', async () => {
    // An interval of 0 makes every notification due by age alone (the count rule is far away).
    await start({ coap: { observeConEvery: 1000, observeConIntervalMs: 0 } });
    const c = await raw();
    const { sent } = await observe(c, '/channels/c1/messages?auth=s');
    tb!.broker.publish({ topic: 'channels/c1/messages', payload: 'x' });
    expect((await notification(c, sent.token)).confirmable).toBe(true);
  });

  it('re-registering with the same token replaces the observer', async () => {
    await start();
    const c = await raw();
    const { sent } = await observe(c, '/channels/c1/messages/a?auth=s');
    const again = c.request('GET', '/channels/c1/messages/b?auth=s', {
      token: sent.token,
      extraOptions: [{ name: 'Observe', value: uint(0) }],
    });
    expect((await c.response(again)).code).toBe('2.05');
    expect(tb!.broker.coap!.stats().observers).toBe(1);
    expect(tb!.broker.stats().subscriptions).toBe(1);
    tb!.broker.publish({ topic: 'channels/c1/messages/a', payload: 'old' });
    tb!.broker.publish({ topic: 'channels/c1/messages/b', payload: 'new' });
    expect((await notification(c, sent.token)).payload.toString()).toBe('new');
  });

  it('4.03 when the subscription is not authorized', async () => {
    await start({
      authorizer: {
        authenticate: () => ({ ok: true }),
        authorizePublish: () => true,
        authorizeSubscribe: (_c, filter) => !filter.endsWith('#'),
      },
    });
    const c = await raw();
    const sent = c.request('GET', '/channels/c1/messages/#?auth=s', {
      extraOptions: [{ name: 'Observe', value: uint(0) }],
    });
    expect((await c.response(sent)).code).toBe('4.03');
    expect(tb!.broker.stats().subscriptions).toBe(0);
  });

  it('serves a registration beyond maxObservers or maxObserversPerPeer as a plain GET', async () => {
    await start({ coap: { maxObservers: 2, maxObserversPerPeer: 1 } });
    const a = await raw();
    await observe(a, '/channels/c1/messages?auth=s');
    const second = a.request('GET', '/channels/c1/messages?auth=s', {
      extraOptions: [{ name: 'Observe', value: uint(0) }],
    });
    const refusedPerPeer = await a.response(second);
    expect(refusedPerPeer.code).toBe('2.05');
    expect(option(refusedPerPeer, 'Observe')).toBeUndefined();
    const b = await raw();
    await observe(b, '/channels/c1/messages?auth=s');
    const c = await raw();
    const third = c.request('GET', '/channels/c1/messages?auth=s', {
      extraOptions: [{ name: 'Observe', value: uint(0) }],
    });
    expect(option(await c.response(third), 'Observe')).toBeUndefined();
    expect(tb!.broker.coap!.stats()).toMatchObject({ observers: 2, observersRefused: 2 });
  });

  it('Broker.close() ends every observation with a final 5.03 and no Observe option', async () => {
    await start();
    const c = await raw();
    const { sent } = await observe(c, '/channels/c1/messages?auth=s');
    await tb!.close();
    const last = await notification(c, sent.token);
    expect(last.code).toBe('5.03');
    expect(option(last, 'Observe')).toBeUndefined();
    tb = undefined;
  });

  it('Broker.disconnectClients ends matching observations with a final 4.03', async () => {
    await start({
      authorizer: {
        authenticate: (req) => ({ ok: true, principal: req.password?.toString() }),
        authorizePublish: () => true,
        authorizeSubscribe: () => true,
      },
    });
    const a = await raw();
    const b = await raw();
    const { sent } = await observe(a, '/channels/c1/messages?auth=alice');
    await observe(b, '/channels/c1/messages?auth=bob');
    expect(tb!.broker.disconnectClients((client) => client.principal === 'alice')).toBe(1);
    const last = await notification(a, sent.token);
    expect(last.code).toBe('4.03');
    expect(tb!.broker.coap!.stats().observers).toBe(1);
  });

  it('Broker.removeSubscriptions revokes a matching observation with a final 4.03', async () => {
    await start({
      authorizer: {
        authenticate: (req) => ({ ok: true, principal: req.password?.toString() }),
        authorizePublish: () => true,
        authorizeSubscribe: () => true,
      },
    });
    const a = await raw();
    const b = await raw();
    const { sent } = await observe(a, '/channels/c1/messages?auth=alice');
    await observe(b, '/channels/c2/messages?auth=alice');
    const removed = tb!.broker.removeSubscriptions(
      (client, filter) => client?.principal === 'alice' && filter.startsWith('channels/c1/'),
    );
    expect(removed).toBe(1);
    const last = await notification(a, sent.token);
    expect(last.code).toBe('4.03');
    expect(tb!.broker.coap!.stats().observers).toBe(1);
  });

  it('removes an observer when its credential expires', async () => {
    await start({
      coap: { sweepIntervalMs: 10 },
      authorizer: {
        authenticate: () => ({ ok: true, expiresAt: Date.now() + 50 }),
        authorizePublish: () => true,
        authorizeSubscribe: () => true,
      },
    });
    const c = await raw();
    const { sent } = await observe(c, '/channels/c1/messages?auth=s');
    const last = await notification(c, sent.token);
    expect(last.code).toBe('4.01');
    expect(tb!.broker.coap!.stats().observers).toBe(0);
  });
});
