import { describe, expect, it } from 'vitest';
import { E2EConsumer } from '../../e2e/consumer.js';
import { E2E_CONTENT_TYPE, KEY_SHARE_CONTENT_TYPE } from '../../e2e/content-types.js';
import { type DeviceOptions, E2EDevice, type EncryptedTelemetry } from '../../e2e/device.js';
import { E2EError } from '../../e2e/errors.js';
import { openKeyShare, readKeyShareHeader, recipientKeyId, sealKeyShare } from '../../e2e/key-share.js';
import { ed25519PrivateKey, generateConsumerKeyPair, generateIdentityKeyPair } from '../../e2e/keys.js';
import { MegolmOutboundSession } from '../../e2e/outbound-session.js';
import { MemoryStateStore } from '../../e2e/state-store.js';

const CHANNEL = '6a1f0c3e-7d2b-4f0a-9c1e-2b3d4e5f6a7b';
const DEVICE = 'thermo-42';

function codeOf(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    if (error instanceof E2EError) return error.code;
    throw error;
  }
  return 'no error';
}

function setup(overrides: Partial<DeviceOptions> = {}) {
  const identity = generateIdentityKeyPair();
  const alice = generateConsumerKeyPair();
  const bob = generateConsumerKeyPair();
  const trusted = new Map([[DEVICE, identity.publicKey]]);
  const consumerA = new E2EConsumer({ privateKey: alice.privateKey, trustedDevices: trusted });
  const consumerB = new E2EConsumer({ privateKey: bob.privateKey, trustedDevices: trusted });
  const store = new MemoryStateStore();
  const options: DeviceOptions = {
    deviceId: DEVICE,
    channelId: CHANNEL,
    identityKey: identity.privateKey,
    recipients: [alice.publicKey, bob.publicKey],
    store,
    ...overrides,
  };
  return { identity, alice, bob, consumerA, consumerB, trusted, store, options };
}

/** Delivers key shares to whichever consumer the topic names, as a broker subscription would. */
function deliverKeyShares(result: EncryptedTelemetry, consumers: readonly E2EConsumer[]): void {
  for (const share of result.keyShares) {
    const target = consumers.find((consumer) => share.topic === consumer.keyShareTopic(CHANNEL));
    target?.acceptKeyShare(share.payload);
  }
}

describe('device and consumer SDKs', () => {
  it('round trip: key shares on per-consumer topics, then decryptable telemetry', async () => {
    const { consumerA, consumerB, options } = setup();
    const device = await E2EDevice.open(options);
    expect(device.sessionId).toBeUndefined();
    const first = await device.encrypt('{"n":"temp","v":21.5}', 'senml');
    expect(first.rotated).toBe('first-session');
    expect(first.message.topic).toBe(`channels/${CHANNEL}/messages/senml`);
    expect(first.message.contentType).toBe(E2E_CONTENT_TYPE);
    expect(first.keyShares.map((share) => share.topic).sort()).toEqual(
      [consumerA.keyShareTopic(CHANNEL), consumerB.keyShareTopic(CHANNEL)].sort(),
    );
    expect(consumerA.keyShareTopic(CHANNEL)).toBe(`channels/${CHANNEL}/messages/_keys/${consumerA.keyId}`);
    expect(consumerA.keyId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    for (const share of first.keyShares) {
      expect(share.contentType).toBe(KEY_SHARE_CONTENT_TYPE);
      expect(share.payload).toHaveLength(405 + DEVICE.length + CHANNEL.length);
    }
    deliverKeyShares(first, [consumerA, consumerB]);
    for (const consumer of [consumerA, consumerB]) {
      const decrypted = consumer.decrypt(first.message.payload, { channelId: CHANNEL, deviceId: DEVICE });
      expect(decrypted.plaintext.toString()).toBe('{"n":"temp","v":21.5}');
      expect(decrypted).toMatchObject({ deviceId: DEVICE, channelId: CHANNEL, messageIndex: 0 });
      expect(decrypted.sessionId).toBe(device.sessionId);
    }
    const second = await device.encrypt(new Uint8Array([1, 2, 3]));
    expect(second.keyShares).toHaveLength(0);
    expect(second.rotated).toBeUndefined();
    expect(second.messageIndex).toBe(1);
    expect(consumerA.decrypt(second.message.payload).plaintext).toEqual(Buffer.from([1, 2, 3]));
  });

  it('rejects replays and accepts reordering within the window', async () => {
    const { consumerA, options } = setup();
    const device = await E2EDevice.open(options);
    const results: EncryptedTelemetry[] = [];
    for (let i = 0; i < 5; i++) results.push(await device.encrypt(`r${i}`));
    deliverKeyShares(results[0]!, [consumerA]);
    const payloads = results.map((result) => result.message.payload);
    expect(consumerA.decrypt(payloads[0]!).messageIndex).toBe(0);
    expect(codeOf(() => consumerA.decrypt(payloads[0]!))).toBe('REPLAY');
    expect(consumerA.decrypt(payloads[3]!).messageIndex).toBe(3);
    expect(consumerA.decrypt(payloads[1]!).messageIndex).toBe(1);
    expect(codeOf(() => consumerA.decrypt(payloads[3]!))).toBe('REPLAY');
    expect(codeOf(() => consumerA.decrypt(payloads[1]!))).toBe('REPLAY');
  });

  it('a tampered payload is rejected at every byte and does not burn the genuine index', async () => {
    const { consumerA, options } = setup();
    const device = await E2EDevice.open(options);
    const result = await device.encrypt('x'.repeat(64));
    deliverKeyShares(result, [consumerA]);
    const payload = result.message.payload;
    for (let position = 0; position < payload.length; position++) {
      const altered = Buffer.from(payload);
      altered[position]! ^= 0x01;
      expect(
        codeOf(() => consumerA.decrypt(altered)),
        `byte ${position}`,
      ).not.toBe('no error');
    }
    expect(consumerA.decrypt(payload).plaintext.toString()).toBe('x'.repeat(64));
  });

  it('refuses payloads of unknown sessions and of the wrong channel or device', async () => {
    const { consumerA, options } = setup();
    const device = await E2EDevice.open(options);
    const result = await device.encrypt('reading');
    expect(codeOf(() => consumerA.decrypt(result.message.payload))).toBe('UNKNOWN_SESSION');
    deliverKeyShares(result, [consumerA]);
    expect(codeOf(() => consumerA.decrypt(result.message.payload, { channelId: 'other' }))).toBe(
      'CONTEXT_MISMATCH',
    );
    expect(codeOf(() => consumerA.decrypt(result.message.payload, { deviceId: 'other' }))).toBe(
      'CONTEXT_MISMATCH',
    );
    expect(codeOf(() => consumerA.decrypt(Buffer.from([2, 0, 0])))).toBe('BAD_PAYLOAD');
    expect(consumerA.decrypt(result.message.payload, { channelId: CHANNEL }).plaintext.toString()).toBe(
      'reading',
    );
  });

  describe('key-share envelopes', () => {
    it('round trip through sealKeyShare/openKeyShare; header is readable; wrong recipient key fails', () => {
      const identity = generateIdentityKeyPair();
      const alice = generateConsumerKeyPair();
      const mallory = generateConsumerKeyPair();
      const session = MegolmOutboundSession.create();
      const envelope = sealKeyShare({
        deviceId: DEVICE,
        channelId: CHANNEL,
        identityKey: ed25519PrivateKey(identity.privateKey),
        recipientPublicKey: alice.publicKey,
        sessionKey: session.sessionKey(),
        issuedAt: 1_700_000_000_000,
      });
      const header = readKeyShareHeader(envelope);
      expect(header).toMatchObject({
        deviceId: DEVICE,
        channelId: CHANNEL,
        firstIndex: 0,
        issuedAt: 1_700_000_000_000,
        recipientKeyId: recipientKeyId(alice.publicKey),
      });
      expect(header.sessionId).toEqual(session.sessionIdBytes);
      const deviceIdentity = (id: string) => (id === DEVICE ? identity.publicKey : undefined);
      const opened = openKeyShare(envelope, {
        recipientPrivateKey: alice.privateKey,
        recipientPublicKey: alice.publicKey,
        deviceIdentity,
      });
      expect(opened.sessionKey).toEqual(session.sessionKey());
      // Mallory, addressed by her own key id: not for her.
      expect(
        codeOf(() =>
          openKeyShare(envelope, {
            recipientPrivateKey: mallory.privateKey,
            recipientPublicKey: mallory.publicKey,
            deviceIdentity,
          }),
        ),
      ).toBe('WRONG_RECIPIENT');
      // Mallory claiming Alice's public key but holding only her own private key: HPKE open fails.
      expect(
        codeOf(() =>
          openKeyShare(envelope, {
            recipientPrivateKey: mallory.privateKey,
            recipientPublicKey: alice.publicKey,
            deviceIdentity,
          }),
        ),
      ).toBe('DECRYPTION_FAILED');
      expect(
        codeOf(() =>
          openKeyShare(envelope, {
            recipientPrivateKey: alice.privateKey,
            recipientPublicKey: alice.publicKey,
            deviceIdentity: () => undefined,
          }),
        ),
      ).toBe('UNTRUSTED_DEVICE');
      expect(
        codeOf(() =>
          openKeyShare(envelope, {
            recipientPrivateKey: alice.privateKey,
            recipientPublicKey: alice.publicKey,
            deviceIdentity: () => generateIdentityKeyPair().publicKey,
          }),
        ),
      ).toBe('BAD_SIGNATURE');
    });

    it('detects a change to any byte of an envelope', async () => {
      const { consumerA, options } = setup();
      const device = await E2EDevice.open(options);
      const result = await device.encrypt('reading');
      const envelope = result.keyShares.find(
        (share) => share.topic === consumerA.keyShareTopic(CHANNEL),
      )!.payload;
      const codes = new Set<string>();
      for (let position = 0; position < envelope.length; position++) {
        const altered = Buffer.from(envelope);
        altered[position]! ^= 0x01;
        const code = codeOf(() => consumerA.acceptKeyShare(altered));
        expect(code, `byte ${position}`).not.toBe('no error');
        codes.add(code);
      }
      expect(codes.has('BAD_SIGNATURE')).toBe(true);
      expect(consumerA.sessionCount).toBe(0);
      expect(consumerA.acceptKeyShare(envelope).status).toBe('added');
      expect(consumerA.decrypt(result.message.payload).plaintext.toString()).toBe('reading');
    });

    it('refuses envelopes from untrusted devices or signed by another key', async () => {
      const { consumerA, options } = setup();
      const impostor = await E2EDevice.open({
        ...options,
        identityKey: generateIdentityKeyPair().privateKey,
      });
      const forged = await impostor.encrypt('fake');
      const share = forged.keyShares.find((s) => s.topic === consumerA.keyShareTopic(CHANNEL))!;
      expect(codeOf(() => consumerA.acceptKeyShare(share.payload))).toBe('BAD_SIGNATURE');
      const stranger = await E2EDevice.open({
        ...options,
        deviceId: 'stranger',
        store: new MemoryStateStore(),
      });
      const strangerShare = (await stranger.encrypt('x')).keyShares.find(
        (s) => s.topic === consumerA.keyShareTopic(CHANNEL),
      )!;
      expect(codeOf(() => consumerA.acceptKeyShare(strangerShare.payload))).toBe('UNTRUSTED_DEVICE');
      expect(consumerA.sessionCount).toBe(0);
    });
  });

  describe('rotation', () => {
    it('starts a new session after maxMessages and shares it with every recipient', async () => {
      const { consumerA, consumerB, options } = setup({ rotation: { maxMessages: 3 } });
      const device = await E2EDevice.open(options);
      const results: EncryptedTelemetry[] = [];
      for (let i = 0; i < 7; i++) results.push(await device.encrypt(`m${i}`));
      expect(results.map((r) => r.rotated)).toEqual([
        'first-session',
        undefined,
        undefined,
        'messages',
        undefined,
        undefined,
        'messages',
      ]);
      expect(results.map((r) => r.messageIndex)).toEqual([0, 1, 2, 0, 1, 2, 0]);
      expect(new Set(results.map((r) => r.sessionId)).size).toBe(3);
      expect(results.map((r) => r.keyShares.length)).toEqual([2, 0, 0, 2, 0, 0, 2]);
      for (const result of results) {
        deliverKeyShares(result, [consumerA, consumerB]);
        expect(consumerA.decrypt(result.message.payload).plaintext.toString()).toBe(
          `m${results.indexOf(result)}`,
        );
        expect(consumerB.decrypt(result.message.payload).messageIndex).toBe(result.messageIndex);
      }
    });

    it('starts a new session after maxAgeMs (injected clock)', async () => {
      let now = 1_700_000_000_000;
      const { consumerA, options } = setup({ rotation: { maxAgeMs: 60_000 }, now: () => now });
      const device = await E2EDevice.open(options);
      const first = await device.encrypt('a');
      now += 59_999;
      const second = await device.encrypt('b');
      now += 1;
      const third = await device.encrypt('c');
      expect([first.rotated, second.rotated, third.rotated]).toEqual(['first-session', undefined, 'age']);
      expect(third.sessionId).not.toBe(first.sessionId);
      for (const result of [first, second, third]) {
        deliverKeyShares(result, [consumerA]);
        consumerA.decrypt(result.message.payload);
      }
    });

    it('a removed consumer gets no key for the new session and cannot read on', async () => {
      const { alice, consumerA, consumerB, options } = setup({ rotation: { maxMessages: 1000 } });
      const device = await E2EDevice.open(options);
      const before = await device.encrypt('shared with both');
      deliverKeyShares(before, [consumerA, consumerB]);
      expect(consumerB.decrypt(before.message.payload).plaintext.toString()).toBe('shared with both');

      device.setRecipients([alice.publicKey]);
      const after = await device.encrypt('alice only');
      expect(after.rotated).toBe('recipient-removed');
      expect(after.sessionId).not.toBe(before.sessionId);
      expect(after.keyShares.map((share) => share.topic)).toEqual([consumerA.keyShareTopic(CHANNEL)]);
      deliverKeyShares(after, [consumerA, consumerB]);
      expect(consumerA.decrypt(after.message.payload).plaintext.toString()).toBe('alice only');
      expect(codeOf(() => consumerB.decrypt(after.message.payload))).toBe('UNKNOWN_SESSION');
      // Nor does an old-session key help: the old session sends nothing more.
      expect(device.recipientKeyIds).toEqual([consumerA.keyId]);
    });

    it('an added consumer reads from the message its key share precedes, not before', async () => {
      const { alice, bob, consumerA, consumerB, options } = setup({ recipients: [] });
      const device = await E2EDevice.open({ ...options, recipients: [alice.publicKey] });
      const early = await device.encrypt('before bob');
      deliverKeyShares(early, [consumerA]);
      device.setRecipients([alice.publicKey, bob.publicKey]);
      const later = await device.encrypt('bob joins');
      expect(later.rotated).toBeUndefined();
      expect(later.keyShares.map((share) => share.topic)).toEqual([consumerB.keyShareTopic(CHANNEL)]);
      deliverKeyShares(later, [consumerA, consumerB]);
      expect(consumerB.decrypt(later.message.payload).messageIndex).toBe(1);
      expect(codeOf(() => consumerB.decrypt(early.message.payload))).toBe('UNKNOWN_MESSAGE_INDEX');
      expect(consumerA.decrypt(later.message.payload).plaintext.toString()).toBe('bob joins');
    });

    it('rotate() forces a new session', async () => {
      const { options } = setup();
      const device = await E2EDevice.open(options);
      const first = await device.encrypt('a');
      device.rotate();
      const second = await device.encrypt('b');
      expect(second.rotated).toBe('forced');
      expect(second.sessionId).not.toBe(first.sessionId);
    });
  });

  it('a device restarted with a different recipient list does not resume the saved session', async () => {
    const { alice, consumerA, consumerB, options } = setup();
    const device = await E2EDevice.open(options);
    const before = await device.encrypt('both');
    deliverKeyShares(before, [consumerA, consumerB]);
    // Bob is removed from the configuration while the device is down.
    const reopened = await E2EDevice.open({ ...options, recipients: [alice.publicKey] });
    expect(reopened.sessionId).toBeUndefined();
    const after = await reopened.encrypt('alice only');
    expect(after.rotated).toBe('recipients-changed');
    expect(after.sessionId).not.toBe(before.sessionId);
    expect(after.keyShares.map((share) => share.topic)).toEqual([consumerA.keyShareTopic(CHANNEL)]);
    deliverKeyShares(after, [consumerA, consumerB]);
    expect(consumerA.decrypt(after.message.payload).plaintext.toString()).toBe('alice only');
    expect(codeOf(() => consumerB.decrypt(after.message.payload))).toBe('UNKNOWN_SESSION');
  });

  describe('consumer session bookkeeping', () => {
    it('a replayed envelope of a forgotten session is stale and cannot resurrect it', async () => {
      const identity = generateIdentityKeyPair();
      const alice = generateConsumerKeyPair();
      const consumer = new E2EConsumer({
        privateKey: alice.privateKey,
        trustedDevices: new Map([[DEVICE, identity.publicKey]]),
        maxSessionsPerDevice: 1,
      });
      let now = 1_000;
      const device = await E2EDevice.open({
        deviceId: DEVICE,
        channelId: CHANNEL,
        identityKey: identity.privateKey,
        recipients: [alice.publicKey],
        store: new MemoryStateStore(),
        rotation: { maxMessages: 1 },
        now: () => now,
      });
      const first = await device.encrypt('one');
      now += 1_000;
      const second = await device.encrypt('two');
      deliverKeyShares(first, [consumer]);
      expect(consumer.decrypt(first.message.payload).plaintext.toString()).toBe('one');
      deliverKeyShares(second, [consumer]);
      expect(consumer.sessionCount).toBe(1);
      // The broker replays the first envelope, hoping to replay 'one' into a fresh window.
      expect(codeOf(() => consumer.acceptKeyShare(first.keyShares[0]!.payload))).toBe('STALE_KEY_SHARE');
      expect(codeOf(() => consumer.decrypt(first.message.payload))).toBe('UNKNOWN_SESSION');
      expect(consumer.decrypt(second.message.payload).plaintext.toString()).toBe('two');
    });

    it('key-share times stay increasing when the device clock steps back', async () => {
      let now = 5_000_000;
      const { consumerA, options } = setup({ rotation: { maxMessages: 1 }, now: () => now });
      const device = await E2EDevice.open(options);
      const first = await device.encrypt('one');
      now = 1_000; // clock reset (no RTC)
      const second = await device.encrypt('two');
      const times = [first, second].map((r) => readKeyShareHeader(r.keyShares[0]!.payload).issuedAt);
      expect(times[1]!).toBeGreaterThan(times[0]!);
      deliverKeyShares(first, [consumerA]);
      deliverKeyShares(second, [consumerA]);
      expect(consumerA.decrypt(second.message.payload).plaintext.toString()).toBe('two');
    });

    it('a restarted device resumes its session past every used index and re-shares its key', async () => {
      const { consumerA, consumerB, options, store } = setup();
      const device = await E2EDevice.open(options);
      const before: EncryptedTelemetry[] = [];
      for (let i = 0; i < 3; i++) before.push(await device.encrypt(`before ${i}`));
      deliverKeyShares(before[0]!, [consumerA]);
      // Crash; a new process opens the device from the same store.
      const reopened = await E2EDevice.open(options);
      expect(reopened.sessionId).toBe(device.sessionId);
      const after = await reopened.encrypt('after restart');
      expect(after.rotated).toBeUndefined();
      expect(after.messageIndex).toBe(3);
      expect(after.keyShares).toHaveLength(2);
      expect(store.saves).toBeGreaterThanOrEqual(4);
      for (const share of after.keyShares) {
        const target = [consumerA, consumerB].find((c) => share.topic === c.keyShareTopic(CHANNEL))!;
        expect(target.acceptKeyShare(share.payload).status).toBe(target === consumerA ? 'known' : 'added');
      }
      for (const result of before) consumerA.decrypt(result.message.payload);
      expect(consumerA.decrypt(after.message.payload).messageIndex).toBe(3);
      expect(consumerB.decrypt(after.message.payload).plaintext.toString()).toBe('after restart');
      expect(codeOf(() => consumerB.decrypt(before[2]!.message.payload))).toBe('UNKNOWN_MESSAGE_INDEX');
    });
  });
});
