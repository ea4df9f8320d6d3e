/** The UDP listener: IPv4, IPv6 and dual stack, port conflicts, and shutdown without leaked handles. */
import { createHook } from 'node:async_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { type Broker, createBroker } from '../../../broker/index.js';
import { run, waitFor } from '../../helpers.js';
import { RawCoapClient, uint } from './coap-helpers.js';

const brokers: Broker[] = [];
const raws: RawCoapClient[] = [];

async function listen(host: string, port = 0) {
  const broker = createBroker({ mqtt: false, coap: { port, host } });
  brokers.push(broker);
  const address = (await broker.listen()).coap!;
  return { broker, address };
}

async function publishFrom(port: number, host: string, type: 'udp4' | 'udp6') {
  const c = await RawCoapClient.open(port, host, type);
  raws.push(c);
  const sent = c.request('POST', '/channels/c1/messages?auth=s', { payload: Buffer.from(type) });
  return (await c.response(sent)).code;
}

afterEach(async () => {
  await Promise.all(raws.splice(0).map((r) => r.close()));
  await Promise.all(brokers.splice(0).map((b) => b.close()));
});

describe('CoAP UDP listener', () => {
  it('is off unless the coap option is given', async () => {
    const broker = createBroker({ mqtt: false });
    brokers.push(broker);
    expect(await broker.listen()).toEqual({});
    expect(broker.coap).toBeNull();
    const disabled = createBroker({ mqtt: false, coap: false });
    brokers.push(disabled);
    expect(disabled.coap).toBeNull();
  });

  it('serves IPv4 on 127.0.0.1', async () => {
    const { address } = await listen('127.0.0.1');
    expect(address.host).toBe('127.0.0.1');
    expect(address.port).toBeGreaterThan(0);
    expect(await publishFrom(address.port, '127.0.0.1', 'udp4')).toBe('2.04');
  });

  it('binds a host name (udp4)', async () => {
    const { address } = await listen('localhost');
    expect(address.host).toBe('127.0.0.1');
    expect(await publishFrom(address.port, '127.0.0.1', 'udp4')).toBe('2.04');
  });

  it('serves IPv6 on ::1', async () => {
    const { address } = await listen('::1');
    expect(address.host).toBe('::1');
    expect(await publishFrom(address.port, '::1', 'udp6')).toBe('2.04');
  });

  it('serves IPv4 and IPv6 peers on :: (dual stack)', async () => {
    const { broker, address } = await listen('::');
    const remotes: (string | undefined)[] = [];
    broker.on('message', (_m, client) => remotes.push(client?.remoteAddress));
    expect(await publishFrom(address.port, '127.0.0.1', 'udp4')).toBe('2.04');
    expect(await publishFrom(address.port, '::1', 'udp6')).toBe('2.04');
    expect(remotes).toEqual(['::ffff:127.0.0.1', '::1']);
  });

  it('coap-client-notls reaches it over IPv6', async () => {
    const { address } = await listen('::1');
    const r = await run('coap-client-notls', [
      '-B',
      '3',
      '-m',
      'post',
      '-e',
      'v6',
      `coap://[::1]:${address.port}/channels/c1/messages?auth=s`,
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).not.toMatch(/[45]\.\d\d/);
    expect(brokers[0]!.coap!.stats().published).toBe(1);
  });

  it('rejects listen() when the port is taken', async () => {
    const { address } = await listen('127.0.0.1');
    const second = createBroker({ mqtt: false, coap: { port: address.port, host: '127.0.0.1' } });
    brokers.push(second);
    await expect(second.listen()).rejects.toThrow(/EADDRINUSE/);
  });

  it('refuses invalid settings at construction', () => {
    expect(() => createBroker({ mqtt: false, coap: { blockSize: 1000 } })).toThrow(RangeError);
  });

  it('close() releases the socket and every timer, with observers and retransmissions in flight', async () => {
    // Track every UDP handle and timer created from here on; after close() each must be destroyed.
    const live = new Map<number, string>();
    const hook = createHook({
      init: (id, type) => {
        if (type === 'UDPWRAP' || type === 'Timeout') live.set(id, type);
      },
      destroy: (id) => live.delete(id),
    }).enable();
    try {
      const broker = createBroker({
        mqtt: false,
        coap: { port: 0, host: '127.0.0.1', observeConEvery: 1, separateResponseAfterMs: 1 },
        authorizer: {
          authenticate: (req) => (req.password?.toString() === 'slow' ? new Promise(() => {}) : { ok: true }), // never answers
          authorizePublish: () => true,
          authorizeSubscribe: () => true,
        },
      });
      brokers.push(broker);
      const port = (await broker.listen()).coap!.port;
      const client = await RawCoapClient.open(port);
      raws.push(client);
      const registered = waitFor(broker, 'subscribed');
      client.request('GET', '/channels/c1/messages?auth=s', {
        extraOptions: [{ name: 'Observe', value: uint(0) }],
      });
      await registered;
      broker.publish({ topic: 'channels/c1/messages', payload: 'unacknowledged' });
      const pending = client.request('POST', '/channels/c1/messages?auth=slow', {
        payload: Buffer.from('x'),
      });
      await client.next((p) => p.ack && p.code === '0.00' && p.messageId === pending.messageId);
      const stats = broker.coap!.stats();
      expect(stats.awaitingAck).toBe(1);
      expect(stats.observers).toBe(1);
      await client.close();
      await broker.close();
      // Destroy hooks run asynchronously after the handles close.
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
      expect([...live.values()]).toEqual([]);
      expect(broker.coap!.stats()).toMatchObject({ observers: 0, awaitingAck: 0, peers: 0 });
      expect(broker.stats().subscriptions).toBe(0);
    } finally {
      hook.disable();
    }
  });
});
