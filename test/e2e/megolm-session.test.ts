import { createHmac, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeBase64, encodeBase64 } from '../../e2e/base64.js';
import { E2EError } from '../../e2e/errors.js';
import { MegolmInboundSession } from '../../e2e/inbound-session.js';
import { ed25519PrivateKey, generateIdentityKeyPair } from '../../e2e/keys.js';
import { cbcCiphertextLength, deriveMessageKeys, encryptInto } from '../../e2e/megolm-cipher.js';
import { messageLength } from '../../e2e/megolm-message.js';
import { MegolmOutboundSession } from '../../e2e/outbound-session.js';
import { MAX_MESSAGE_INDEX, MegolmRatchet } from '../../e2e/ratchet.js';
import { hex, loadMegolmVectors } from './megolm-vectors.js';

const vectors = loadMegolmVectors();
const session1 = vectors.sessions[0]!;
const reading64 = Buffer.from('{"n":"urn:dev:ow:10e2073a0108006:temp","u":"Cel","v":23.125,"t":0}').subarray(
  0,
  64,
);

function codeOf(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    if (error instanceof E2EError) return error.code;
    throw error;
  }
  return 'no error';
}

function vectorOutbound(): MegolmOutboundSession {
  return MegolmOutboundSession.fromSecrets({
    ratchet: hex(session1.ratchet_hex),
    signingSeed: hex(session1.ed25519_seed_hex),
  });
}

/** Builds a signed message with an arbitrary protobuf body, MAC'd with the ratchet at `index`. */
function craftMessage(body: Buffer, index: number, signingSeed: Buffer): Buffer {
  const ratchet = new MegolmRatchet(hex(session1.ratchet_hex), 0);
  ratchet.advanceTo(index);
  const keys = deriveMessageKeys(ratchet.data);
  const macInput = Buffer.concat([Buffer.from([0x03]), body]);
  const mac = createHmac('sha256', keys.hmacKey).update(macInput).digest().subarray(0, 8);
  const signed = Buffer.concat([macInput, mac]);
  return Buffer.concat([signed, sign(null, signed, ed25519PrivateKey(signingSeed))]);
}

function ciphertextFor(index: number, plaintext: Buffer): Buffer {
  const ratchet = new MegolmRatchet(hex(session1.ratchet_hex), 0);
  ratchet.advanceTo(index);
  const out = Buffer.alloc(cbcCiphertextLength(plaintext.length));
  encryptInto(deriveMessageKeys(ratchet.data), plaintext, out, 0);
  return out;
}

describe('Megolm sessions', () => {
  it('round-trips a 64-byte reading; message size follows the documented formula', async () => {
    const outbound = MegolmOutboundSession.create();
    const inbound = MegolmInboundSession.fromSessionKey(outbound.sessionKey());
    expect(inbound.sessionId).toBe(outbound.sessionId);
    const message = await outbound.encrypt(reading64);
    expect(message).toHaveLength(messageLength(0, 80));
    expect(message).toHaveLength(1 + 2 + 1 + 1 + 80 + 8 + 64);
    const result = inbound.decrypt(message);
    expect(result.messageIndex).toBe(0);
    expect(result.plaintext).toEqual(reading64);
  });

  describe('tampering with any byte is detected', () => {
    it.each([
      ['libolm vector message (session 1, index 1)', decodeBase64(session1.messages[1]!.ciphertext_b64)],
      ['the vector’s SenML message (index 0)', decodeBase64(session1.messages[0]!.ciphertext_b64)],
    ])('%s', (_, message) => {
      const inbound = MegolmInboundSession.fromSessionKey(session1.session_key_index0);
      const seen = new Set<string>();
      for (let position = 0; position < message.length; position++) {
        for (const mask of [0x01, 0x80, 0xff]) {
          const altered = Buffer.from(message);
          altered[position]! ^= mask;
          const code = codeOf(() => inbound.decrypt(altered));
          expect(code, `byte ${position} ^ ${mask}`).not.toBe('no error');
          seen.add(code);
        }
      }
      // Header damage is a format/version error; anything else breaks the signature, which is checked
      // before the index and the MAC, so no altered message ever reaches decryption.
      expect([...seen].sort()).toEqual(['BAD_MESSAGE_FORMAT', 'BAD_MESSAGE_VERSION', 'BAD_SIGNATURE']);
      for (let length = 0; length < message.length; length++) {
        expect(
          codeOf(() => inbound.decrypt(message.subarray(0, length))),
          `truncated to ${length}`,
        ).not.toBe('no error');
      }
      expect(codeOf(() => inbound.decrypt(Buffer.concat([message, Buffer.from([0])])))).not.toBe('no error');
      // The failures left the session intact.
      expect(inbound.decrypt(message).plaintext.length).toBeGreaterThanOrEqual(0);
    });

    it('a fresh 64-byte reading, tampered in MAC, ciphertext and signature regions', async () => {
      const outbound = MegolmOutboundSession.create();
      const inbound = MegolmInboundSession.fromSessionKey(outbound.sessionKey());
      const message = await outbound.encrypt(reading64);
      for (let position = 0; position < message.length; position++) {
        const altered = Buffer.from(message);
        altered[position]! ^= 0x01;
        expect(
          codeOf(() => inbound.decrypt(altered)),
          `byte ${position}`,
        ).not.toBe('no error');
      }
      expect(inbound.decrypt(message).plaintext).toEqual(reading64);
    });
  });

  it('a reader holding the ratchet cannot impersonate the device: a valid MAC with another signature fails', () => {
    const inbound = MegolmInboundSession.fromSessionKey(session1.session_key_index0);
    const ciphertext = ciphertextFor(0, Buffer.from('forged reading'));
    const body = Buffer.concat([Buffer.from([0x08, 0x00, 0x12, ciphertext.length]), ciphertext]);
    const forger = generateIdentityKeyPair();
    expect(codeOf(() => inbound.decrypt(craftMessage(body, 0, Buffer.from(forger.privateKey))))).toBe(
      'BAD_SIGNATURE',
    );
    // The same bytes signed by the session key are accepted: only the signature made the difference.
    const genuine = craftMessage(body, 0, hex(session1.ed25519_seed_hex));
    expect(inbound.decrypt(genuine).plaintext.toString()).toBe('forged reading');
  });

  it('parses fields in any order and skips unknown fields; both fields are required', () => {
    const seed = hex(session1.ed25519_seed_hex);
    const ciphertext = ciphertextFor(3, Buffer.from('reordered'));
    const reordered = Buffer.concat([
      Buffer.from([0x12, ciphertext.length]),
      ciphertext,
      Buffer.from([0x18, 0x96, 0x01]), // field 3, varint: unknown
      Buffer.from([0x22, 0x02, 0xaa, 0xbb]), // field 4, bytes: unknown
      Buffer.from([0x08, 0x03]),
    ]);
    const inbound = MegolmInboundSession.fromSessionKey(session1.session_key_index0);
    const result = inbound.decrypt(craftMessage(reordered, 3, seed));
    expect(result.messageIndex).toBe(3);
    expect(result.plaintext.toString()).toBe('reordered');

    const noIndex = Buffer.concat([Buffer.from([0x12, ciphertext.length]), ciphertext]);
    expect(codeOf(() => inbound.decrypt(craftMessage(noIndex, 3, seed)))).toBe('BAD_MESSAGE_FORMAT');
    expect(codeOf(() => inbound.decrypt(craftMessage(Buffer.from([0x08, 0x03]), 3, seed)))).toBe(
      'BAD_MESSAGE_FORMAT',
    );
    const overrun = Buffer.from([0x08, 0x03, 0x12, 0x7f, 0x00]);
    expect(codeOf(() => inbound.decrypt(craftMessage(overrun, 3, seed)))).toBe('BAD_MESSAGE_FORMAT');
    const bigIndex = Buffer.concat([
      Buffer.from([0x08, 0x80, 0x80, 0x80, 0x80, 0x10]), // 2^32
      Buffer.from([0x12, ciphertext.length]),
      ciphertext,
    ]);
    expect(codeOf(() => inbound.decrypt(craftMessage(bigIndex, 3, seed)))).toBe('BAD_MESSAGE_FORMAT');
  });

  it('a wrong MAC under a valid signature is BAD_MESSAGE_MAC (the signer is trusted, not the MAC)', () => {
    const ciphertext = ciphertextFor(2, Buffer.from('x'));
    const body = Buffer.concat([Buffer.from([0x08, 0x02, 0x12, ciphertext.length]), ciphertext]);
    const inbound = MegolmInboundSession.fromSessionKey(session1.session_key_index0);
    // MAC'd with the keys of index 2 but claiming index 3.
    const claimed = Buffer.concat([Buffer.from([0x08, 0x03, 0x12, ciphertext.length]), ciphertext]);
    const good = craftMessage(body, 2, hex(session1.ed25519_seed_hex));
    const wrongIndex = craftMessage(claimed, 2, hex(session1.ed25519_seed_hex));
    expect(inbound.decrypt(good).plaintext.toString()).toBe('x');
    expect(codeOf(() => inbound.decrypt(wrongIndex))).toBe('BAD_MESSAGE_MAC');
  });

  it('decrypts only from the first known index onward', async () => {
    const outbound = vectorOutbound();
    const messages: Buffer[] = [];
    for (let i = 0; i < 8; i++) messages.push(await outbound.encrypt(`reading ${i}`));
    const full = MegolmInboundSession.fromSessionKey(session1.session_key_index0);
    const late = MegolmInboundSession.fromExport(full.exportAt(5));
    expect(late.firstKnownIndex).toBe(5);
    for (let i = 0; i < 8; i++) {
      if (i < 5) {
        expect(codeOf(() => late.decrypt(messages[i]!))).toBe('UNKNOWN_MESSAGE_INDEX');
      } else {
        expect(late.decrypt(messages[i]!).plaintext.toString()).toBe(`reading ${i}`);
      }
    }
    expect(codeOf(() => late.exportAt(4))).toBe('UNKNOWN_MESSAGE_INDEX');
    // A session key shared after 5 messages has the same limit.
    const sharedLate = MegolmOutboundSession.fromSecrets({
      ratchet: hex(session1.ratchet_hex),
      signingSeed: hex(session1.ed25519_seed_hex),
    });
    for (let i = 0; i < 5; i++) await sharedLate.encrypt('');
    const inbound = MegolmInboundSession.fromSessionKey(sharedLate.sessionKey());
    expect(inbound.firstKnownIndex).toBe(5);
    expect(codeOf(() => inbound.decrypt(messages[4]!))).toBe('UNKNOWN_MESSAGE_INDEX');
    expect(inbound.decrypt(messages[6]!).messageIndex).toBe(6);
  });

  it('decrypts out of order (the latest-ratchet cache never moves backwards)', async () => {
    const outbound = MegolmOutboundSession.create();
    const inbound = MegolmInboundSession.fromSessionKey(outbound.sessionKey());
    const messages: Buffer[] = [];
    for (let i = 0; i < 300; i++) messages.push(await outbound.encrypt(`m${i}`));
    for (const i of [299, 3, 256, 255, 0, 298, 299, 1]) {
      expect(inbound.decrypt(messages[i]!).plaintext.toString()).toBe(`m${i}`);
    }
  });

  it('jumps 2^24 indices and stops before the counter would wrap', async () => {
    const ratchet = new MegolmRatchet(hex(vectors.ratchet_advance.initial_ratchet_hex), 0);
    const point = vectors.ratchet_advance.points.find((p) => p.index === 16777216)!;
    ratchet.advanceTo(2 ** 24);
    expect(ratchet.data.toString('hex')).toBe(point.ratchet_hex);

    const nearEnd = MegolmOutboundSession.fromSecrets({
      ratchet: hex(session1.ratchet_hex),
      signingSeed: hex(session1.ed25519_seed_hex),
      index: MAX_MESSAGE_INDEX - 1,
    });
    const inbound = MegolmInboundSession.fromSessionKey(nearEnd.sessionKey());
    const last = await nearEnd.encrypt('last');
    expect(inbound.decrypt(last).messageIndex).toBe(MAX_MESSAGE_INDEX - 1);
    await expect(nearEnd.encrypt('one too many')).rejects.toMatchObject({ code: 'SESSION_EXHAUSTED' });
  });

  it('advanceTo across the u32 wrap equals single steps (libolm counter arithmetic)', () => {
    const stepped = new MegolmRatchet(hex(session1.ratchet_hex), MAX_MESSAGE_INDEX - 1);
    const jumped = new MegolmRatchet(hex(session1.ratchet_hex), MAX_MESSAGE_INDEX - 1);
    for (let i = 0; i < 3; i++) stepped.advance();
    expect(stepped.counter).toBe(1);
    jumped.advanceTo(1);
    expect(jumped.counter).toBe(1);
    expect(jumped.data).toEqual(stepped.data);

    // A target below the counter with the same top byte means a full 2^32 turn (R0 rehashed 256 times).
    const around = new MegolmRatchet(hex(session1.ratchet_hex), 0x0100_0010);
    const viaEnd = new MegolmRatchet(hex(session1.ratchet_hex), 0x0100_0010);
    around.advanceTo(0x0100_0005);
    viaEnd.advanceTo(MAX_MESSAGE_INDEX);
    viaEnd.advance();
    expect(viaEnd.counter).toBe(0);
    viaEnd.advanceTo(0x0100_0005);
    expect(around.counter).toBe(0x0100_0005);
    expect(around.data).toEqual(viaEnd.data);
  });

  it('accepts only unpadded standard base64 for keys and messages', () => {
    const key = session1.session_key_index0;
    expect(MegolmInboundSession.fromSessionKey(key).sessionId).toBe(session1.session_id);
    expect(codeOf(() => MegolmInboundSession.fromSessionKey(`${key}=`))).toBe('BAD_BASE64');
    expect(
      codeOf(() => MegolmInboundSession.fromSessionKey(key.replaceAll('+', '-').replaceAll('/', '_'))),
    ).toBe('BAD_BASE64');
    expect(codeOf(() => MegolmInboundSession.fromSessionKey(key.slice(0, -1)))).not.toBe('no error');
    expect(codeOf(() => decodeBase64('QQ'))).toBe('no error');
    expect(codeOf(() => decodeBase64('QR'))).toBe('BAD_BASE64'); // non-zero trailing bits
    expect(encodeBase64(decodeBase64(session1.messages[0]!.ciphertext_b64))).toBe(
      session1.messages[0]!.ciphertext_b64,
    );
  });

  it('refuses a v1 export as a session key and a v2 session key as an export', () => {
    const full = MegolmInboundSession.fromSessionKey(session1.session_key_index0);
    const exported = full.exportAt(0);
    expect(codeOf(() => MegolmInboundSession.fromSessionKey(exported))).toBe('BAD_SESSION_KEY');
    expect(codeOf(() => MegolmInboundSession.fromExport(session1.session_key_index0))).toBe(
      'BAD_SESSION_KEY',
    );
  });
});
