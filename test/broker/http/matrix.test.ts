/**
 * The cross-protocol matrix: a binary payload (every byte value) published over MQTT/TCP,
 * MQTT/WebSocket, HTTP and plain WebSocket arrives byte for byte over MQTT/TCP, MQTT/WebSocket,
 * plain WebSocket and SSE.
 */
import type { MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeClient, collect, connectClient, until } from '../../helpers.js';
import {
  ALL_BYTES,
  closeWs,
  curl,
  type HttpTestBroker,
  openWs,
  SseClient,
  startHttpBroker,
  type WsClient,
  withTempFile,
} from './http-helpers.js';

let tb: HttpTestBroker;
const clients: MqttClient[] = [];
const sockets: WsClient[] = [];
const streams: SseClient[] = [];

interface Receivers {
  mqttTcp: MqttClient;
  mqttWs: MqttClient;
  ws: WsClient;
  sse: SseClient;
}
let receivers: Receivers;

beforeEach(async () => {
  tb = await startHttpBroker();
  const mqttTcp = await connectClient(tb.mqttUrl, { clientId: 'rx-tcp' });
  const mqttWs = await connectClient(`${tb.wsBase}/mqtt`, { clientId: 'rx-ws', protocolVersion: 5 });
  clients.push(mqttTcp, mqttWs);
  await mqttTcp.subscribeAsync('channels/m/messages/#', { qos: 1 });
  await mqttWs.subscribeAsync('channels/m/messages/#', { qos: 1 });
  const ws = await openWs(`${tb.wsBase}/channels/m/messages/%23`);
  sockets.push(ws);
  const sse = new SseClient(tb.httpPort, '/channels/m/messages/%23');
  streams.push(sse);
  await sse.subscribed();
  receivers = { mqttTcp, mqttWs, ws, sse };
});

afterEach(async () => {
  for (const s of streams.splice(0)) s.close();
  await Promise.all(sockets.splice(0).map((s) => closeWs(s)));
  await Promise.all(clients.splice(0).map((c) => closeClient(c, true)));
  await tb.close();
});

type Publisher = (topic: string, payload: Buffer) => Promise<void>;

const publishers: Record<string, () => Promise<Publisher>> = {
  'MQTT/TCP': async () => {
    const c = await connectClient(tb.mqttUrl);
    clients.push(c);
    return async (topic, payload) => {
      await c.publishAsync(topic, payload, { qos: 1 });
    };
  },
  'MQTT/WebSocket': async () => {
    const c = await connectClient(`${tb.wsBase}/mqtt`);
    clients.push(c);
    return async (topic, payload) => {
      await c.publishAsync(topic, payload, { qos: 1 });
    };
  },
  HTTP: async () => async (topic, payload) => {
    const r = await fetch(`${tb.base}/${topic}`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: payload,
    });
    expect(r.status).toBe(202);
    await r.arrayBuffer();
  },
  WebSocket: async () => {
    const c = await openWs(`${tb.wsBase}/channels/m/messages/ws-pub`);
    sockets.push(c);
    return async (_topic, payload) => {
      c.ws.send(payload);
    };
  },
};

const topicOf: Record<string, string> = {
  'MQTT/TCP': 'channels/m/messages/tcp',
  'MQTT/WebSocket': 'channels/m/messages/mqtt-ws',
  HTTP: 'channels/m/messages/http',
  WebSocket: 'channels/m/messages/ws-pub',
};

describe('cross-protocol matrix', () => {
  it.each(Object.keys(publishers))(
    'published over %s: identical bytes over MQTT/TCP, MQTT/WS, WS and SSE',
    async (name) => {
      const publish = await publishers[name]!();
      const topic = topicOf[name]!;
      await publish(topic, ALL_BYTES);
      const { mqttTcp, mqttWs, ws, sse } = receivers;
      await until(
        () =>
          collect(mqttTcp).length === 1 &&
          collect(mqttWs).length === 1 &&
          ws.received.length === 1 &&
          sse.messages().length === 1,
        5000,
        `every receiver to get the message published over ${name}`,
      );
      for (const m of [collect(mqttTcp)[0]!, collect(mqttWs)[0]!]) {
        expect(m.topic).toBe(topic);
        expect(m.payload.equals(ALL_BYTES)).toBe(true);
      }
      expect(ws.received[0]!.isBinary).toBe(true);
      expect(ws.received[0]!.data.equals(ALL_BYTES)).toBe(true);
      expect(sse.messages()[0]!.topic).toBe(topic);
      expect(sse.messages()[0]!.payload.equals(ALL_BYTES)).toBe(true);
      if (name === 'HTTP') {
        // The HTTP Content-Type travels as the MQTT 5 content type, and into the SSE envelope.
        expect(collect(mqttWs)[0]!.packet.properties?.contentType).toBe('application/octet-stream');
        expect(sse.messages()[0]!.contentType).toBe('application/octet-stream');
      }
    },
  );

  it('curl publishes the same bytes as the others (a file upload)', async () => {
    const r = await withTempFile(ALL_BYTES, (file) =>
      curl(`${tb.base}/channels/m/messages/curl`, [
        '-H',
        'Content-Type: application/octet-stream',
        '--data-binary',
        `@${file}`,
      ]),
    );
    expect(r.status).toBe(202);
    expect(r.json!.deliveries).toBe(4);
    await until(() => receivers.ws.received.length === 1);
    expect(receivers.ws.received[0]!.data.equals(ALL_BYTES)).toBe(true);
  });
});
