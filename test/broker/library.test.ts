/** The embedding API: createBroker, publish, events and the Authorizer interface. */
import type { MqttClient } from 'mqtt';
import type { IConnackPacket, IPubackPacket } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import type { Authorizer, ClientInfo } from '../../broker/index.js';
import {
  closeClient,
  collect,
  connectClient,
  RawClient,
  startBroker,
  type TestBroker,
  until,
  waitFor,
} from '../helpers.js';

let tb: TestBroker;
const clients: MqttClient[] = [];
const raws: RawClient[] = [];
afterEach(async () => {
  for (const r of raws.splice(0)) r.destroy();
  await Promise.all(clients.splice(0).map((c) => closeClient(c, true)));
  await tb.close();
});

describe('createBroker', () => {
  it('injects messages with publish() and reports events', async () => {
    tb = await startBroker();
    const connected = waitFor<ClientInfo>(tb.broker, 'clientConnected');
    const sub = await connectClient(tb.url, { clientId: 'lib-sub' });
    clients.push(sub);
    expect((await connected).id).toBe('lib-sub');
    const subscribed = waitFor(tb.broker, 'subscribed');
    await sub.subscribeAsync('inject/+', { qos: 1 });
    expect(await subscribed).toMatchObject({ id: 'lib-sub' });
    const seen: string[] = [];
    tb.broker.on('message', (m) => seen.push(m.topic));
    expect(tb.broker.publish({ topic: 'inject/x', payload: 'from the app', qos: 1 })).toBe(1);
    await until(() => collect(sub).length === 1);
    expect(collect(sub)[0]!.payload.toString()).toBe('from the app');
    expect(seen).toEqual(['inject/x']);
    expect(() => tb.broker.publish({ topic: 'bad/#', payload: '' })).toThrow(TypeError);
    const gone = waitFor(tb.broker, 'clientDisconnected');
    await closeClient(sub);
    clients.length = 0;
    await gone;
  });

  it('asks the Authorizer (sync and async) and enforces its answers', async () => {
    const calls: string[] = [];
    const authorizer: Authorizer = {
      authenticate: async (req) => {
        calls.push(`connect:${req.username}`);
        return req.password?.toString() === 'secret'
          ? { ok: true, principal: { tenant: 't1' } }
          : { ok: false, reason: 'bad-credentials' };
      },
      authorizePublish: (client, topic) => {
        calls.push(`pub:${topic}`);
        return topic.startsWith(`${(client.principal as { tenant: string }).tenant}/`);
      },
      authorizeSubscribe: async (_client, filter) => filter !== 'forbidden',
    };
    tb = await startBroker({ authorizer });

    const bad = await RawClient.open(tb.port);
    raws.push(bad);
    bad.send({
      cmd: 'connect',
      clientId: 'x',
      protocolVersion: 4,
      keepalive: 0,
      clean: true,
      username: 'u',
      password: Buffer.from('wrong'),
    });
    expect(((await bad.next('connack')) as IConnackPacket).returnCode).toBe(4);
    await bad.whenClosed();

    const good = await RawClient.connected(
      tb.port,
      { clientId: 'ok', username: 'u', password: Buffer.from('secret') },
      5,
    );
    raws.push(good);
    expect(
      (
        await good.subscribe([
          { topic: 't1/#', qos: 1 },
          { topic: 'forbidden', qos: 1 },
        ])
      ).granted,
    ).toEqual([1, 0x87]);
    good.send({
      cmd: 'publish',
      topic: 't2/x',
      payload: Buffer.from('no'),
      qos: 1,
      messageId: 2,
      dup: false,
      retain: false,
    });
    expect(((await good.next('puback')) as IPubackPacket).reasonCode).toBe(0x87);
    good.send({
      cmd: 'publish',
      topic: 't1/x',
      payload: Buffer.from('yes'),
      qos: 1,
      messageId: 3,
      dup: false,
      retain: false,
    });
    expect(((await good.next('puback')) as IPubackPacket).reasonCode ?? 0).toBe(0);
    const delivered = await good.next('publish');
    expect((delivered as { topic: string }).topic).toBe('t1/x');

    // Decisions are cached per client until invalidated.
    good.send({
      cmd: 'publish',
      topic: 't1/x',
      payload: Buffer.from('again'),
      qos: 1,
      messageId: 4,
      dup: false,
      retain: false,
    });
    await good.next('puback');
    expect(calls.filter((c) => c === 'pub:t1/x')).toHaveLength(1);
    tb.broker.invalidateAuthorizations('ok');
    good.send({
      cmd: 'publish',
      topic: 't1/x',
      payload: Buffer.from('third'),
      qos: 1,
      messageId: 5,
      dup: false,
      retain: false,
    });
    await good.next('puback');
    expect(calls.filter((c) => c === 'pub:t1/x')).toHaveLength(2);
  });

  it('keeps packet order while an asynchronous authorizer decides', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    tb = await startBroker({
      authorizer: {
        authenticate: () => ({ ok: true }),
        authorizePublish: async (_c, topic) => {
          if (topic === 'slow') await gate;
          return true;
        },
        authorizeSubscribe: () => true,
      },
    });
    const sub = await connectClient(tb.url);
    clients.push(sub);
    await sub.subscribeAsync('#', { qos: 1 });
    const pub = await connectClient(tb.url);
    clients.push(pub);
    pub.publish('slow', '1', { qos: 0 });
    pub.publish('fast', '2', { qos: 0 });
    await new Promise((r) => setImmediate(r));
    setTimeout(release, 50);
    await until(() => collect(sub).length === 2);
    expect(collect(sub).map((m) => m.topic)).toEqual(['slow', 'fast']);
  });

  it('close() ends clients and stops accepting', async () => {
    tb = await startBroker();
    const c = await connectClient(tb.url, { protocolVersion: 5 });
    const closed = waitFor(c, 'close');
    await tb.close();
    await closed;
    await expect(RawClient.open(tb.port)).rejects.toThrow(/ECONNREFUSED/);
    await closeClient(c, true);
  });
});
