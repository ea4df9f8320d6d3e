/** Strict payloads: a validator refuses before fan-out (MQTT 5: 0x99; MQTT 3.1.1: dropped and counted). */
import type { MqttClient } from 'mqtt';
import type { IPubackPacket } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { checkStrict } from '../../codecs/index.js';
import {
  closeClient,
  collect,
  connectClient,
  RawClient,
  startBroker,
  type TestBroker,
  until,
} from '../helpers.js';

let tb: TestBroker;
const clients: MqttClient[] = [];
const raws: RawClient[] = [];
afterEach(async () => {
  for (const r of raws.splice(0)) r.destroy();
  await Promise.all(clients.splice(0).map((c) => closeClient(c, true)));
  await tb.close();
});

// Topics below strict/ must carry valid SenML (JSON unless the content type says otherwise).
const payloadValidator = {
  validate(topic: string, contentType: string | undefined, payload: Buffer): string | null {
    if (!topic.startsWith('strict/')) return null;
    const r = checkStrict(contentType ?? 'application/senml+json', payload);
    return r.ok ? null : r.error.message;
  },
};

describe('payload validator', () => {
  it('refuses invalid SenML with PUBACK 0x99 for MQTT 5 and drops it for MQTT 3.1.1', async () => {
    tb = await startBroker({ payloadValidator });
    const sub = await connectClient(tb.url);
    clients.push(sub);
    await sub.subscribeAsync('#', { qos: 1 });
    const v5 = await RawClient.connected(tb.port, {}, 5);
    raws.push(v5);
    const publish = (topic: string, body: string, messageId: number) =>
      v5.send({
        cmd: 'publish',
        topic,
        payload: Buffer.from(body),
        qos: 1,
        messageId,
        dup: false,
        retain: false,
      });
    publish('strict/a', '[{"n":"temp","v":"hot"}]', 1);
    const refused = (await v5.next('puback')) as IPubackPacket;
    expect(refused.reasonCode).toBe(0x99);
    publish('strict/a', '[{"n":"temp","v":21.5}]', 2);
    expect(((await v5.next('puback')) as IPubackPacket).reasonCode ?? 0).toBe(0);
    publish('lax/a', 'not senml at all', 3);
    await v5.next('puback');

    const v4 = await connectClient(tb.url, { protocolVersion: 4 });
    clients.push(v4);
    await v4.publishAsync('strict/b', '{broken', { qos: 1 });
    await v4.publishAsync('strict/b', '[{"n":"ok","vb":true}]', { qos: 1 });
    await until(() => collect(sub).length === 3);
    expect(collect(sub).map((m) => m.topic)).toEqual(['strict/a', 'lax/a', 'strict/b']);
    expect(tb.broker.core.invalidPayloads).toBe(2);
  });
});
