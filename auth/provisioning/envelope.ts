/**
 * The provisioning envelope: what the platform sends a device that registers (or asks for a new
 * secret), encrypted so that only a holder of the second half of the registration key (or of the
 * device's current secret) can read it, and bound to the device's serial number.
 *
 *   offset  length  field
 *   0       1       version, 0x01
 *   1       16      salt (random per envelope)
 *   17      12      nonce (random per envelope)
 *   29      n       ciphertext (AES-256-GCM)
 *   29+n    16      GCM authentication tag
 *
 *   key  = HKDF-SHA256(ikm = UTF-8 of the secret (the key's second half, or the current thing secret),
 *                      salt = the 16 salt bytes, info = UTF-8 "omap-provisioning-v1" (+ ":" + purpose), L = 32)
 *   aad  = bytes 0..28 of the envelope (version, salt, nonce) followed by the UTF-8 serial number
 *   plaintext = UTF-8 JSON {"thingId": "...", "channelId": "...", "secret": "..."}
 *
 * The device-side reference (devices/provisioning-client.ts) repeats `openEnvelope` with node:crypto
 * only, so firmware authors can read it in one place.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

export const ENVELOPE_VERSION = 0x01;
export const SALT_BYTES = 16;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const HEADER_BYTES = 1 + SALT_BYTES + NONCE_BYTES;

/** What the key protecting an envelope is: the registration key's secret half, or the device's current secret. */
export type EnvelopePurpose = 'registration' | 'reprovision';

export const HKDF_INFO: Readonly<Record<EnvelopePurpose, string>> = Object.freeze({
  registration: 'omap-provisioning-v1:registration',
  reprovision: 'omap-provisioning-v1:reprovision',
});

export interface EnvelopeContent {
  thingId: string;
  channelId: string;
  secret: string;
}

function deriveKey(secret: string, salt: Buffer, purpose: EnvelopePurpose): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), salt, HKDF_INFO[purpose], 32));
}

function aad(header: Buffer, serial: string): Buffer {
  return Buffer.concat([header, Buffer.from(serial, 'utf8')]);
}

/** Encrypts `content` for the device `serial` under `secret`. */
export function sealEnvelope(
  secret: string,
  serial: string,
  content: EnvelopeContent,
  purpose: EnvelopePurpose = 'registration',
): Buffer {
  const salt = randomBytes(SALT_BYTES);
  const nonce = randomBytes(NONCE_BYTES);
  const header = Buffer.concat([Buffer.from([ENVELOPE_VERSION]), salt, nonce]);
  const cipher = createCipheriv('aes-256-gcm', deriveKey(secret, salt, purpose), nonce, {
    authTagLength: TAG_BYTES,
  });
  cipher.setAAD(aad(header, serial));
  const plaintext = Buffer.from(JSON.stringify(content), 'utf8');
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([header, ciphertext, cipher.getAuthTag()]);
}

/** Decrypts an envelope (the server side uses it only in tests; devices use their own copy). */
export function openEnvelope(
  secret: string,
  serial: string,
  envelope: Uint8Array,
  purpose: EnvelopePurpose = 'registration',
): EnvelopeContent {
  const bytes = Buffer.from(envelope);
  if (bytes.length < HEADER_BYTES + TAG_BYTES) throw new Error('envelope too short');
  if (bytes[0] !== ENVELOPE_VERSION) throw new Error(`unsupported envelope version ${bytes[0]}`);
  const header = bytes.subarray(0, HEADER_BYTES);
  const salt = bytes.subarray(1, 1 + SALT_BYTES);
  const nonce = bytes.subarray(1 + SALT_BYTES, HEADER_BYTES);
  const tag = bytes.subarray(bytes.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', deriveKey(secret, salt, purpose), nonce, {
    authTagLength: TAG_BYTES,
  });
  decipher.setAAD(aad(header, serial));
  decipher.setAuthTag(tag);
  const plaintext = Buffer.concat([
    decipher.update(bytes.subarray(HEADER_BYTES, bytes.length - TAG_BYTES)),
    decipher.final(),
  ]);
  return JSON.parse(plaintext.toString('utf8')) as EnvelopeContent;
}
