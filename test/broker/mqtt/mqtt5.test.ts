/** MQTT 5.0 features, with mqtt.js v5, raw packets and mosquitto clients (-V mqttv5). */
import type { MqttClient } from 'mqtt';
import type {
  IConnackPacket,
  IConnectPacket,
  IDisconnectPacket,
  IPubackPacket,
  IPublishPacket,
  IUnsubackPacket,
} from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import type { BrokerOptions } from '../../../broker/index.js';
import {
  closeClient,
  collect,
  connectClient,
  RawClient,
  run,
  startBroker,
  type TestBroker,
  until,
  waitFor,
} from '../../helpers.js';

let tb: TestBroker;
const clients: MqttClient[] = [];
const raws: RawClient[] = [];
afterEach(async () => {
  for (const r of raws.splice(0)) r.destroy();
  await Promise.all(clients.splice(0).map((c) => closeClient(c, true)));
  await tb?.close();
});

async function broker(options: BrokerOptions = {}) {
  tb = await startBroker(options);
  return tb;
}
async function v5(opts = {}) {
  const c = await connectClient(tb.url, { protocolVersion: 5, ...opts });
  clients.push(c);
  return c;
}
/** A raw MQTT 5 client; resolves with it and its CONNACK. */
async function raw5(connect: Partial<IConnectPacket> = {}) {
  const c = await RawClient.open(tb.port, 5);
  raws.push(c);
  c.send({ cmd: 'connect', protocolVersion: 5, clientId: '', clean: true, keepalive: 0, ...connect });
  const connack = (await c.next('connack')) as IConnackPacket;
  return { c, connack };
}
const pub = (
  topic: string,
  payload: string,
  qos: 0 | 1 | 2,
  messageId?: number,
  properties?: IPublishPacket['properties'],
) =>
  ({
    cmd: 'publish',
    topic,
    payload: Buffer.from(payload),
    qos,
    dup: false,
    retain: false,
    ...(messageId && { messageId }),
    ...(properties && { properties }),
  }) as IPublishPacket;

describe('CONNECT / CONNACK', () => {
  it('announces limits and availability flags', async () => {
    await broker({ limits: { receiveMaximum: 50, topicAliasMaximum: 7, maxPacketSize: 9000 } });
    const { connack } = await raw5({ clientId: 'flags' });
    expect(connack.reasonCode).toBe(0);
    expect(connack.properties).toMatchObject({
      receiveMaximum: 50,
      topicAliasMaximum: 7,
      maximumPacketSize: 9000,
      retainAvailable: true,
      wildcardSubscriptionAvailable: true,
      sharedSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: true,
    });
  });

  it('grants Server Keep Alive to clients asking for more than the maximum', async () => {
    await broker({ limits: { maxKeepaliveSeconds: 30 } });
    const { connack } = await raw5({ keepalive: 120 });
    expect(connack.properties?.serverKeepAlive).toBe(30);
    const { connack: within } = await raw5({ keepalive: 20 });
    expect(within.properties?.serverKeepAlive).toBeUndefined();
  });

  it('refuses enhanced authentication with 0x8C', async () => {
    await broker();
    const { c, connack } = await raw5({ properties: { authenticationMethod: 'SCRAM-SHA-1' } });
    expect(connack.reasonCode).toBe(0x8c);
    await c.whenClosed();
  });

  it('keeps a session for its expiry interval, then forgets it', async () => {
    await broker();
    const first = await raw5({
      clientId: 'expiring',
      clean: false,
      properties: { sessionExpiryInterval: 1 },
    });
    await first.c.subscribe([{ topic: 'exp', qos: 1 }]);
    first.c.send({ cmd: 'disconnect' });
    await first.c.whenClosed();
    tb.broker.publish({ topic: 'exp', payload: 'kept for you', qos: 1 });
    const back = await raw5({ clientId: 'expiring', clean: false, properties: { sessionExpiryInterval: 1 } });
    expect(back.connack.sessionPresent).toBe(true);
    expect(((await back.c.next('publish')) as IPublishPacket).payload.toString()).toBe('kept for you');
    back.c.destroy();
    await until(() => !tb.broker.core.sessions.has('expiring'), 3000, 'the session to expire');
    const later = await raw5({ clientId: 'expiring', clean: false });
    expect(later.connack.sessionPresent).toBe(false);
  });

  it('with session expiry 0 the session ends with the connection', async () => {
    await broker();
    const { c } = await raw5({ clientId: 'gone', clean: false });
    await c.subscribe([{ topic: 'g', qos: 1 }]);
    c.destroy();
    await until(() => !tb.broker.core.sessions.has('gone'));
    expect(tb.broker.core.router.index.size).toBe(0);
  });
});

describe('flow control and sizes', () => {
  it('disconnects a client that exceeds our Receive Maximum with 0x93', async () => {
    await broker({ limits: { receiveMaximum: 2 } });
    const { c } = await raw5();
    for (let id = 1; id <= 3; id++) c.send(pub('rm', `m${id}`, 2, id));
    const disconnect = (await c.next('disconnect')) as IDisconnectPacket;
    expect(disconnect.reasonCode).toBe(0x93);
    await c.whenClosed();
  });

  it('never has more unacknowledged messages in flight than the client Receive Maximum', async () => {
    await broker();
    const { c } = await raw5({ clientId: 'slowacker', properties: { receiveMaximum: 2 } });
    await c.subscribe([{ topic: 'fc', qos: 1 }]);
    for (let i = 0; i < 5; i++) tb.broker.publish({ topic: 'fc', payload: `m${i}`, qos: 1 });
    const a = (await c.next('publish')) as IPublishPacket;
    await c.next('publish');
    const session = tb.broker.core.sessions.get('slowacker')!;
    expect(session.inflightCount).toBe(2);
    expect(session.queuedCount).toBe(3);
    c.send({ cmd: 'puback', messageId: a.messageId! });
    expect(((await c.next('publish')) as IPublishPacket).payload.toString()).toBe('m2');
  });

  it('never sends a packet larger than the client Maximum Packet Size', async () => {
    await broker();
    const { c } = await raw5({ properties: { maximumPacketSize: 100 } });
    await c.subscribe([{ topic: 'big', qos: 1 }]);
    tb.broker.publish({ topic: 'big', payload: Buffer.alloc(200), qos: 1 });
    tb.broker.publish({ topic: 'big', payload: 'small', qos: 1 });
    expect(((await c.next('publish')) as IPublishPacket).payload.toString()).toBe('small');
    expect(tb.broker.stats().tooLargeForClient).toBe(1);
  });

  it('closes with 0x95 when a client sends a packet over our maximum', async () => {
    await broker({ limits: { maxPacketSize: 512 } });
    const { c } = await raw5();
    c.send(pub('x', 'y'.repeat(600), 0));
    expect(((await c.next('disconnect')) as IDisconnectPacket).reasonCode).toBe(0x95);
  });
});

describe('topic aliases', () => {
  it('resolves inbound aliases and refuses bad ones', async () => {
    await broker({ limits: { topicAliasMaximum: 3 } });
    const sub = await v5();
    await sub.subscribeAsync('alias/#', { qos: 1 });
    const { c } = await raw5();
    c.send(pub('alias/t', 'one', 1, 1, { topicAlias: 2 }));
    await c.next('puback');
    c.send(pub('', 'two', 1, 2, { topicAlias: 2 }));
    await c.next('puback');
    await until(() => collect(sub).length === 2);
    expect(collect(sub).map((m) => m.topic)).toEqual(['alias/t', 'alias/t']);

    c.send(pub('alias/x', 'three', 0, undefined, { topicAlias: 4 }));
    expect(((await c.next('disconnect')) as IDisconnectPacket).reasonCode).toBe(0x94);
    const { c: c2 } = await raw5();
    c2.send(pub('', 'unknown', 0, undefined, { topicAlias: 1 }));
    expect(((await c2.next('disconnect')) as IDisconnectPacket).reasonCode).toBe(0x82);
  });

  it('assigns outbound aliases to repeated topics for clients that allow them', async () => {
    await broker();
    const { c } = await raw5({ properties: { topicAliasMaximum: 1 } });
    await c.subscribe([{ topic: 'out/#', qos: 0 }]);
    for (const t of ['out/a', 'out/a', 'out/b']) tb.broker.publish({ topic: t, payload: t });
    const [p1, p2, p3] = [
      await c.next('publish'),
      await c.next('publish'),
      await c.next('publish'),
    ] as IPublishPacket[];
    expect([p1!.topic, p1!.properties?.topicAlias]).toEqual(['out/a', 1]);
    expect([p2!.topic, p2!.properties?.topicAlias]).toEqual(['', 1]);
    expect([p3!.topic, p3!.properties?.topicAlias]).toEqual(['out/b', undefined]); // maximum used up

    const js = await v5({ properties: { topicAliasMaximum: 5 } });
    await js.subscribeAsync('out/#');
    tb.broker.publish({ topic: 'out/c', payload: '1' });
    tb.broker.publish({ topic: 'out/c', payload: '2' });
    await until(() => collect(js).length === 2);
    expect(collect(js).map((m) => m.topic)).toEqual(['out/c', 'out/c']);
  });
});

describe('PUBLISH properties', () => {
  it('passes content type, payload format, response topic, correlation data and user properties through', async () => {
    await broker();
    const sub = await v5();
    await sub.subscribeAsync('props', { qos: 1 });
    const p = await v5();
    const properties = {
      payloadFormatIndicator: true,
      contentType: 'application/json',
      responseTopic: 'reply/here',
      correlationData: Buffer.from([1, 2, 3]),
      userProperties: { a: '1', b: ['2', '3'] },
    };
    await p.publishAsync('props', '{}', { qos: 1, properties });
    await until(() => collect(sub).length === 1);
    const got = collect(sub)[0]!.packet.properties!;
    expect(got.payloadFormatIndicator).toBe(true);
    expect(got.contentType).toBe('application/json');
    expect(got.responseTopic).toBe('reply/here');
    expect(Buffer.from(got.correlationData!)).toEqual(Buffer.from([1, 2, 3]));
    expect(got.userProperties).toEqual({ a: '1', b: ['2', '3'] });
    expect(Object.keys(got.userProperties!)).toEqual(['a', 'b']);
  });

  it('does not deliver expired messages and sends the remaining interval', async () => {
    await broker();
    const first = await raw5({ clientId: 'late', clean: false, properties: { sessionExpiryInterval: 60 } });
    await first.c.subscribe([{ topic: 'ttl', qos: 1 }]);
    first.c.destroy();
    await until(() => tb.broker.core.sessions.get('late')?.link === null);
    const p = await v5();
    await p.publishAsync('ttl', 'short', { qos: 1, properties: { messageExpiryInterval: 1 } });
    await p.publishAsync('ttl', 'long', { qos: 1, properties: { messageExpiryInterval: 100 } });
    const published = Date.now();
    await until(() => Date.now() - published > 1100, 3000, 'the short message to expire');
    const back = await raw5({ clientId: 'late', clean: false, properties: { sessionExpiryInterval: 60 } });
    const m = (await back.c.next('publish')) as IPublishPacket;
    expect(m.payload.toString()).toBe('long');
    expect(m.properties?.messageExpiryInterval).toBeLessThanOrEqual(99);
    expect(m.properties?.messageExpiryInterval).toBeGreaterThanOrEqual(95);
  });

  it('mosquitto_pub/sub -V mqttv5 carry content type and user properties', async () => {
    await broker();
    const sub = v5();
    const s = await sub;
    await s.subscribeAsync('mosq5', { qos: 1 });
    const r = await run('mosquitto_pub', [
      ...['-p', String(tb.port), '-V', 'mqttv5', '-t', 'mosq5', '-m', 'hello', '-q', '1'],
      ...['-D', 'publish', 'content-type', 'text/plain', '-D', 'publish', 'user-property', 'k', 'v'],
      ...['-D', 'publish', 'message-expiry-interval', '60'],
    ]);
    expect(r.code).toBe(0);
    await until(() => collect(s).length === 1);
    const props = collect(s)[0]!.packet.properties!;
    expect(props.contentType).toBe('text/plain');
    expect(props.userProperties).toEqual({ k: 'v' });
    expect(props.messageExpiryInterval).toBeGreaterThan(55);
  });
});

describe('SUBSCRIBE options', () => {
  it('no-local: a client does not receive its own messages', async () => {
    await broker();
    const c = await v5({ clientId: 'me' });
    await c.subscribeAsync('nl', { qos: 1, nl: true });
    await c.subscribeAsync('marker', { qos: 1 });
    await c.publishAsync('nl', 'own', { qos: 1 });
    await c.publishAsync('marker', 'm', { qos: 1 });
    await until(() => collect(c).length === 1);
    expect(collect(c)[0]!.topic).toBe('marker');
  });

  it('retain-as-published keeps the retain flag on forwarded messages', async () => {
    await broker();
    const rap = await v5();
    await rap.subscribeAsync('rap', { qos: 1, rap: true });
    const plain = await v5();
    await plain.subscribeAsync('rap', { qos: 1 });
    const p = await v5();
    await p.publishAsync('rap', 'r', { qos: 1, retain: true });
    await until(() => collect(rap).length === 1 && collect(plain).length === 1);
    expect(collect(rap)[0]!.packet.retain).toBe(true);
    expect(collect(plain)[0]!.packet.retain).toBe(false);
  });

  it('retain handling 0 always, 1 only for a new subscription, 2 never', async () => {
    await broker();
    tb.broker.publish({ topic: 'rh', payload: 'stored', retain: true });
    const { c } = await raw5();
    const subscribe = async (rh: number, id: number) => {
      await c.subscribe(
        [
          { topic: 'rh', qos: 0, rh },
          { topic: `m${id}`, qos: 0 },
        ],
        id,
      );
      tb.broker.publish({ topic: `m${id}`, payload: 'marker' });
      const packets: string[] = [];
      for (;;) {
        const p = (await c.next('publish')) as IPublishPacket;
        packets.push(p.topic);
        if (p.topic === `m${id}`) return packets;
      }
    };
    expect(await subscribe(0, 1)).toEqual(['rh', 'm1']);
    expect(await subscribe(0, 2)).toEqual(['rh', 'm2']); // existing subscription, rh 0: sent again
    expect(await subscribe(1, 3)).toEqual(['m3']); // existing subscription, rh 1: not sent
    c.send({ cmd: 'unsubscribe', messageId: 4, unsubscriptions: ['rh'] });
    await c.next('unsuback');
    expect(await subscribe(1, 5)).toEqual(['rh', 'm5']); // new subscription, rh 1: sent
    c.send({ cmd: 'unsubscribe', messageId: 6, unsubscriptions: ['rh'] });
    await c.next('unsuback');
    expect(await subscribe(2, 7)).toEqual(['m7']);
  });

  it('delivers subscription identifiers, all of them for overlapping subscriptions', async () => {
    await broker();
    const { c } = await raw5();
    await c.subscribe([{ topic: 'sid/+', qos: 1 }], 1, { subscriptionIdentifier: 5 });
    await c.subscribe([{ topic: 'sid/#', qos: 0 }], 2, { subscriptionIdentifier: 7 });
    tb.broker.publish({ topic: 'sid/x', payload: 'both', qos: 1 });
    const m = (await c.next('publish')) as IPublishPacket;
    expect(m.qos).toBe(1);
    expect([m.properties?.subscriptionIdentifier].flat().sort()).toEqual([5, 7]);
  });

  it('shared subscriptions: round robin across v5 and v3.1.1 members, no retained on subscribe', async () => {
    await broker();
    tb.broker.publish({ topic: 'sh/r', payload: 'retained', retain: true });
    const a = await v5({ clientId: 'member-a' });
    const b = await connectClient(tb.url, { protocolVersion: 4, clientId: 'member-b' });
    clients.push(b);
    await a.subscribeAsync('$share/g/sh/#', { qos: 1 });
    await b.subscribeAsync('$share/g/sh/#', { qos: 1 });
    const p = await v5();
    for (let i = 0; i < 4; i++) await p.publishAsync('sh/x', `m${i}`, { qos: 1 });
    await until(() => collect(a).length + collect(b).length === 4);
    expect(collect(a).map((m) => m.payload.toString())).toHaveLength(2);
    expect(collect(b).map((m) => m.payload.toString())).toHaveLength(2);
    expect([...collect(a), ...collect(b)].some((m) => m.payload.toString() === 'retained')).toBe(false);
  });

  it('no-local on a shared subscription is a protocol error', async () => {
    await broker();
    const { c } = await raw5();
    c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/x', qos: 0, nl: true }] });
    expect(((await c.next('disconnect')) as IDisconnectPacket).reasonCode).toBe(0x82);
  });
});

describe('reason codes and reason strings', () => {
  it('on PUBACK, SUBACK and UNSUBACK', async () => {
    await broker();
    const { c } = await raw5();
    c.send(pub('nobody/listens', 'x', 1, 1));
    expect(((await c.next('puback')) as IPubackPacket).reasonCode).toBe(0x10);
    expect(
      (
        await c.subscribe(
          [
            { topic: 'a/#/b', qos: 1 },
            { topic: 'ok', qos: 2 },
          ],
          2,
        )
      ).granted,
    ).toEqual([0x8f, 2]);
    c.send({ cmd: 'unsubscribe', messageId: 3, unsubscriptions: ['ok', 'never'] });
    expect(((await c.next('unsuback')) as IUnsubackPacket).granted).toEqual([0, 0x11]);
  });

  it('DISCONNECT 0x8E on takeover with a reason string, none when problem information is off', async () => {
    await broker();
    const { c } = await raw5({ clientId: 'taken' });
    await raw5({ clientId: 'taken' });
    const d = (await c.next('disconnect')) as IDisconnectPacket;
    expect(d.reasonCode).toBe(0x8e);
    expect(d.properties?.reasonString).toBe('session taken over');
    const { c: quiet } = await raw5({ clientId: 'quiet', properties: { requestProblemInformation: false } });
    await raw5({ clientId: 'quiet' });
    const q = (await quiet.next('disconnect')) as IDisconnectPacket;
    expect(q.reasonCode).toBe(0x8e);
    expect(q.properties?.reasonString).toBeUndefined();
  });

  it('DISCONNECT 0x8D on keepalive timeout; a full queue drops new messages without a DISCONNECT', async () => {
    await broker({ limits: { sweepIntervalMs: 50, maxInflight: 1, maxQueued: 1 } });
    const { c } = await raw5({ keepalive: 1 });
    expect(((await c.next('disconnect', 4000)) as IDisconnectPacket).reasonCode).toBe(0x8d);
    const { c: full } = await raw5({ clientId: 'full' });
    await full.subscribe([{ topic: 'full', qos: 1 }]);
    // One in flight, one queued, the third finds the queue full.
    for (let i = 0; i < 3; i++) tb.broker.publish({ topic: 'full', payload: `${i}`, qos: 1 });
    expect(tb.broker.core.sessions.get('full')!.stats.droppedOverflow).toBe(1);
    for (const expected of ['0', '1']) {
      const p = (await full.next('publish')) as IPublishPacket;
      expect(p.payload.toString()).toBe(expected);
      full.send({ cmd: 'puback', messageId: p.messageId! });
    }
    full.send({ cmd: 'pingreq' });
    await full.next('pingresp');
    expect(full.packets.filter((p) => p.cmd === 'disconnect' || p.cmd === 'publish')).toEqual([]);
    expect(full.closed).toBe(false);
  });

  it('DISCONNECT 0x8B when the server shuts down', async () => {
    await broker();
    const { c } = await raw5();
    const closing = tb.close();
    expect(((await c.next('disconnect')) as IDisconnectPacket).reasonCode).toBe(0x8b);
    await closing;
  });
});

describe('will delay', () => {
  const will = (delay: number) => ({
    topic: 'wd',
    payload: Buffer.from('late will'),
    qos: 1 as const,
    retain: false,
    properties: { willDelayInterval: delay, contentType: 'text/plain' },
  });

  it('is sent after the delay, with its properties', async () => {
    await broker();
    const watcher = await v5();
    await watcher.subscribeAsync('wd', { qos: 1 });
    const { c } = await raw5({
      clientId: 'wd1',
      clean: false,
      will: will(1),
      properties: { sessionExpiryInterval: 60 },
    });
    const lost = Date.now();
    c.destroy();
    await until(() => collect(watcher).length === 1, 4000);
    expect(Date.now() - lost).toBeGreaterThanOrEqual(900);
    expect(collect(watcher)[0]!.packet.properties?.contentType).toBe('text/plain');
  });

  it('is cancelled by a reconnect within the delay', async () => {
    await broker();
    const { c } = await raw5({
      clientId: 'wd2',
      clean: false,
      will: will(60),
      properties: { sessionExpiryInterval: 60 },
    });
    c.destroy();
    await until(() => tb.broker.core.sessions.get('wd2')?.pendingWill != null);
    await raw5({ clientId: 'wd2', clean: false, properties: { sessionExpiryInterval: 60 } });
    expect(tb.broker.core.sessions.get('wd2')!.pendingWill).toBeNull();
  });

  it('is sent at once when the session ends before the delay', async () => {
    await broker();
    const watcher = await v5();
    await watcher.subscribeAsync('wd', { qos: 1 });
    const { c } = await raw5({ clientId: 'wd3', will: will(600) }); // session expiry 0
    c.destroy();
    await until(() => collect(watcher).length === 1);
  });

  it('is not sent after DISCONNECT, but is with reason 0x04', async () => {
    await broker();
    const watcher = await v5();
    await watcher.subscribeAsync('wd', { qos: 1 });
    const { c } = await raw5({ clientId: 'wd4', will: will(0) });
    c.send({ cmd: 'disconnect', reasonCode: 0 });
    await c.whenClosed();
    const { c: c2 } = await raw5({ clientId: 'wd5', will: will(0) });
    c2.send({ cmd: 'disconnect', reasonCode: 0x04 });
    await c2.whenClosed();
    await until(() => collect(watcher).length === 1);
    const closed = waitFor(watcher, 'close');
    await tb.close();
    await closed;
    expect(collect(watcher)).toHaveLength(1);
  });
});
