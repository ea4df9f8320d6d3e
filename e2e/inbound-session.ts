import { type KeyObject, verify } from 'node:crypto';
import { decodeBase64, encodeBase64 } from './base64.js';
import { E2EError } from './errors.js';
import { ed25519PublicKey } from './keys.js';
import { decrypt, deriveMessageKeys, verifyMac } from './megolm-cipher.js';
import { parseMessage } from './megolm-message.js';
import type { MegolmRatchet } from './ratchet.js';
import {
  decodeSessionExport,
  decodeSessionKey,
  encodeSessionExport,
  type SessionKeyContents,
} from './session-key.js';

/**
 * The reading side of a Megolm session (a consumer). It keeps the ratchet at the first index it
 * knows and can decrypt that index and every later one, never an earlier one (HMAC is one-way).
 *
 * Checks follow libolm's order: version, format, Ed25519 signature, index, MAC, decrypt. The
 * signature is always verified: every reader holds the ratchet and could compute a valid MAC, only
 * the device holds the signing key. Megolm does not detect replays; see ReplayWindow.
 */

/** A decrypted message. */
export interface InboundPlaintext {
  readonly plaintext: Buffer;
  readonly messageIndex: number;
}

const HALF_RANGE = 2 ** 31;

function toBytes(input: Uint8Array | string): Uint8Array {
  return typeof input === 'string' ? decodeBase64(input) : input;
}

export class MegolmInboundSession {
  /** Ratchet at the first known index; never advanced. */
  readonly #initial: MegolmRatchet;
  /** Ratchet at the highest index decrypted so far: in-order traffic only ratchets forward from here. */
  readonly #latest: MegolmRatchet;
  /** Working copy, reused so that a decrypt allocates no ratchet. */
  readonly #scratch: MegolmRatchet;
  readonly #signingPublicKey: Buffer;
  readonly #verificationKey: KeyObject;
  #signatureVerified: boolean;

  private constructor(contents: SessionKeyContents, signatureVerified: boolean) {
    this.#initial = contents.ratchet;
    this.#latest = contents.ratchet.clone();
    this.#scratch = contents.ratchet.clone();
    this.#signingPublicKey = contents.signingPublicKey;
    this.#verificationKey = ed25519PublicKey(contents.signingPublicKey);
    this.#signatureVerified = signatureVerified;
  }

  /** From a signed 229-byte session key (bytes or unpadded base64); the self-signature is checked. */
  static fromSessionKey(sessionKey: Uint8Array | string): MegolmInboundSession {
    return new MegolmInboundSession(decodeSessionKey(toBytes(sessionKey)), true);
  }

  /** From an unsigned 165-byte session export (bytes or unpadded base64). */
  static fromExport(exported: Uint8Array | string): MegolmInboundSession {
    return new MegolmInboundSession(decodeSessionExport(toBytes(exported)), false);
  }

  /** The session id: Ed25519 public key, unpadded base64. */
  get sessionId(): string {
    return encodeBase64(this.#signingPublicKey);
  }

  /** The session's Ed25519 public key, raw 32 bytes. */
  get sessionIdBytes(): Buffer {
    return Buffer.from(this.#signingPublicKey);
  }

  /** The lowest index this session can decrypt. */
  get firstKnownIndex(): number {
    return this.#initial.counter;
  }

  /**
   * True when the key came with a valid self-signature, or (for an export) once a message signed by
   * the session key decrypted. Mirrors libolm's `signing_key_verified`.
   */
  get signatureVerified(): boolean {
    return this.#signatureVerified;
  }

  /** Decrypts a version-3 message (bytes or unpadded base64). Throws E2EError on any failure. */
  decrypt(message: Uint8Array | string): InboundPlaintext {
    const parsed = parseMessage(toBytes(message));
    if (!verify(null, parsed.signedInput, this.#verificationKey, parsed.signature)) {
      throw new E2EError('BAD_SIGNATURE', 'message signature does not verify');
    }
    const index = parsed.index;
    // libolm's window arithmetic modulo 2^32: "after latest" wins, else it must not precede the initial index.
    let fromLatest = true;
    if ((index - this.#latest.counter) >>> 0 >= HALF_RANGE) {
      if ((index - this.#initial.counter) >>> 0 >= HALF_RANGE) {
        throw new E2EError(
          'UNKNOWN_MESSAGE_INDEX',
          `message index ${index} precedes the first known index ${this.#initial.counter}`,
        );
      }
      fromLatest = false;
    }
    const scratch = this.#scratch;
    scratch.copyFrom(fromLatest ? this.#latest : this.#initial);
    scratch.advanceTo(index);
    const keys = deriveMessageKeys(scratch.data);
    if (!verifyMac(keys, parsed.macInput, parsed.mac)) {
      throw new E2EError('BAD_MESSAGE_MAC', 'message MAC does not match');
    }
    const plaintext = decrypt(keys, parsed.ciphertext);
    // Commit the cache only after the message proved authentic.
    if (fromLatest) this.#latest.copyFrom(scratch);
    this.#signatureVerified = true;
    return { plaintext, messageIndex: index };
  }

  /** The unsigned 165-byte export at `index` (≥ the first known index), e.g. to hand on from a later point. */
  exportAt(index: number): Buffer {
    if ((index - this.#initial.counter) >>> 0 >= HALF_RANGE) {
      throw new E2EError('UNKNOWN_MESSAGE_INDEX', `index ${index} precedes the first known index`);
    }
    const ratchet = this.#initial.clone();
    ratchet.advanceTo(index);
    return encodeSessionExport(ratchet, this.#signingPublicKey);
  }
}
