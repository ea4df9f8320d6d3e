import { randomBytes } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  closeClient,
  collect,
  connectClient,
  RawClient,
  startBroker,
  type TestBroker,
  until,
} from '../../helpers.js';

let tb: TestBroker;
const clients: MqttClient[] = [];
const raws: RawClient[] = [];
async function raw(connect = {}) {
  const c = await RawClient.connected(tb.port, connect);
  raws.push(c);
  return c;
}
async function rawOpen() {
  const c = await RawClient.open(tb.port);
  raws.push(c);
  return c;
}

beforeEach(async () => {
  tb = await startBroker({ limits: { maxPacketSize: 4096, connectTimeoutMs: 300, sweepIntervalMs: 50 } });
});
afterEach(async () => {
  for (const r of raws.splice(0)) r.destroy();
  await Promise.all(clients.splice(0).map((c) => closeClient(c, true)));
  await tb.close();
});

/** The broker still works for a well-behaved client after whatever the test did. */
async function brokerStillServes() {
  const c = await connectClient(tb.url);
  clients.push(c);
  await c.subscribeAsync('alive', { qos: 1 });
  await c.publishAsync('alive', 'yes', { qos: 1 });
  await until(() => collect(c).length === 1);
}

describe('bad input closes only the offending connection', () => {
  it('a packet before CONNECT', async () => {
    const c = await rawOpen();
    c.send({ cmd: 'pingreq' });
    await c.whenClosed();
    await brokerStillServes();
  });

  it('a second CONNECT', async () => {
    const c = await raw({ clientId: 'twice' });
    c.send({ cmd: 'connect', clientId: 'twice', protocolVersion: 4, keepalive: 0, clean: true });
    await c.whenClosed();
    expect(tb.broker.stats().malformed).toBe(1);
  });

  it('a PUBLISH with a wildcard, an invalid UTF-8 topic, QoS 3, packet id 0', async () => {
    const wildcard = await raw();
    wildcard.send({
      cmd: 'publish',
      topic: 'a/#',
      payload: Buffer.from('x'),
      qos: 0,
      dup: false,
      retain: false,
    });
    await wildcard.whenClosed();

    const utf8 = await raw();
    utf8.write(Buffer.from([0x30, 5, 0, 2, 0xc3, 0x28, 0x78])); // topic bytes C3 28 are ill-formed
    await utf8.whenClosed();

    const qos3 = await raw();
    qos3.write(Buffer.from([0x36, 5, 0, 1, 0x61, 0, 1]));
    await qos3.whenClosed();

    const zeroId = await raw();
    zeroId.write(Buffer.from([0x32, 5, 0, 1, 0x61, 0, 0]));
    await zeroId.whenClosed();
    expect(tb.broker.stats().malformed).toBe(4);
    await brokerStillServes();
  });

  it('a PUBREL with the wrong fixed-header flags', async () => {
    const c = await raw();
    c.write(Buffer.from([0x60, 2, 0, 1])); // PUBREL must carry flags 0010
    await c.whenClosed();
    expect(tb.broker.stats().malformed).toBe(1);
  });

  it('a malformed remaining length', async () => {
    const c = await raw();
    c.write(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]));
    await c.whenClosed();
    await brokerStillServes();
  });

  it('an oversized packet, refused from its header before the body is sent', async () => {
    const c = await raw();
    // Announce a 1 MiB PUBLISH but send only the first bytes: the broker must not wait for the rest.
    const header = Buffer.from([0x30, 0x80, 0x80, 0x40, 0, 1, 0x61]);
    c.write(header);
    await c.whenClosed();
    expect(tb.broker.stats().tooLarge).toBe(1);
    await brokerStillServes();
  });

  it('a packet split into single bytes is still understood', async () => {
    const sub = await connectClient(tb.url);
    clients.push(sub);
    await sub.subscribeAsync('split', { qos: 0 });
    const c = await rawOpen();
    const bytes = Buffer.concat([
      mqttPacket.generate({
        cmd: 'connect',
        clientId: 'bytes',
        protocolVersion: 4,
        keepalive: 0,
        clean: true,
      }),
      mqttPacket.generate({
        cmd: 'publish',
        topic: 'split',
        payload: Buffer.alloc(300, 1),
        qos: 0,
        dup: false,
        retain: false,
      }),
    ]);
    for (const b of bytes) c.write(Buffer.from([b]));
    await until(() => collect(sub).length === 1);
    expect(collect(sub)[0]!.payload.length).toBe(300);
  });

  it('a socket that never sends CONNECT is closed after the connect timeout', async () => {
    const c = await rawOpen();
    await c.whenClosed(3000);
    expect(tb.broker.stats().connectTimeouts).toBe(1);
  });

  it('random bytes after CONNECT and instead of CONNECT never crash the broker', async () => {
    for (let i = 0; i < 40; i++) {
      const c = i % 2 === 0 ? await rawOpen() : await raw();
      c.write(randomBytes(1 + ((i * 37) % 600)));
      c.destroy();
    }
    await brokerStillServes();
  });
});
