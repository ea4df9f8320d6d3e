import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  diffieHellman,
  generateKeyPairSync,
} from 'node:crypto';
import { E2EError } from './errors.js';
import { RAW_KEY_LENGTH, rawPrivateKey, rawPublicKey, x25519PrivateKey, x25519PublicKey } from './keys.js';

/**
 * HPKE (RFC 9180) base mode with DHKEM(X25519, HKDF-SHA256) and HKDF-SHA256, on node:crypto.
 *
 * The key-share envelope uses AES-256-GCM (suite 0x0020/0x0001/0x0002). AES-128-GCM is supported
 * as well because RFC 9180's published X25519 test vector (A.1.1) uses it; everything but the AEAD
 * key length and id is shared, so that vector checks the KEM, the labeled KDF and the key schedule.
 * HPKE's LabeledExtract/LabeledExpand need the two HKDF steps separately, which hkdfSync does not
 * offer, so both are written with HMAC here.
 */

export type HpkeAead = 'aes-128-gcm' | 'aes-256-gcm';

export const HPKE_MODE_BASE = 0x00;
export const HPKE_KEM_X25519_HKDF_SHA256 = 0x0020;
export const HPKE_KDF_HKDF_SHA256 = 0x0001;
export const HPKE_AEAD_IDS: Readonly<Record<HpkeAead, number>> = {
  'aes-128-gcm': 0x0001,
  'aes-256-gcm': 0x0002,
};
const AEAD_KEY_LENGTHS: Readonly<Record<HpkeAead, number>> = { 'aes-128-gcm': 16, 'aes-256-gcm': 32 };
/** Length of `enc`, the encapsulated key (an X25519 public key). */
export const HPKE_ENC_LENGTH = RAW_KEY_LENGTH;
export const HPKE_TAG_LENGTH = 16;
const NONCE_LENGTH = 12;
const HASH_LENGTH = 32;
const VERSION_LABEL = Buffer.from('HPKE-v1', 'latin1');
const EMPTY = Buffer.alloc(0);

function i2osp(value: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = length - 1; i >= 0 && value > 0; i--) {
    out[i] = value % 256;
    value = Math.floor(value / 256);
  }
  return out;
}

const KEM_SUITE_ID = Buffer.concat([Buffer.from('KEM', 'latin1'), i2osp(HPKE_KEM_X25519_HKDF_SHA256, 2)]);

function hpkeSuiteId(aead: HpkeAead): Buffer {
  return Buffer.concat([
    Buffer.from('HPKE', 'latin1'),
    i2osp(HPKE_KEM_X25519_HKDF_SHA256, 2),
    i2osp(HPKE_KDF_HKDF_SHA256, 2),
    i2osp(HPKE_AEAD_IDS[aead], 2),
  ]);
}

function hkdfExtract(salt: Uint8Array, ikm: Uint8Array): Buffer {
  return createHmac('sha256', salt).update(ikm).digest();
}

function hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Buffer {
  const blocks: Buffer[] = [];
  let previous: Buffer = EMPTY;
  for (let counter = 1; blocks.length * HASH_LENGTH < length; counter++) {
    previous = createHmac('sha256', prk)
      .update(previous)
      .update(info)
      .update(Buffer.from([counter]))
      .digest();
    blocks.push(previous);
  }
  return Buffer.concat(blocks).subarray(0, length);
}

function labeledExtract(suiteId: Buffer, salt: Uint8Array, label: string, ikm: Uint8Array): Buffer {
  return hkdfExtract(salt, Buffer.concat([VERSION_LABEL, suiteId, Buffer.from(label, 'latin1'), ikm]));
}

function labeledExpand(
  suiteId: Buffer,
  prk: Uint8Array,
  label: string,
  info: Uint8Array,
  length: number,
): Buffer {
  const labeledInfo = Buffer.concat([
    i2osp(length, 2),
    VERSION_LABEL,
    suiteId,
    Buffer.from(label, 'latin1'),
    info,
  ]);
  return hkdfExpand(prk, labeledInfo, length);
}

/** RFC 9180 §7.1.3 DeriveKeyPair for X25519: a deterministic key pair from input keying material. */
export function hpkeDeriveKeyPair(ikm: Uint8Array): { privateKey: Buffer; publicKey: Buffer } {
  const dkpPrk = labeledExtract(KEM_SUITE_ID, EMPTY, 'dkp_prk', ikm);
  const privateKey = labeledExpand(KEM_SUITE_ID, dkpPrk, 'sk', EMPTY, RAW_KEY_LENGTH);
  return { privateKey, publicKey: rawPublicKey(x25519PrivateKey(privateKey)) };
}

function dh(privateKey: Uint8Array, publicKey: Uint8Array): Buffer {
  try {
    // OpenSSL refuses an all-zero X25519 output (small-order peer key), as RFC 9180 §7.1.4 requires.
    return diffieHellman({ privateKey: x25519PrivateKey(privateKey), publicKey: x25519PublicKey(publicKey) });
  } catch (cause) {
    if (cause instanceof E2EError) throw cause;
    throw new E2EError('BAD_KEY', 'X25519 key agreement failed (invalid public key)', { cause });
  }
}

function extractAndExpand(dhOutput: Buffer, kemContext: Buffer): Buffer {
  const eaePrk = labeledExtract(KEM_SUITE_ID, EMPTY, 'eae_prk', dhOutput);
  return labeledExpand(KEM_SUITE_ID, eaePrk, 'shared_secret', kemContext, HASH_LENGTH);
}

/** The output of the KEM and key schedule, exposed for test vectors. */
export interface HpkeKeySchedule {
  readonly sharedSecret: Buffer;
  readonly key: Buffer;
  readonly baseNonce: Buffer;
  readonly exporterSecret: Buffer;
}

function keySchedule(aead: HpkeAead, sharedSecret: Buffer, info: Uint8Array): HpkeKeySchedule {
  const suiteId = hpkeSuiteId(aead);
  // Base mode: empty psk and psk_id.
  const pskIdHash = labeledExtract(suiteId, EMPTY, 'psk_id_hash', EMPTY);
  const infoHash = labeledExtract(suiteId, EMPTY, 'info_hash', info);
  const context = Buffer.concat([Buffer.from([HPKE_MODE_BASE]), pskIdHash, infoHash]);
  const secret = labeledExtract(suiteId, sharedSecret, 'secret', EMPTY);
  return {
    sharedSecret,
    key: labeledExpand(suiteId, secret, 'key', context, AEAD_KEY_LENGTHS[aead]),
    baseNonce: labeledExpand(suiteId, secret, 'base_nonce', context, NONCE_LENGTH),
    exporterSecret: labeledExpand(suiteId, secret, 'exp', context, HASH_LENGTH),
  };
}

/** An HPKE encryption context: one direction, nonces from a sequence number (RFC 9180 §5.2). */
export class HpkeContext {
  readonly aead: HpkeAead;
  readonly schedule: HpkeKeySchedule;
  #sequence = 0;

  constructor(aead: HpkeAead, schedule: HpkeKeySchedule) {
    this.aead = aead;
    this.schedule = schedule;
  }

  /** The sequence number of the next seal/open. */
  get sequence(): number {
    return this.#sequence;
  }

  #nextNonce(): Buffer {
    const nonce = Buffer.from(this.schedule.baseNonce);
    const sequence = i2osp(this.#sequence, NONCE_LENGTH);
    for (let i = 0; i < NONCE_LENGTH; i++) nonce[i]! ^= sequence[i]!;
    this.#sequence++;
    return nonce;
  }

  /** AEAD-seals `plaintext` with `aad`; returns ciphertext ‖ 16-byte tag. */
  seal(aad: Uint8Array, plaintext: Uint8Array): Buffer {
    const cipher = createCipheriv(this.aead, this.schedule.key, this.#nextNonce());
    cipher.setAAD(aad);
    return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  }

  /** Opens ciphertext ‖ tag; DECRYPTION_FAILED when the key is wrong or anything was altered. */
  open(aad: Uint8Array, ciphertext: Uint8Array): Buffer {
    if (ciphertext.length < HPKE_TAG_LENGTH)
      throw new E2EError('DECRYPTION_FAILED', 'ciphertext shorter than the tag');
    const nonce = this.#nextNonce();
    const bodyLength = ciphertext.length - HPKE_TAG_LENGTH;
    try {
      const decipher = createDecipheriv(this.aead, this.schedule.key, nonce);
      decipher.setAAD(aad);
      decipher.setAuthTag(ciphertext.subarray(bodyLength));
      return Buffer.concat([decipher.update(ciphertext.subarray(0, bodyLength)), decipher.final()]);
    } catch (cause) {
      throw new E2EError('DECRYPTION_FAILED', 'HPKE open failed', { cause });
    }
  }
}

export interface HpkeSenderOptions {
  readonly aead?: HpkeAead;
  /** Fixed ephemeral private key, for test vectors only: reusing one breaks HPKE's security. */
  readonly ephemeralPrivateKey?: Uint8Array;
}

/** SetupBaseS: encapsulates to `recipientPublicKey`; returns `enc` and the sender context. */
export function setupBaseSender(
  recipientPublicKey: Uint8Array,
  info: Uint8Array,
  options: HpkeSenderOptions = {},
): { enc: Buffer; context: HpkeContext } {
  const aead = options.aead ?? 'aes-256-gcm';
  const ephemeral = options.ephemeralPrivateKey ?? rawPrivateKey(generateKeyPairSync('x25519').privateKey);
  const enc = rawPublicKey(x25519PrivateKey(ephemeral));
  const sharedSecret = extractAndExpand(
    dh(ephemeral, recipientPublicKey),
    Buffer.concat([enc, recipientPublicKey]),
  );
  return { enc, context: new HpkeContext(aead, keySchedule(aead, sharedSecret, info)) };
}

/** SetupBaseR: decapsulates `enc` with the recipient's private key; returns the receiver context. */
export function setupBaseReceiver(
  enc: Uint8Array,
  recipientPrivateKey: Uint8Array,
  info: Uint8Array,
  aead: HpkeAead = 'aes-256-gcm',
): HpkeContext {
  if (enc.length !== HPKE_ENC_LENGTH) throw new E2EError('DECRYPTION_FAILED', 'enc must be 32 bytes');
  const recipientPublicKey = rawPublicKey(x25519PrivateKey(recipientPrivateKey));
  let dhOutput: Buffer;
  try {
    dhOutput = dh(recipientPrivateKey, enc);
  } catch (cause) {
    throw new E2EError('DECRYPTION_FAILED', 'enc is not a usable X25519 public key', { cause });
  }
  const sharedSecret = extractAndExpand(dhOutput, Buffer.concat([enc, recipientPublicKey]));
  return new HpkeContext(aead, keySchedule(aead, sharedSecret, info));
}

/** Single-shot base-mode seal (RFC 9180 §6.1): returns `enc` and ciphertext ‖ tag. */
export function hpkeSealBase(
  recipientPublicKey: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
  options: HpkeSenderOptions = {},
): { enc: Buffer; ciphertext: Buffer } {
  const { enc, context } = setupBaseSender(recipientPublicKey, info, options);
  return { enc, ciphertext: context.seal(aad, plaintext) };
}

/** Single-shot base-mode open. */
export function hpkeOpenBase(
  enc: Uint8Array,
  recipientPrivateKey: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  ciphertext: Uint8Array,
  aead: HpkeAead = 'aes-256-gcm',
): Buffer {
  return setupBaseReceiver(enc, recipientPrivateKey, info, aead).open(aad, ciphertext);
}
