import { createHash, type KeyObject, sign, verify } from 'node:crypto';
import { encodeBase64Url } from './base64.js';
import { E2EError } from './errors.js';
import {
  HPKE_ENC_LENGTH,
  HPKE_TAG_LENGTH,
  type HpkeSenderOptions,
  hpkeOpenBase,
  hpkeSealBase,
} from './hpke.js';
import { ed25519PublicKey, RAW_KEY_LENGTH } from './keys.js';
import { SIGNATURE_LENGTH } from './megolm-message.js';
import { decodeSessionKey, SESSION_KEY_LENGTH } from './session-key.js';

/**
 * The key-share envelope: a Megolm session key sealed to one consumer's X25519 key with HPKE and
 * signed by the device's Ed25519 identity key. No handshake: the device needs only the consumer's
 * public key, the consumer only the device's identity public key.
 *
 * Binary layout, version 1 (integers big-endian):
 *
 *   offset   size  field
 *   0        1     version 0x01
 *   1        1     suite 0x01: HPKE base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM;
 *                  Ed25519 signature
 *   2        8     issuedAt, u64 ms since the Unix epoch (monotonic per device)
 *   10       16    recipient key id: SHA-256(recipient X25519 public key)[0..16)
 *   26       32    Megolm session id (Ed25519 public key, raw)
 *   58       4     first index: u32 index of the enclosed session key
 *   62       1     d = length of the device id (1..255)
 *   63       d     device id, UTF-8
 *   63+d     1     c = length of the channel id (1..255)
 *   64+d     c     channel id, UTF-8
 *   H=64+d+c       (bytes [0, H) are the header, used as HPKE AAD)
 *   H        32    HPKE enc (ephemeral X25519 public key)
 *   H+32     245   HPKE ciphertext: the 229-byte Megolm session key (format 0x02) + 16-byte GCM tag
 *   H+277    64    Ed25519 signature by the device identity key over
 *                  "OMAP-E2E-KEYSHARE-v1-SIG" ‖ 0x00 ‖ bytes [0, H+277)
 *
 * Total 405 + d + c bytes. HPKE info is "OMAP-E2E-KEYSHARE-v1". The header is authenticated twice:
 * by the AEAD (so a recipient cannot be fooled into another context) and by the signature (so only
 * the enrolled device can have produced it; HPKE base mode authenticates no sender).
 */

export const KEY_SHARE_VERSION = 0x01;
export const KEY_SHARE_SUITE = 0x01;
export const RECIPIENT_KEY_ID_LENGTH = 16;
const HPKE_INFO = Buffer.from('OMAP-E2E-KEYSHARE-v1', 'latin1');
const SIGNATURE_CONTEXT = Buffer.from('OMAP-E2E-KEYSHARE-v1-SIG\u0000', 'latin1');
const FIXED_HEADER_LENGTH = 62;
const CIPHERTEXT_LENGTH = SESSION_KEY_LENGTH + HPKE_TAG_LENGTH;
const MIN_LENGTH = FIXED_HEADER_LENGTH + 4 + HPKE_ENC_LENGTH + CIPHERTEXT_LENGTH + SIGNATURE_LENGTH;

/** The 16-byte id of a consumer's X25519 public key (SHA-256 prefix). */
export function recipientKeyIdBytes(recipientPublicKey: Uint8Array): Buffer {
  if (recipientPublicKey.length !== RAW_KEY_LENGTH)
    throw new E2EError('BAD_KEY', 'X25519 public key must be 32 bytes');
  return createHash('sha256').update(recipientPublicKey).digest().subarray(0, RECIPIENT_KEY_ID_LENGTH);
}

/** The topic-safe form (base64url, 22 characters) of a recipient key id. */
export function recipientKeyId(recipientPublicKey: Uint8Array): string {
  return encodeBase64Url(recipientKeyIdBytes(recipientPublicKey));
}

/** The cleartext header of an envelope. */
export interface KeyShareHeader {
  readonly issuedAt: number;
  /** base64url recipient key id (as in the topic). */
  readonly recipientKeyId: string;
  /** Megolm session id, raw. */
  readonly sessionId: Buffer;
  readonly firstIndex: number;
  readonly deviceId: string;
  readonly channelId: string;
}

export interface SealKeyShareInput {
  readonly deviceId: string;
  readonly channelId: string;
  /** The device's Ed25519 identity signing key. */
  readonly identityKey: KeyObject;
  /** The consumer's X25519 public key, raw. */
  readonly recipientPublicKey: Uint8Array;
  /** The 229-byte Megolm session key to share. */
  readonly sessionKey: Uint8Array;
  readonly issuedAt: number;
  /** HPKE options; only tests fix the ephemeral key. */
  readonly hpke?: HpkeSenderOptions;
}

function encodeId(value: string, what: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length < 1 || bytes.length > 255)
    throw new E2EError('INVALID_ARGUMENT', `${what} must be 1..255 UTF-8 bytes`);
  return bytes;
}

/** Builds, seals and signs an envelope. */
export function sealKeyShare(input: SealKeyShareInput): Buffer {
  if (input.sessionKey.length !== SESSION_KEY_LENGTH) {
    throw new E2EError('INVALID_ARGUMENT', `session key must be ${SESSION_KEY_LENGTH} bytes`);
  }
  if (!Number.isSafeInteger(input.issuedAt) || input.issuedAt < 0) {
    throw new E2EError('INVALID_ARGUMENT', 'issuedAt must be a non-negative integer');
  }
  const sessionKey = Buffer.from(
    input.sessionKey.buffer,
    input.sessionKey.byteOffset,
    input.sessionKey.byteLength,
  );
  const deviceId = encodeId(input.deviceId, 'device id');
  const channelId = encodeId(input.channelId, 'channel id');
  const fixed = Buffer.alloc(FIXED_HEADER_LENGTH);
  fixed[0] = KEY_SHARE_VERSION;
  fixed[1] = KEY_SHARE_SUITE;
  fixed.writeBigUInt64BE(BigInt(input.issuedAt), 2);
  recipientKeyIdBytes(input.recipientPublicKey).copy(fixed, 10);
  // Session id and first index come from the session key itself, so header and content cannot disagree.
  sessionKey.copy(fixed, 26, 5 + 128, 5 + 128 + RAW_KEY_LENGTH);
  sessionKey.copy(fixed, 58, 1, 5);
  const header = Buffer.concat([
    fixed,
    Buffer.from([deviceId.length]),
    deviceId,
    Buffer.from([channelId.length]),
    channelId,
  ]);
  const { enc, ciphertext } = hpkeSealBase(
    input.recipientPublicKey,
    HPKE_INFO,
    header,
    sessionKey,
    input.hpke,
  );
  const unsigned = Buffer.concat([header, enc, ciphertext]);
  const signature = sign(null, Buffer.concat([SIGNATURE_CONTEXT, unsigned]), input.identityKey);
  return Buffer.concat([unsigned, signature]);
}

interface ParsedEnvelope {
  readonly header: KeyShareHeader;
  readonly headerBytes: Buffer;
  readonly enc: Buffer;
  readonly ciphertext: Buffer;
  readonly signed: Buffer;
  readonly signature: Buffer;
}

function parseEnvelope(input: Uint8Array): ParsedEnvelope {
  const bytes = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (bytes.length < MIN_LENGTH) throw new E2EError('BAD_ENVELOPE', 'key share too short');
  if (bytes[0] !== KEY_SHARE_VERSION)
    throw new E2EError('BAD_ENVELOPE', `unknown key share version ${bytes[0]}`);
  if (bytes[1] !== KEY_SHARE_SUITE) throw new E2EError('BAD_ENVELOPE', `unknown key share suite ${bytes[1]}`);
  const deviceIdLength = bytes[FIXED_HEADER_LENGTH]!;
  const channelOffset = FIXED_HEADER_LENGTH + 1 + deviceIdLength;
  const channelIdLength = bytes[channelOffset] ?? 0;
  const headerLength = channelOffset + 1 + channelIdLength;
  if (deviceIdLength === 0 || channelIdLength === 0)
    throw new E2EError('BAD_ENVELOPE', 'empty device or channel id');
  if (bytes.length !== headerLength + HPKE_ENC_LENGTH + CIPHERTEXT_LENGTH + SIGNATURE_LENGTH) {
    throw new E2EError('BAD_ENVELOPE', 'key share length does not match its header');
  }
  const issuedAt = Number(bytes.readBigUInt64BE(2));
  if (!Number.isSafeInteger(issuedAt)) throw new E2EError('BAD_ENVELOPE', 'issuedAt out of range');
  const fatal = new TextDecoder('utf-8', { fatal: true });
  let deviceId: string;
  let channelId: string;
  try {
    deviceId = fatal.decode(bytes.subarray(FIXED_HEADER_LENGTH + 1, channelOffset));
    channelId = fatal.decode(bytes.subarray(channelOffset + 1, headerLength));
  } catch (cause) {
    throw new E2EError('BAD_ENVELOPE', 'device or channel id is not UTF-8', { cause });
  }
  const encEnd = headerLength + HPKE_ENC_LENGTH;
  const ciphertextEnd = encEnd + CIPHERTEXT_LENGTH;
  return {
    header: {
      issuedAt,
      recipientKeyId: encodeBase64Url(bytes.subarray(10, 26)),
      sessionId: Buffer.from(bytes.subarray(26, 58)),
      firstIndex: bytes.readUInt32BE(58),
      deviceId,
      channelId,
    },
    headerBytes: bytes.subarray(0, headerLength),
    enc: bytes.subarray(headerLength, encEnd),
    ciphertext: bytes.subarray(encEnd, ciphertextEnd),
    signed: bytes.subarray(0, ciphertextEnd),
    signature: bytes.subarray(ciphertextEnd),
  };
}

/** Reads the cleartext header without verifying anything (routing, logging). */
export function readKeyShareHeader(envelope: Uint8Array): KeyShareHeader {
  return parseEnvelope(envelope).header;
}

export interface OpenKeyShareInput {
  /** The consumer's X25519 private key, raw. */
  readonly recipientPrivateKey: Uint8Array;
  /** The consumer's X25519 public key, raw (to check the recipient key id without a derivation). */
  readonly recipientPublicKey: Uint8Array;
  /** Looks up the enrolled Ed25519 identity public key (raw) of a device. */
  readonly deviceIdentity: (deviceId: string) => Uint8Array | undefined;
}

export interface OpenedKeyShare {
  readonly header: KeyShareHeader;
  /** The verified 229-byte Megolm session key. */
  readonly sessionKey: Buffer;
}

/**
 * Verifies and opens an envelope. Order: format, recipient, device trust, device signature, HPKE
 * open, then the session key's own signature and its agreement with the header.
 */
export function openKeyShare(envelope: Uint8Array, input: OpenKeyShareInput): OpenedKeyShare {
  const parsed = parseEnvelope(envelope);
  const { header } = parsed;
  if (header.recipientKeyId !== recipientKeyId(input.recipientPublicKey)) {
    throw new E2EError('WRONG_RECIPIENT', `key share is for recipient ${header.recipientKeyId}`);
  }
  const identity = input.deviceIdentity(header.deviceId);
  if (identity === undefined)
    throw new E2EError('UNTRUSTED_DEVICE', `device ${header.deviceId} is not trusted`);
  const signedBytes = Buffer.concat([SIGNATURE_CONTEXT, parsed.signed]);
  if (!verify(null, signedBytes, ed25519PublicKey(identity), parsed.signature)) {
    throw new E2EError('BAD_SIGNATURE', 'key share signature does not verify with the device identity key');
  }
  const sessionKey = hpkeOpenBase(
    parsed.enc,
    input.recipientPrivateKey,
    HPKE_INFO,
    parsed.headerBytes,
    parsed.ciphertext,
  );
  const contents = decodeSessionKey(sessionKey);
  if (!contents.signingPublicKey.equals(header.sessionId) || contents.ratchet.counter !== header.firstIndex) {
    throw new E2EError('BAD_ENVELOPE', 'session key does not match the envelope header');
  }
  return { header, sessionKey };
}
