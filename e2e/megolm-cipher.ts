import { createCipheriv, createDecipheriv, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { E2EError } from './errors.js';

/**
 * The per-message cipher of Megolm (`m.megolm.v1.aes-sha2`): the 128-byte ratchet value is expanded
 * with HKDF-SHA-256 (empty salt, info "MEGOLM_KEYS") into an AES-256 key, an HMAC-SHA-256 key and a
 * CBC IV; the payload is AES-256-CBC with PKCS#7 padding and is authenticated by the first 8 bytes
 * of an HMAC-SHA-256.
 *
 * The IV is derived, not random: the same ratchet value must never encrypt two messages.
 */

export const MAC_LENGTH = 8;
const AES_KEY_LENGTH = 32;
const HMAC_KEY_LENGTH = 32;
const IV_LENGTH = 16;
const DERIVED_LENGTH = AES_KEY_LENGTH + HMAC_KEY_LENGTH + IV_LENGTH;
const HKDF_INFO = Buffer.from('MEGOLM_KEYS', 'latin1');
// libolm passes a NULL salt; HMAC zero-pads keys, so an empty salt gives the same PRK.
const EMPTY_SALT = Buffer.alloc(0);

/** The three keys of one message, views into one 80-byte buffer. */
export interface MessageKeys {
  readonly aesKey: Buffer;
  readonly hmacKey: Buffer;
  readonly iv: Buffer;
}

/** HKDF-SHA-256(salt "", IKM = ratchet, info "MEGOLM_KEYS", 80) split 32 / 32 / 16. */
export function deriveMessageKeys(ratchet: Uint8Array): MessageKeys {
  const okm = Buffer.from(hkdfSync('sha256', ratchet, EMPTY_SALT, HKDF_INFO, DERIVED_LENGTH));
  return {
    aesKey: okm.subarray(0, AES_KEY_LENGTH),
    hmacKey: okm.subarray(AES_KEY_LENGTH, AES_KEY_LENGTH + HMAC_KEY_LENGTH),
    iv: okm.subarray(AES_KEY_LENGTH + HMAC_KEY_LENGTH),
  };
}

/** AES-256-CBC-PKCS#7 ciphertext length for a plaintext of `length` bytes (always ≥ 16). */
export function cbcCiphertextLength(length: number): number {
  return 16 * (Math.floor(length / 16) + 1);
}

/** Encrypts `plaintext` into `out` at `offset`; returns the number of bytes written. */
export function encryptInto(keys: MessageKeys, plaintext: Uint8Array, out: Buffer, offset: number): number {
  const cipher = createCipheriv('aes-256-cbc', keys.aesKey, keys.iv);
  const head = cipher.update(plaintext);
  const tail = cipher.final();
  head.copy(out, offset);
  tail.copy(out, offset + head.length);
  return head.length + tail.length;
}

/** Decrypts and unpads; a padding failure surfaces as BAD_DECRYPTION. */
export function decrypt(keys: MessageKeys, ciphertext: Uint8Array): Buffer {
  if (ciphertext.length === 0 || ciphertext.length % 16 !== 0) {
    throw new E2EError('BAD_DECRYPTION', 'ciphertext is not a whole number of AES blocks');
  }
  try {
    const decipher = createDecipheriv('aes-256-cbc', keys.aesKey, keys.iv);
    const head = decipher.update(ciphertext);
    const tail = decipher.final();
    return tail.length === 0 ? head : Buffer.concat([head, tail]);
  } catch (cause) {
    throw new E2EError('BAD_DECRYPTION', 'AES-CBC padding is invalid', { cause });
  }
}

/** Writes the 8-byte truncated HMAC of `data` into `out` at `offset`. */
export function macInto(keys: MessageKeys, data: Uint8Array, out: Buffer, offset: number): void {
  createHmac('sha256', keys.hmacKey).update(data).digest().copy(out, offset, 0, MAC_LENGTH);
}

/** Constant-time check of an 8-byte truncated HMAC. */
export function verifyMac(keys: MessageKeys, data: Uint8Array, mac: Uint8Array): boolean {
  if (mac.length !== MAC_LENGTH) return false;
  const expected = createHmac('sha256', keys.hmacKey).update(data).digest().subarray(0, MAC_LENGTH);
  return timingSafeEqual(expected, mac);
}
