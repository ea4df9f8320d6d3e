import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { E2EError } from './errors.js';

/**
 * Raw 32-byte Ed25519 and X25519 keys <-> node:crypto KeyObjects.
 *
 * node:crypto imports raw OKP keys only through DER (or JWK), so a raw key is wrapped in the fixed
 * PKCS#8 / SPKI prefix of its curve (RFC 8410). Raw bytes are what travels in our formats.
 */

export const RAW_KEY_LENGTH = 32;

const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

/** A raw key pair: `privateKey` is the 32-byte seed (Ed25519) or scalar (X25519), `publicKey` 32 bytes. */
export interface RawKeyPair {
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

function checkLength(raw: Uint8Array, what: string): void {
  if (raw.length !== RAW_KEY_LENGTH) {
    throw new E2EError('BAD_KEY', `${what} must be ${RAW_KEY_LENGTH} bytes, got ${raw.length}`);
  }
}

function importKey(kind: 'private' | 'public', prefix: Buffer, raw: Uint8Array, what: string): KeyObject {
  checkLength(raw, what);
  const der = Buffer.concat([prefix, raw]);
  try {
    return kind === 'private'
      ? createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })
      : createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch (cause) {
    throw new E2EError('BAD_KEY', `cannot import ${what}`, { cause });
  }
}

/** Imports a 32-byte Ed25519 seed as a signing key. */
export function ed25519PrivateKey(seed: Uint8Array): KeyObject {
  return importKey('private', ED25519_PKCS8_PREFIX, seed, 'Ed25519 seed');
}

/** Imports a 32-byte Ed25519 public key as a verification key. */
export function ed25519PublicKey(raw: Uint8Array): KeyObject {
  return importKey('public', ED25519_SPKI_PREFIX, raw, 'Ed25519 public key');
}

/** Imports a 32-byte X25519 private scalar. */
export function x25519PrivateKey(raw: Uint8Array): KeyObject {
  return importKey('private', X25519_PKCS8_PREFIX, raw, 'X25519 private key');
}

/** Imports a 32-byte X25519 public key. */
export function x25519PublicKey(raw: Uint8Array): KeyObject {
  return importKey('public', X25519_SPKI_PREFIX, raw, 'X25519 public key');
}

/** The raw 32-byte public key of an Ed25519 or X25519 key (public or private). */
export function rawPublicKey(key: KeyObject): Buffer {
  const spki = (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'der', type: 'spki' });
  return spki.subarray(spki.length - RAW_KEY_LENGTH);
}

/** The raw 32-byte seed/scalar of an Ed25519 or X25519 private key. */
export function rawPrivateKey(key: KeyObject): Buffer {
  const pkcs8 = key.export({ format: 'der', type: 'pkcs8' });
  return pkcs8.subarray(pkcs8.length - RAW_KEY_LENGTH);
}

/** A fresh device identity key pair (Ed25519): the device signs key-share envelopes with it. */
export function generateIdentityKeyPair(): RawKeyPair {
  const { privateKey } = generateKeyPairSync('ed25519');
  return { privateKey: rawPrivateKey(privateKey), publicKey: rawPublicKey(privateKey) };
}

/** A fresh consumer key pair (X25519): key shares are sealed to its public half. */
export function generateConsumerKeyPair(): RawKeyPair {
  const { privateKey } = generateKeyPairSync('x25519');
  return { privateKey: rawPrivateKey(privateKey), publicKey: rawPublicKey(privateKey) };
}

/** The raw public key belonging to a raw X25519 private key. */
export function x25519PublicFromPrivate(privateKey: Uint8Array): Buffer {
  return rawPublicKey(x25519PrivateKey(privateKey));
}

/** The raw public key belonging to a raw Ed25519 seed. */
export function ed25519PublicFromSeed(seed: Uint8Array): Buffer {
  return rawPublicKey(ed25519PrivateKey(seed));
}
