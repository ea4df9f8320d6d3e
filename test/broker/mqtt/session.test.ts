import type { MqttClient } from 'mqtt';
import mqttPacket, { type IConnackPacket, type IPublishPacket } from 'mqtt-packet';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  closeClient,
  collect,
  connectClient,
  RawClient,
  startBroker,
  type TestBroker,
  until,
  waitFor,
} from '../../helpers.js';

let tb: TestBroker;
const clients: MqttClient[] = [];
const raws: RawClient[] = [];
async function client(opts = {}) {
  const c = await connectClient(tb.url, opts);
  clients.push(c);
  return c;
}
async function rawOpen(version: 4 | 5 = 4) {
  const c = await RawClient.open(tb.port, version);
  raws.push(c);
  return c;
}

beforeEach(async () => {
  tb = await startBroker();
});
afterEach(async () => {
  for (const r of raws.splice(0)) r.destroy();
  await Promise.all(clients.splice(0).map((c) => closeClient(c, true)));
  await tb.close();
});

describe('sessions', () => {
  it('a persistent session receives what was published while it was away', async () => {
    const sub = await client({ clientId: 'persist', clean: false });
    await sub.subscribeAsync('p/#', { qos: 1 });
    await closeClient(sub);
    const pub = await client();
    await pub.publishAsync('p/1', 'while away 1', { qos: 1 });
    await pub.publishAsync('p/2', 'while away 2', { qos: 2 });
    await pub.publishAsync('p/3', 'qos0 is not queued', { qos: 0 });

    const back = await client({ clientId: 'persist', clean: false });
    const got = collect(back);
    await until(() => got.length === 2);
    expect(got.map((m) => m.payload.toString())).toEqual(['while away 1', 'while away 2']);
    expect(got.map((m) => m.packet.qos)).toEqual([1, 1]); // granted QoS 1
  });

  it('reports session present, and a clean session forgets subscriptions', async () => {
    const raw = await rawOpen();
    raw.send({ cmd: 'connect', clientId: 'sp', clean: false, keepalive: 0, protocolVersion: 4 });
    expect(((await raw.next('connack')) as IConnackPacket).sessionPresent).toBe(false);
    await raw.subscribe([{ topic: 'sp', qos: 1 }]);
    raw.send({ cmd: 'disconnect' });
    await raw.whenClosed();

    const again = await rawOpen();
    again.send({ cmd: 'connect', clientId: 'sp', clean: false, keepalive: 0, protocolVersion: 4 });
    expect(((await again.next('connack')) as IConnackPacket).sessionPresent).toBe(true);
    again.send({ cmd: 'disconnect' });
    await again.whenClosed();

    const clean = await client({ clientId: 'sp', clean: true });
    const got = collect(clean);
    const pub = await client();
    await pub.publishAsync('sp', 'x', { qos: 1 });
    await pub.publishAsync('marker', 'm', { qos: 1 });
    await clean.subscribeAsync('marker', { qos: 1 });
    await pub.publishAsync('marker', 'm2', { qos: 1 });
    await until(() => got.length === 1);
    expect(got[0]!.topic).toBe('marker');
    expect(tb.broker.core.router.index.size).toBe(1);
  });

  it('session takeover: a second CONNECT with the same id ends the first', async () => {
    const first = await client({ clientId: 'dup', clean: false });
    const closed = waitFor(first, 'close');
    const second = await client({ clientId: 'dup', clean: false });
    await closed;
    expect(second.connected).toBe(true);
    expect(tb.broker.stats().connections).toBe(1);
  });

  it('assigns an id to an empty client id with a clean session, refuses it for a persistent one', async () => {
    const ok = await RawClient.connected(tb.port, { clientId: '', clean: true });
    raws.push(ok);
    const refused = await rawOpen();
    // mqtt-packet will not encode this illegal combination, so flip the clean-session bit by hand.
    const bytes = mqttPacket.generate({
      cmd: 'connect',
      clientId: '',
      clean: true,
      keepalive: 0,
      protocolVersion: 4,
    });
    bytes[9]! &= ~0x02;
    refused.write(bytes);
    expect(((await refused.next('connack')) as IConnackPacket).returnCode).toBe(2);
    await refused.whenClosed();

    const v5 = await RawClient.open(tb.port, 5);
    raws.push(v5);
    v5.send({ cmd: 'connect', clientId: '', clean: true, keepalive: 0, protocolVersion: 5 });
    const connack = (await v5.next('connack')) as IConnackPacket;
    expect(connack.reasonCode).toBe(0);
    expect(connack.properties?.assignedClientIdentifier).toMatch(/^omap-/);
  });

  it('redelivers unacknowledged QoS 1 with DUP after reconnect', async () => {
    const sub = await rawOpen();
    sub.send({ cmd: 'connect', clientId: 'redeliver', clean: false, keepalive: 0, protocolVersion: 4 });
    await sub.next('connack');
    await sub.subscribe([{ topic: 'r', qos: 1 }]);
    const pub = await client();
    await pub.publishAsync('r', 'needs ack', { qos: 1 });
    const first = (await sub.next('publish')) as IPublishPacket;
    expect(first.dup).toBe(false);
    sub.destroy(); // no PUBACK

    const back = await rawOpen();
    back.send({ cmd: 'connect', clientId: 'redeliver', clean: false, keepalive: 0, protocolVersion: 4 });
    await back.next('connack');
    const again = (await back.next('publish')) as IPublishPacket;
    expect(again.dup).toBe(true);
    expect(again.messageId).toBe(first.messageId);
    expect(again.payload.toString()).toBe('needs ack');
    back.send({ cmd: 'puback', messageId: again.messageId! });
    await until(() => tb.broker.core.sessions.get('redeliver')!.inflightCount === 0);
  });

  it('QoS 2 is exactly once across a forced reconnect, in both directions', async () => {
    const got: IPublishPacket[] = [];
    const sub = await rawOpen();
    sub.send({ cmd: 'connect', clientId: 'q2sub', clean: false, keepalive: 0, protocolVersion: 4 });
    await sub.next('connack');
    await sub.subscribe([{ topic: 'x2', qos: 2 }]);

    // Publisher: PUBLISH, receives PUBREC, then its connection dies before PUBREL.
    const pub = await rawOpen();
    pub.send({ cmd: 'connect', clientId: 'q2pub', clean: false, keepalive: 0, protocolVersion: 4 });
    await pub.next('connack');
    const publish = {
      cmd: 'publish',
      topic: 'x2',
      payload: Buffer.from('exactly once'),
      qos: 2,
      dup: false,
      retain: false,
      messageId: 7,
    } as const;
    pub.send(publish);
    expect((await pub.next('pubrec')).messageId).toBe(7);

    // Subscriber gets it once, acknowledges PUBREC, then dies before PUBCOMP.
    const delivered = (await sub.next('publish')) as IPublishPacket;
    got.push(delivered);
    sub.send({ cmd: 'pubrec', messageId: delivered.messageId! });
    expect((await sub.next('pubrel')).messageId).toBe(delivered.messageId);
    sub.destroy();
    pub.destroy();

    // The publisher resends with DUP: acknowledged again, not routed again.
    const pub2 = await rawOpen();
    pub2.send({ cmd: 'connect', clientId: 'q2pub', clean: false, keepalive: 0, protocolVersion: 4 });
    await pub2.next('connack');
    pub2.send({ ...publish, dup: true });
    expect((await pub2.next('pubrec')).messageId).toBe(7);
    pub2.send({ cmd: 'pubrel', messageId: 7 });
    expect((await pub2.next('pubcomp')).messageId).toBe(7);
    pub2.send({ ...publish, topic: 'x2', payload: Buffer.from('marker'), messageId: 8 });
    await pub2.next('pubrec');

    // The subscriber comes back: the broker resends PUBREL (not the message), then the marker.
    const sub2 = await rawOpen();
    sub2.send({ cmd: 'connect', clientId: 'q2sub', clean: false, keepalive: 0, protocolVersion: 4 });
    await sub2.next('connack');
    expect((await sub2.next('pubrel')).messageId).toBe(delivered.messageId);
    sub2.send({ cmd: 'pubcomp', messageId: delivered.messageId! });
    const next = (await sub2.next('publish')) as IPublishPacket;
    got.push(next);
    expect(got.map((p) => p.payload.toString())).toEqual(['exactly once', 'marker']);
  });

  it('persistent session queue is bounded: overflow is counted', async () => {
    await tb.close();
    tb = await startBroker({ limits: { maxQueued: 5 } });
    const sub = await client({ clientId: 'bounded', clean: false });
    await sub.subscribeAsync('b', { qos: 1 });
    await closeClient(sub);
    const pub = await client();
    for (let i = 0; i < 8; i++) await pub.publishAsync('b', `m${i}`, { qos: 1 });
    const session = tb.broker.core.sessions.get('bounded')!;
    expect(session.queuedCount).toBe(5);
    expect(session.stats.droppedOverflow).toBe(3);
    const back = await client({ clientId: 'bounded', clean: false });
    const got = collect(back);
    await until(() => got.length === 5);
    expect(got.map((m) => m.payload.toString())).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
  });

  it('keeps at most maxInflight unacknowledged messages on the wire', async () => {
    await tb.close();
    tb = await startBroker({ limits: { maxInflight: 3 } });
    const sub = await rawOpen();
    sub.send({ cmd: 'connect', clientId: 'window', clean: true, keepalive: 0, protocolVersion: 4 });
    await sub.next('connack');
    await sub.subscribe([{ topic: 'w', qos: 1 }]);
    const pub = await client();
    for (let i = 0; i < 6; i++) await pub.publishAsync('w', `m${i}`, { qos: 1 });
    const session = tb.broker.core.sessions.get('window')!;
    expect(session.inflightCount).toBe(3);
    expect(session.queuedCount).toBe(3);
    const first = await Promise.all([sub.next('publish'), sub.next('publish'), sub.next('publish')]);
    sub.send({ cmd: 'puback', messageId: first[0]!.messageId! });
    const fourth = (await sub.next('publish')) as IPublishPacket;
    expect(fourth.payload.toString()).toBe('m3');
  });
});
