/**
 * End-to-end encrypted telemetry in one process: a device encrypts SenML readings for two consumers,
 * an in-memory "broker" forwards the bytes untouched, the consumers decrypt. Then one consumer is
 * removed and the device rotates.
 *
 *   npx tsx examples/e2e/telemetry.ts
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  E2E_CONTENT_TYPE,
  E2EConsumer,
  E2EDevice,
  type EncryptedTelemetry,
  FileStateStore,
  generateConsumerKeyPair,
  generateIdentityKeyPair,
  isE2EError,
  type Publication,
} from '../../e2e/index.js';

const CHANNEL = 'c0ffee00-0000-4000-8000-000000000001';
const DEVICE = 'boiler-7';

/** Stands in for the broker: it sees topics, content types and ciphertext, and forwards them. */
class ForwardingBroker {
  readonly #subscriptions: [filter: string, handler: (publication: Publication) => void][] = [];

  subscribe(filter: string, handler: (publication: Publication) => void): void {
    this.#subscriptions.push([filter, handler]);
  }

  publish(publication: Publication): void {
    for (const [filter, handler] of this.#subscriptions) {
      const prefix = filter.endsWith('/#') ? filter.slice(0, -2) : undefined;
      const matches =
        filter === publication.topic || (prefix !== undefined && publication.topic.startsWith(prefix));
      if (matches) handler(publication);
    }
  }
}

async function main(): Promise<void> {
  const dataDirectory = await mkdtemp(join(tmpdir(), 'omap-e2e-example-'));
  try {
    // Provisioning: the device's identity key is enrolled with the platform; consumers publish X25519 keys.
    const deviceIdentity = generateIdentityKeyPair();
    const trustedDevices = new Map([[DEVICE, deviceIdentity.publicKey]]);
    const aliceKeys = generateConsumerKeyPair();
    const bobKeys = generateConsumerKeyPair();
    const alice = new E2EConsumer({ privateKey: aliceKeys.privateKey, trustedDevices });
    const bob = new E2EConsumer({ privateKey: bobKeys.privateKey, trustedDevices });

    const broker = new ForwardingBroker();
    for (const [name, consumer] of [
      ['alice', alice],
      ['bob', bob],
    ] as const) {
      broker.subscribe(consumer.keyShareTopic(CHANNEL), (share) => {
        const accepted = consumer.acceptKeyShare(share.payload);
        console.log(
          `${name}: key share for session ${accepted.sessionId.slice(0, 8)}… from index ${accepted.firstIndex}`,
        );
      });
      broker.subscribe(`channels/${CHANNEL}/messages/senml/#`, (message) => {
        if (message.contentType !== E2E_CONTENT_TYPE) return;
        try {
          const reading = consumer.decrypt(message.payload, { channelId: CHANNEL, deviceId: DEVICE });
          console.log(`${name}: #${reading.messageIndex} ${reading.plaintext.toString('utf8')}`);
        } catch (error) {
          if (!isE2EError(error)) throw error;
          console.log(`${name}: cannot read (${error.code})`);
        }
      });
    }

    const device = await E2EDevice.open({
      deviceId: DEVICE,
      channelId: CHANNEL,
      identityKey: deviceIdentity.privateKey,
      recipients: [aliceKeys.publicKey, bobKeys.publicKey],
      store: new FileStateStore(join(dataDirectory, `${DEVICE}.megolm`)),
      rotation: { maxMessages: 100, maxAgeMs: 60 * 60 * 1000 },
    });

    const send = (result: EncryptedTelemetry): void => {
      // Key shares first, so that consumers hold the key when the message arrives.
      for (const share of result.keyShares) broker.publish(share);
      broker.publish(result.message);
    };

    for (const temperature of [61.5, 62.0]) {
      send(
        await device.encrypt(
          JSON.stringify([{ n: `urn:dev:${DEVICE}:temp`, u: 'Cel', v: temperature }]),
          'senml/temp',
        ),
      );
    }

    console.log('-- bob is removed: the next message starts a new session, shared with alice only');
    device.setRecipients([aliceKeys.publicKey]);
    const afterRemoval = await device.encrypt(
      JSON.stringify([{ n: `urn:dev:${DEVICE}:temp`, u: 'Cel', v: 63.5 }]),
      'senml/temp',
    );
    console.log(`rotated: ${afterRemoval.rotated}, key shares: ${afterRemoval.keyShares.length}`);
    send(afterRemoval);
  } finally {
    await rm(dataDirectory, { recursive: true, force: true });
  }
}

await main();
