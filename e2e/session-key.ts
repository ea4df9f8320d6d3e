import { type KeyObject, sign, verify } from 'node:crypto';
import { E2EError } from './errors.js';
import { ed25519PublicKey, RAW_KEY_LENGTH } from './keys.js';
import { SIGNATURE_LENGTH } from './megolm-message.js';
import { MegolmRatchet, RATCHET_LENGTH } from './ratchet.js';

/**
 * The two libolm formats that carry a Megolm ratchet to a reader:
 *
 * Session key (sharing, 229 bytes):
 *   0x02 | u32 BE index | ratchet[128] | Ed25519 public key[32] | Ed25519 signature[64]
 *   (signature by the session's own signing key over the first 165 bytes)
 *
 * Session export (backup/forwarding, 165 bytes):
 *   0x01 | u32 BE index | ratchet[128] | Ed25519 public key[32]    (no signature)
 *
 * libolm's megolm.md calls the export version 0x02, but libolm and vodozemac write 0x01; we follow the code.
 */

export const SESSION_KEY_VERSION = 0x02;
export const SESSION_EXPORT_VERSION = 0x01;
export const SESSION_EXPORT_LENGTH = 1 + 4 + RATCHET_LENGTH + RAW_KEY_LENGTH;
export const SESSION_KEY_LENGTH = SESSION_EXPORT_LENGTH + SIGNATURE_LENGTH;

/** What both formats carry. */
export interface SessionKeyContents {
  /** The ratchet, at `ratchet.counter` (the first index the reader can decrypt). */
  readonly ratchet: MegolmRatchet;
  /** The session's Ed25519 public key (its id, in base64). */
  readonly signingPublicKey: Buffer;
}

function encodeUnsigned(
  version: number,
  ratchet: MegolmRatchet,
  signingPublicKey: Uint8Array,
  length: number,
) {
  const out = Buffer.alloc(length);
  out[0] = version;
  out.writeUInt32BE(ratchet.counter, 1);
  ratchet.data.copy(out, 5);
  out.set(signingPublicKey, 5 + RATCHET_LENGTH);
  return out;
}

function decodeUnsigned(
  bytes: Uint8Array,
  version: number,
  length: number,
  what: string,
): SessionKeyContents {
  if (bytes.length !== length || bytes[0] !== version) {
    throw new E2EError('BAD_SESSION_KEY', `not a ${what} (version ${version}, ${length} bytes)`);
  }
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ratchet = new MegolmRatchet(Buffer.from(view.subarray(5, 5 + RATCHET_LENGTH)), view.readUInt32BE(1));
  const signingPublicKey = Buffer.from(view.subarray(5 + RATCHET_LENGTH, SESSION_EXPORT_LENGTH));
  return { ratchet, signingPublicKey };
}

/** The signed 229-byte session key for `ratchet`'s current index. */
export function encodeSessionKey(
  ratchet: MegolmRatchet,
  signingPublicKey: Uint8Array,
  signingKey: KeyObject,
): Buffer {
  const out = encodeUnsigned(SESSION_KEY_VERSION, ratchet, signingPublicKey, SESSION_KEY_LENGTH);
  sign(null, out.subarray(0, SESSION_EXPORT_LENGTH), signingKey).copy(out, SESSION_EXPORT_LENGTH);
  return out;
}

/** Parses a 229-byte session key and verifies its self-signature (BAD_SIGNATURE if it fails). */
export function decodeSessionKey(bytes: Uint8Array): SessionKeyContents {
  const contents = decodeUnsigned(bytes, SESSION_KEY_VERSION, SESSION_KEY_LENGTH, 'session key');
  const signed = bytes.subarray(0, SESSION_EXPORT_LENGTH);
  const signature = bytes.subarray(SESSION_EXPORT_LENGTH);
  if (!verify(null, signed, ed25519PublicKey(contents.signingPublicKey), signature)) {
    throw new E2EError('BAD_SIGNATURE', 'session key signature does not verify');
  }
  return contents;
}

/** The unsigned 165-byte session export for `ratchet`'s current index. */
export function encodeSessionExport(ratchet: MegolmRatchet, signingPublicKey: Uint8Array): Buffer {
  return encodeUnsigned(SESSION_EXPORT_VERSION, ratchet, signingPublicKey, SESSION_EXPORT_LENGTH);
}

/** Parses a 165-byte session export. Nothing authenticates it: trust comes from how it was obtained. */
export function decodeSessionExport(bytes: Uint8Array): SessionKeyContents {
  return decodeUnsigned(bytes, SESSION_EXPORT_VERSION, SESSION_EXPORT_LENGTH, 'session export');
}
