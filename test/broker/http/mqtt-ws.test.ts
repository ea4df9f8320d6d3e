/** MQTT over WebSocket at /mqtt: mqtt.js v4/v5, subprotocols, framing, bad input, shutdown. */
import type { MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
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

async function wsClient(options: Parameters<typeof connectClient>[1] = {}): Promise<MqttClient> {
  const c = await connectClient(`${tb.wsBase}/mqtt`, options);
  clients.push(c);
  return c;
}

async function rawMqttWs(protocols: string[] = ['mqtt']): Promise<WsClient> {
  const c = await openWs(`${tb.wsBase}/mqtt`, {}, protocols);
  sockets.push(c);
  return c;
}

/** Packets decoded from everything a raw socket received so far. */
function packets(c: WsClient, version = 4): mqttPacket.Packet[] {
  const out: mqttPacket.Packet[] = [];
  const parser = mqttPacket.parser({ protocolVersion: version });
  parser.on('packet', (p: mqttPacket.Packet) => out.push(p));
  for (const m of c.received) parser.parse(m.data);
  return out;
}

const connect = (clientId: string, version = 4) =>
  mqttPacket.generate(
    {
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: version,
      clientId,
      clean: true,
      keepalive: 0,
    } as mqttPacket.IConnectPacket,
    { protocolVersion: version },
  );

describe('MQTT over WebSocket', () => {
  it('mqtt.js v4 and v5 over ws:// publish and subscribe with TCP clients, QoS 0-2, bytes intact', async () => {
    tb = await startHttpBroker();
    const v4 = await wsClient({ protocolVersion: 4, clientId: 'ws-v4' });
    const v5 = await wsClient({ protocolVersion: 5, clientId: 'ws-v5' });
    const tcp = await connectClient(tb.mqttUrl);
    clients.push(tcp);
    await v4.subscribeAsync('t/#', { qos: 2 });
    await v5.subscribeAsync('t/#', { qos: 1 });
    await tcp.publishAsync('t/0', ALL_BYTES, { qos: 0 });
    await tcp.publishAsync('t/1', ALL_BYTES, { qos: 1 });
    await tcp.publishAsync('t/2', ALL_BYTES, { qos: 2 });
    await v5.publishAsync('t/5', 'from v5', { qos: 1, properties: { contentType: 'text/plain' } });
    await until(() => collect(v4).length === 4 && collect(v5).length === 4);
    expect(collect(v4).map((m) => m.packet.qos)).toEqual([0, 1, 2, 1]);
    expect(collect(v5).map((m) => m.packet.qos)).toEqual([0, 1, 1, 1]);
    for (const m of [...collect(v4), ...collect(v5)].filter((x) => x.topic !== 't/5')) {
      expect(m.payload.equals(ALL_BYTES)).toBe(true);
    }
    expect(collect(v5).find((m) => m.topic === 't/5')!.packet.properties?.contentType).toBe('text/plain');
    expect(tb.broker.http!.connections.mqttWs).toBe(2);
    expect(tb.broker.stats().connections).toBe(3);
  });

  it('selects the mqtt subprotocol (mqttv3.1 for MQTT 3.1 clients) and refuses other offers', async () => {
    tb = await startHttpBroker();
    const both = await rawMqttWs(['mqttv3.1', 'mqtt']);
    expect(both.ws.protocol).toBe('mqtt');
    const legacy = await rawMqttWs(['mqttv3.1']);
    expect(legacy.ws.protocol).toBe('mqttv3.1');
    const v3 = await wsClient({ protocolVersion: 3, protocolId: 'MQIsdp', clientId: 'v3' });
    await v3.subscribeAsync('legacy');
    await v3.publishAsync('legacy', 'ok');
    await until(() => collect(v3).length === 1);
    await expect(openWs(`${tb.wsBase}/mqtt`, {}, ['foo'])).rejects.toMatchObject({ status: 400 });
    const plainGet = await fetch(`${tb.base}/mqtt`);
    expect(plainGet.status).toBe(426);
  });

  it('packets split across frames and several packets in one frame', async () => {
    tb = await startHttpBroker();
    const c = await rawMqttWs();
    const bytes = Buffer.concat([
      connect('split'),
      mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'f', qos: 0 }] }),
      mqttPacket.generate({
        cmd: 'publish',
        topic: 'f',
        payload: ALL_BYTES,
        qos: 0,
        dup: false,
        retain: false,
      }),
      mqttPacket.generate({ cmd: 'pingreq' }),
    ]);
    // One byte per frame for the first 40 bytes (as MQTT.js does for CONNECT), then the rest at once.
    for (let i = 0; i < 40; i++) c.ws.send(bytes.subarray(i, i + 1));
    c.ws.send(bytes.subarray(40));
    await until(() => packets(c).some((p) => p.cmd === 'pingresp'));
    const got = packets(c);
    expect(got.map((p) => p.cmd)).toEqual(['connack', 'suback', 'publish', 'pingresp']);
    expect(((got[2] as mqttPacket.IPublishPacket).payload as Buffer).equals(ALL_BYTES)).toBe(true);
  });

  it('garbage closes only that connection; a text frame too', async () => {
    tb = await startHttpBroker();
    const healthy = await wsClient({ clientId: 'healthy' });
    await healthy.subscribeAsync('alive');
    const garbage = await rawMqttWs();
    garbage.ws.send(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x01]));
    await closedWithin(garbage);
    const beforeConnect = await rawMqttWs();
    beforeConnect.ws.send(mqttPacket.generate({ cmd: 'pingreq' }));
    await closedWithin(beforeConnect);
    const text = await rawMqttWs();
    text.ws.send(connect('text').toString('latin1'), { binary: false });
    const closed = await closedWithin(text);
    expect(closed.code).toBe(1003);
    expect(tb.broker.stats().malformed).toBeGreaterThanOrEqual(2);
    await healthy.publishAsync('alive', 'yes', { qos: 1 });
    await until(() => collect(healthy).length === 1);
  });

  it('an abruptly dropped WebSocket publishes the will', async () => {
    tb = await startHttpBroker();
    const watcher = await wsClient();
    await watcher.subscribeAsync('wills/#');
    const c = await rawMqttWs();
    c.ws.send(
      mqttPacket.generate({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clientId: 'dying',
        clean: true,
        keepalive: 0,
        will: { topic: 'wills/dying', payload: Buffer.from('gone'), qos: 0, retain: false },
      } as mqttPacket.IConnectPacket),
    );
    await until(() => packets(c).length === 1);
    c.ws.terminate();
    await until(() => collect(watcher).length === 1);
    expect(collect(watcher)[0]!.payload.toString()).toBe('gone');
  });

  it('on shutdown MQTT 5 clients over WebSocket receive DISCONNECT 0x8B and close() resolves', async () => {
    tb = await startHttpBroker();
    const c = await rawMqttWs();
    c.ws.send(connect('v5-shutdown', 5));
    await until(() => packets(c, 5).length === 1);
    const closing = tb.broker.close();
    await closedWithin(c);
    await closing;
    const last = packets(c, 5).at(-1) as mqttPacket.IDisconnectPacket;
    expect(last.cmd).toBe('disconnect');
    expect(last.reasonCode).toBe(0x8b);
  });

  it('frames that arrive while CONNECT is being authenticated asynchronously are held and processed in order', async () => {
    tb = await startHttpBroker({
      authorizer: {
        authenticate: async () => {
          await new Promise((r) => setTimeout(r, 30));
          return { ok: true };
        },
        authorizePublish: async () => true,
        authorizeSubscribe: async () => true,
      },
    });
    const c = await rawMqttWs();
    c.ws.send(connect('held'));
    c.ws.send(
      mqttPacket.generate({ cmd: 'subscribe', messageId: 7, subscriptions: [{ topic: 'h', qos: 1 }] }),
    );
    for (let i = 0; i < 5; i++) {
      c.ws.send(
        mqttPacket.generate({
          cmd: 'publish',
          topic: 'h',
          payload: Buffer.from(`p${i}`),
          qos: 0,
          dup: false,
          retain: false,
        }),
      );
    }
    await until(() => packets(c).filter((p) => p.cmd === 'publish').length === 5);
    const got = packets(c);
    expect(got.slice(0, 2).map((p) => p.cmd)).toEqual(['connack', 'suback']);
    expect(
      got.filter((p) => p.cmd === 'publish').map((p) => (p as mqttPacket.IPublishPacket).payload.toString()),
    ).toEqual(['p0', 'p1', 'p2', 'p3', 'p4']);
  });
});
