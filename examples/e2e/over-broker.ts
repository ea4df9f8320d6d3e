/**
 * End-to-end encrypted telemetry through a real OMAP broker:
 * - a device publishes Megolm-encrypted SenML readings over MQTT (TCP), key shares first;
 * - a consumer subscribed over a plain WebSocket unwraps its key share and decrypts the readings;
 * - an eavesdropper subscribed to the same channel over MQTT (as the platform itself could) sees
 *   only ciphertext.
 *
 *   npx tsx examples/e2e/over-broker.ts
 *
 * The broker starts in-process on free loopback ports and stops at the end.
 */
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { createBroker } from '../../broker/index.js';
import {
  E2E_CONTENT_TYPE,
  E2EConsumer,
  E2EDevice,
  generateConsumerKeyPair,
  generateIdentityKeyPair,
  isE2EError,
  KEY_SHARE_CONTENT_TYPE,
  MemoryStateStore,
} from '../../e2e/index.js';

const CHANNEL = 'c0ffee00-0000-4000-8000-000000000002';
const DEVICE = 'meter-12';
const READINGS = [1520.25, 1520.75, 1521.5];

const broker = createBroker({ mqtt: { port: 0 }, http: { port: 0 } });
const { mqtt: mqttAddress, http: httpAddress } = await broker.listen();

// The consumer (the bank in the seed's pay-per-use story) holds an X25519 key pair; the device knows
// its public key and the consumer trusts the device's identity key (both from a registry).
const identity = generateIdentityKeyPair();
const bankKeys = generateConsumerKeyPair();
const bank = new E2EConsumer({
  privateKey: bankKeys.privateKey,
  trustedDevices: new Map([[DEVICE, identity.publicKey]]),
});

const decrypted: number[] = [];
const done = new Promise<void>((resolve, reject) => {
  const url = `ws://127.0.0.1:${httpAddress!.port}/channels/${CHANNEL}/messages/%23?format=envelope`;
  const ws = new WebSocket(url);
  ws.on('error', reject);
  ws.on('message', (data) => {
    const envelope = JSON.parse(data.toString()) as { topic: string; contentType?: string; payload: string };
    const payload = Buffer.from(envelope.payload, 'base64');
    if (envelope.contentType === KEY_SHARE_CONTENT_TYPE) {
      // Key shares for other consumers are on their own subtopics; this one is addressed to us.
      if (envelope.topic !== bank.keyShareTopic(CHANNEL)) return;
      const share = bank.acceptKeyShare(payload);
      console.log(`consumer: key share accepted for session ${share.sessionId.slice(0, 8)}…`);
    } else if (envelope.contentType === E2E_CONTENT_TYPE) {
      const reading = bank.decrypt(payload, { channelId: CHANNEL, deviceId: DEVICE });
      const [record] = JSON.parse(reading.plaintext.toString('utf8')) as { v: number }[];
      decrypted.push(record!.v);
      console.log(`consumer: decrypted reading #${reading.messageIndex}: ${record!.v} kWh`);
      if (decrypted.length === READINGS.length) {
        ws.close();
        resolve();
      }
    }
  });
  ws.on('open', () => void start());
});

// Whoever runs the platform can subscribe too, and sees bytes it cannot read.
const eavesdropper = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttAddress!.port}`, { protocolVersion: 5 });
await eavesdropper.subscribeAsync(`channels/${CHANNEL}/messages/#`, { qos: 1 });
eavesdropper.on('message', (topic, payload, packet) => {
  if (packet.properties?.contentType !== E2E_CONTENT_TYPE) return;
  const looksLikeSenML = payload.toString('utf8').includes('"v"');
  let readable = false;
  try {
    new E2EConsumer({ privateKey: generateConsumerKeyPair().privateKey, trustedDevices: new Map() }).decrypt(
      payload,
    );
    readable = true;
  } catch (error) {
    if (!isE2EError(error)) throw error;
  }
  console.log(
    `eavesdropper: ${topic} ${payload.length} bytes of ciphertext (readable: ${readable || looksLikeSenML})`,
  );
});

async function start(): Promise<void> {
  const device = await E2EDevice.open({
    deviceId: DEVICE,
    channelId: CHANNEL,
    identityKey: identity.privateKey,
    recipients: [bankKeys.publicKey],
    store: new MemoryStateStore(),
  });
  const link = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttAddress!.port}`, {
    protocolVersion: 5,
    clientId: DEVICE,
  });
  for (const kwh of READINGS) {
    const result = await device.encrypt(
      JSON.stringify([{ n: `urn:dev:${DEVICE}:energy`, u: 'kWh', v: kwh }]),
      'energy',
    );
    for (const p of [...result.keyShares, result.message]) {
      await link.publishAsync(p.topic, p.payload, { qos: 1, properties: { contentType: p.contentType } });
    }
  }
  await link.endAsync();
}

await done;
await eavesdropper.endAsync();
await broker.close();
console.log(`done: ${decrypted.join(', ')}`);
