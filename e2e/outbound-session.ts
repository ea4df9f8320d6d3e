import { type KeyObject, randomBytes, sign } from 'node:crypto';
import { encodeBase64 } from './base64.js';
import { E2EError } from './errors.js';
import { ed25519PrivateKey, RAW_KEY_LENGTH, rawPublicKey } from './keys.js';
import { cbcCiphertextLength, deriveMessageKeys, encryptInto, MAC_LENGTH, macInto } from './megolm-cipher.js';
import { messageLength, writeMessageHeader } from './megolm-message.js';
import { decodeOutboundState, encodeOutboundState } from './outbound-state.js';
import { MAX_MESSAGE_INDEX, MegolmRatchet, RATCHET_LENGTH } from './ratchet.js';
import { encodeSessionKey } from './session-key.js';

/**
 * The sending side of a Megolm session (a device): it owns the ratchet and the session's Ed25519
 * signing key, encrypts each message under the next index and signs it.
 *
 * Crash safety: the per-message key and IV are derived from the ratchet, so re-using an index after a
 * restart would reuse a key/IV pair. Before a ciphertext under index i is handed out, the session
 * makes sure a state whose next index is > i has been saved through the persistence hook (and the
 * hook has returned or resolved). A restored session therefore always starts past every index that
 * was ever returned. `reserve` > 1 saves a state `reserve` indices ahead, so only one save in
 * `reserve` messages touches storage; a crash then skips the unused reserved indices (gaps are
 * harmless in Megolm, reuse is not).
 */

/** Receives the encoded session state (see outbound-state.ts); must be durable when it returns/resolves. */
export interface OutboundSessionPersistence {
  save(state: Uint8Array): void | Promise<void>;
}

export interface OutboundSessionOptions {
  /** Where the advanced state is saved before a message leaves. Omit only for throw-away sessions. */
  readonly persistence?: OutboundSessionPersistence;
  /** Indices reserved per save (default 1: save before every message). */
  readonly reserve?: number;
  /** Clock for the creation time (default Date.now). */
  readonly now?: () => number;
}

/** The secrets a session is built from; libolm draws them as 160 random bytes (ratchet, then seed). */
export interface OutboundSessionSecrets {
  /** 128-byte ratchet R0‖R1‖R2‖R3. */
  readonly ratchet: Uint8Array;
  /** 32-byte Ed25519 seed of the session signing key. */
  readonly signingSeed: Uint8Array;
  /** Index the ratchet value belongs to (default 0). */
  readonly index?: number;
}

const noop = (): void => {};

export class MegolmOutboundSession {
  readonly #ratchet: MegolmRatchet;
  readonly #signingSeed: Buffer;
  readonly #signingKey: KeyObject;
  readonly #signingPublicKey: Buffer;
  readonly #persistence: OutboundSessionPersistence | undefined;
  readonly #reserve: number;
  readonly #createdAt: number;
  readonly #firstIndex: number;
  /** Indices below this may be used: a saved state resumes at it. */
  #savedNextIndex: number;
  /** Serialises encryptions so that index claims and saves happen in order. */
  #tail: Promise<void> = Promise.resolve();

  private constructor(
    secrets: OutboundSessionSecrets,
    options: OutboundSessionOptions,
    createdAt: number,
    firstIndex: number,
    savedNextIndex: number,
  ) {
    if (secrets.signingSeed.length !== RAW_KEY_LENGTH) {
      throw new E2EError('BAD_KEY', `signing seed must be ${RAW_KEY_LENGTH} bytes`);
    }
    const reserve = options.reserve ?? 1;
    if (!Number.isSafeInteger(reserve) || reserve < 1) {
      throw new E2EError('INVALID_ARGUMENT', 'reserve must be a positive integer');
    }
    this.#ratchet = new MegolmRatchet(Buffer.from(secrets.ratchet), secrets.index ?? 0);
    this.#signingSeed = Buffer.from(secrets.signingSeed);
    this.#signingKey = ed25519PrivateKey(this.#signingSeed);
    this.#signingPublicKey = rawPublicKey(this.#signingKey);
    this.#persistence = options.persistence;
    this.#reserve = reserve;
    this.#createdAt = createdAt;
    this.#firstIndex = firstIndex;
    this.#savedNextIndex = this.#persistence === undefined ? MAX_MESSAGE_INDEX : savedNextIndex;
  }

  /** A new session from fresh random secrets, at index 0. */
  static create(options: OutboundSessionOptions = {}): MegolmOutboundSession {
    const random = randomBytes(RATCHET_LENGTH + RAW_KEY_LENGTH);
    return MegolmOutboundSession.fromSecrets(
      { ratchet: random.subarray(0, RATCHET_LENGTH), signingSeed: random.subarray(RATCHET_LENGTH) },
      options,
    );
  }

  /** A session from given secrets (test vectors, or secrets drawn elsewhere). Nothing is saved yet. */
  static fromSecrets(
    secrets: OutboundSessionSecrets,
    options: OutboundSessionOptions = {},
  ): MegolmOutboundSession {
    const index = secrets.index ?? 0;
    return new MegolmOutboundSession(secrets, options, (options.now ?? Date.now)(), index, index);
  }

  /** Restores a session from a state the persistence hook received. */
  static restore(state: Uint8Array, options: OutboundSessionOptions = {}): MegolmOutboundSession {
    const decoded = decodeOutboundState(state);
    return new MegolmOutboundSession(
      { ratchet: decoded.ratchet, signingSeed: decoded.signingSeed, index: decoded.nextIndex },
      options,
      decoded.createdAt,
      decoded.firstIndex,
      decoded.nextIndex,
    );
  }

  /** The session id: the session's Ed25519 public key, unpadded base64 (43 characters). */
  get sessionId(): string {
    return encodeBase64(this.#signingPublicKey);
  }

  /** The session's Ed25519 public key, raw 32 bytes. */
  get sessionIdBytes(): Buffer {
    return Buffer.from(this.#signingPublicKey);
  }

  /** The index the next message will use. */
  get messageIndex(): number {
    return this.#ratchet.counter;
  }

  /** The index the session started at. */
  get firstIndex(): number {
    return this.#firstIndex;
  }

  /** Creation time, ms since the epoch. */
  get createdAt(): number {
    return this.#createdAt;
  }

  /**
   * The signed 229-byte session key at the current index: a reader given it can decrypt this and
   * every later message, never an earlier one.
   */
  sessionKey(): Buffer {
    return encodeSessionKey(this.#ratchet, this.#signingPublicKey, this.#signingKey);
  }

  /** The state at the current index, for a save outside the encryption path (e.g. at creation). */
  snapshot(): Buffer {
    return this.#encodeState(this.#ratchet);
  }

  /**
   * Saves the current state now, whatever the reservation. Call it after creating a session and
   * before sharing its key, so a crash can never bring back an unsaved session.
   */
  async persist(): Promise<void> {
    const run = this.#tail.then(() => this.#save(this.#ratchet, this.#ratchet.counter));
    this.#tail = run.then(noop, noop);
    return run;
  }

  /**
   * Encrypts one message under the next index and returns the libolm version-3 message bytes. The
   * advanced state is saved (and awaited) first; if saving fails nothing is returned, the index is
   * burnt and the error is PERSISTENCE_FAILED.
   */
  encrypt(plaintext: Uint8Array | string): Promise<Buffer> {
    const bytes = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
    const run = this.#tail.then(() => this.#encryptNext(bytes));
    this.#tail = run.then(noop, noop);
    return run;
  }

  async #encryptNext(plaintext: Uint8Array): Promise<Buffer> {
    const ratchet = this.#ratchet;
    const index = ratchet.counter;
    // The last index stays unused so that the counter never wraps back to a used value.
    if (index >= MAX_MESSAGE_INDEX)
      throw new E2EError('SESSION_EXHAUSTED', 'every message index has been used');
    const keys = deriveMessageKeys(ratchet.data);
    // Advance in memory before saving: even if the save fails, this index is never handed out again.
    ratchet.advance();
    if (index >= this.#savedNextIndex) {
      const target = Math.min(index + this.#reserve, MAX_MESSAGE_INDEX);
      let ahead = ratchet;
      if (target !== ratchet.counter) {
        ahead = ratchet.clone();
        ahead.advanceTo(target);
      }
      await this.#save(ahead, target);
    }
    const ciphertextLength = cbcCiphertextLength(plaintext.length);
    const out = Buffer.allocUnsafe(messageLength(index, ciphertextLength));
    let offset = writeMessageHeader(out, index, ciphertextLength);
    offset += encryptInto(keys, plaintext, out, offset);
    macInto(keys, out.subarray(0, offset), out, offset);
    offset += MAC_LENGTH;
    sign(null, out.subarray(0, offset), this.#signingKey).copy(out, offset);
    return out;
  }

  async #save(ratchet: MegolmRatchet, nextIndex: number): Promise<void> {
    if (this.#persistence === undefined) return;
    try {
      await this.#persistence.save(this.#encodeState(ratchet));
    } catch (cause) {
      throw new E2EError('PERSISTENCE_FAILED', 'saving the outbound session failed', { cause });
    }
    this.#savedNextIndex = Math.max(this.#savedNextIndex, nextIndex);
  }

  #encodeState(ratchet: MegolmRatchet): Buffer {
    return encodeOutboundState({
      nextIndex: ratchet.counter,
      ratchet: ratchet.data,
      signingSeed: this.#signingSeed,
      createdAt: this.#createdAt,
      firstIndex: this.#firstIndex,
    });
  }
}
