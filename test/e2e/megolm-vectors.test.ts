import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeBase64, encodeBase64 } from '../../e2e/base64.js';
import { E2EError } from '../../e2e/errors.js';
import { MegolmInboundSession } from '../../e2e/inbound-session.js';
import { deriveMessageKeys } from '../../e2e/megolm-cipher.js';
import { parseMessage } from '../../e2e/megolm-message.js';
import { MegolmOutboundSession } from '../../e2e/outbound-session.js';
import { MegolmRatchet } from '../../e2e/ratchet.js';
import { ReplayWindow } from '../../e2e/replay-window.js';
import { decodeSessionExport, decodeSessionKey, encodeSessionExport } from '../../e2e/session-key.js';
import { hex, loadMegolmVectors, type VectorSession } from './megolm-vectors.js';

const vectors = loadMegolmVectors();

function drbg(label: string, length: number): Buffer {
  const blocks: Buffer[] = [];
  for (let i = 0; blocks.length * 32 < length; i++) {
    blocks.push(createHash('sha256').update(`${label}:${i}`, 'utf8').digest());
  }
  return Buffer.concat(blocks).subarray(0, length);
}

function outboundFrom(session: VectorSession): MegolmOutboundSession {
  return MegolmOutboundSession.fromSecrets({
    ratchet: hex(session.ratchet_hex),
    signingSeed: hex(session.ed25519_seed_hex),
  });
}

/** Plaintext for every index up to the last listed one (unlisted indices were encrypted from ""). */
function plaintextsOf(session: VectorSession): string[] {
  const last = session.messages.at(-1)!.message_index;
  const plaintexts = new Array<string>(last + 1).fill('');
  for (const message of session.messages) plaintexts[message.message_index] = message.plaintext_utf8;
  return plaintexts;
}

function errorCodeOf(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    if (error instanceof E2EError) return error.code;
    throw error;
  }
  return 'no error';
}

describe('Megolm test vectors (libolm 3.2.15)', () => {
  it('loads the expected vector file', () => {
    expect(vectors.generator.libolm).toBe('3.2.15');
    expect(vectors.sessions).toHaveLength(2);
    expect(vectors.ratchet_advance.points).toHaveLength(18);
    expect(vectors.negative).toHaveLength(10);
  });

  describe.each(vectors.sessions.map((session) => [session.label, session] as const))(
    'session %s',
    (_, session) => {
      it('derives the ratchet and Ed25519 seed from the documented DRBG', () => {
        const bytes = drbg(session.label, 160);
        expect(bytes.subarray(0, 128).toString('hex')).toBe(session.ratchet_hex);
        expect(bytes.subarray(128).toString('hex')).toBe(session.ed25519_seed_hex);
      });

      it('has the session id and index-0 session key of libolm', () => {
        const outbound = outboundFrom(session);
        expect(outbound.sessionId).toBe(session.session_id);
        expect(outbound.sessionId).toBe(session.ed25519_public_b64);
        expect(outbound.messageIndex).toBe(0);
        expect(encodeBase64(outbound.sessionKey())).toBe(session.session_key_index0);
      });

      it('encrypts every listed message byte for byte and ends at the same session key', async () => {
        const outbound = outboundFrom(session);
        const plaintexts = plaintextsOf(session);
        const produced: string[] = [];
        for (const plaintext of plaintexts) produced.push(encodeBase64(await outbound.encrypt(plaintext)));
        for (const message of session.messages) {
          expect(produced[message.message_index]).toBe(message.ciphertext_b64);
        }
        expect(outbound.messageIndex).toBe(session.session_key_after.message_index);
        expect(encodeBase64(outbound.sessionKey())).toBe(session.session_key_after.session_key);
      });

      it('derives the same per-message AES key, HMAC key and IV', () => {
        const ratchet = new MegolmRatchet(hex(session.ratchet_hex), 0);
        for (const message of session.messages) {
          ratchet.advanceTo(message.message_index);
          const keys = deriveMessageKeys(ratchet.data);
          expect(keys.aesKey.toString('hex')).toBe(message.derived.aes_key_hex);
          expect(keys.hmacKey.toString('hex')).toBe(message.derived.hmac_key_hex);
          expect(keys.iv.toString('hex')).toBe(message.derived.iv_hex);
        }
      });

      it('parses every message into the documented parts', () => {
        for (const message of session.messages) {
          const bytes = decodeBase64(message.ciphertext_b64);
          const parsed = parseMessage(bytes);
          expect(bytes[0]).toBe(message.decoded.version);
          expect(parsed.index).toBe(message.message_index);
          expect(parsed.macInput.subarray(1).toString('hex')).toBe(message.decoded.payload_hex);
          expect(parsed.ciphertext.toString('hex')).toBe(message.decoded.aes_cbc_ciphertext_hex);
          expect(parsed.mac.toString('hex')).toBe(message.decoded.mac8_hex);
          expect(parsed.signature.toString('hex')).toBe(message.decoded.signature_hex);
        }
      });

      it('decrypts every message from the index-0 session key, in order and in reverse', () => {
        const inOrder = MegolmInboundSession.fromSessionKey(session.session_key_index0);
        expect(inOrder.sessionId).toBe(session.session_id);
        expect(inOrder.firstKnownIndex).toBe(0);
        for (const message of session.messages) {
          const result = inOrder.decrypt(message.ciphertext_b64);
          expect(result.messageIndex).toBe(message.message_index);
          expect(result.plaintext.toString('utf8')).toBe(message.plaintext_utf8);
        }
        const reversed = MegolmInboundSession.fromSessionKey(session.session_key_index0);
        for (const message of [...session.messages].reverse()) {
          expect(reversed.decrypt(message.ciphertext_b64).plaintext.toString('utf8')).toBe(
            message.plaintext_utf8,
          );
        }
      });

      it('decrypts from the final session key only messages at or after its index', () => {
        const inbound = MegolmInboundSession.fromSessionKey(session.session_key_after.session_key);
        expect(inbound.firstKnownIndex).toBe(session.session_key_after.message_index);
        for (const message of session.messages) {
          expect(errorCodeOf(() => inbound.decrypt(message.ciphertext_b64))).toBe('UNKNOWN_MESSAGE_INDEX');
        }
      });

      it.each(session.exports.map((entry) => [entry.message_index, entry] as const))(
        'export at index %i: produced byte for byte, imports, reads only from its index on',
        (index, entry) => {
          const full = MegolmInboundSession.fromSessionKey(session.session_key_index0);
          expect(encodeBase64(full.exportAt(index))).toBe(entry.exported_b64);

          const decoded = decodeSessionExport(decodeBase64(entry.exported_b64));
          expect(decoded.ratchet.counter).toBe(index);
          expect(encodeBase64(encodeSessionExport(decoded.ratchet, decoded.signingPublicKey))).toBe(
            entry.exported_b64,
          );

          const imported = MegolmInboundSession.fromExport(entry.exported_b64);
          expect(imported.firstKnownIndex).toBe(index);
          expect(imported.sessionId).toBe(session.session_id);
          expect(imported.signatureVerified).toBe(false);
          for (const message of session.messages) {
            if (message.message_index >= index) {
              expect(imported.decrypt(message.ciphertext_b64).plaintext.toString('utf8')).toBe(
                message.plaintext_utf8,
              );
              expect(imported.signatureVerified).toBe(true);
            } else {
              expect(errorCodeOf(() => imported.decrypt(message.ciphertext_b64))).toBe(
                'UNKNOWN_MESSAGE_INDEX',
              );
            }
          }
        },
      );
    },
  );

  describe('ratchet_advance checkpoints', () => {
    const advance = vectors.ratchet_advance;
    const points = advance.points.map((point) => [point.index, point.ratchet_hex] as const);

    it.each(points)('advanceTo(%i) from the initial ratchet', (index, ratchetHex) => {
      const ratchet = new MegolmRatchet(hex(advance.initial_ratchet_hex), advance.initial_index);
      ratchet.advanceTo(index);
      expect(ratchet.counter).toBe(index);
      expect(ratchet.data.toString('hex')).toBe(ratchetHex);
    });

    it('reaches every checkpoint when advanced from the previous one', () => {
      const ratchet = new MegolmRatchet(hex(advance.initial_ratchet_hex), advance.initial_index);
      for (const [index, ratchetHex] of points) {
        ratchet.advanceTo(index);
        expect(ratchet.data.toString('hex')).toBe(ratchetHex);
      }
    });

    it('single steps agree with advanceTo up to index 65792 (crossing R1 and R2 boundaries)', () => {
      const stepped = new MegolmRatchet(hex(advance.initial_ratchet_hex), 0);
      const expected = new Map(advance.points.map((point) => [point.index, point.ratchet_hex]));
      let checked = 0;
      while (stepped.counter < 65792) {
        stepped.advance();
        const want = expected.get(stepped.counter);
        if (want !== undefined) {
          expect(stepped.data.toString('hex')).toBe(want);
          checked++;
        }
      }
      expect(checked).toBe(11);
    });

    it.each(points)('an inbound session exports libolm’s ratchet at index %i', (index, ratchetHex) => {
      const initial = new MegolmRatchet(hex(advance.initial_ratchet_hex), advance.initial_index);
      const inbound = MegolmInboundSession.fromExport(
        encodeSessionExport(initial, decodeBase64(advance.ed25519_public_b64)),
      );
      const exported = decodeSessionExport(inbound.exportAt(index));
      expect(exported.ratchet.counter).toBe(index);
      expect(exported.ratchet.data.toString('hex')).toBe(ratchetHex);
    });
  });

  describe('negative cases', () => {
    const cases = vectors.negative.map((entry) => [entry.name, entry] as const);

    it.each(cases)('%s', (name, entry) => {
      const expected = entry.libolm_error.startsWith('OLM.') ? entry.libolm_error.slice(4) : 'REPLAY';
      if (entry.ciphertext_b64 === undefined) {
        expect(entry.session_key).toBeDefined();
        expect(errorCodeOf(() => MegolmInboundSession.fromSessionKey(entry.session_key!))).toBe(expected);
        expect(errorCodeOf(() => decodeSessionKey(decodeBase64(entry.session_key!)))).toBe(expected);
        return;
      }
      const inbound =
        entry.import_export_b64 !== undefined
          ? MegolmInboundSession.fromExport(entry.import_export_b64)
          : MegolmInboundSession.fromSessionKey(entry.session_key!);
      if (expected !== 'REPLAY') {
        expect(errorCodeOf(() => inbound.decrypt(entry.ciphertext_b64!))).toBe(expected);
        return;
      }
      // libolm (and we, at the library level) decrypt a replay again; the application rejects it.
      expect(name).toMatch(/replay/);
      const replayWindow = new ReplayWindow();
      const first = inbound.decrypt(entry.ciphertext_b64);
      replayWindow.record(first.messageIndex);
      const second = inbound.decrypt(entry.ciphertext_b64);
      expect(second.plaintext).toEqual(first.plaintext);
      expect(errorCodeOf(() => replayWindow.record(second.messageIndex))).toBe('REPLAY');
    });
  });
});
