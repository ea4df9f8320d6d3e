import type { KeyObject } from 'node:crypto';
import { E2E_CONTENT_TYPE, KEY_SHARE_CONTENT_TYPE } from './content-types.js';
import { decodeDeviceState, encodeDeviceState, recipientsDigest } from './device-state.js';
import { E2EError } from './errors.js';
import { recipientKeyId, sealKeyShare } from './key-share.js';
import { ed25519PrivateKey, RAW_KEY_LENGTH } from './keys.js';
import { MegolmOutboundSession, type OutboundSessionPersistence } from './outbound-session.js';
import { decodeOutboundState } from './outbound-state.js';
import { encodePayload } from './payload.js';
import { type RotationPolicy, type RotationReason, resolveRotationPolicy, rotationDue } from './rotation.js';
import type { StateStore } from './state-store.js';
import { keyShareTopic, telemetryTopic } from './topics.js';

/**
 * Device SDK: encrypts a device's telemetry for a set of consumers.
 *
 * One Megolm session per device and channel at a time. Before the first message of a session, and
 * whenever a consumer is added, the device emits key shares (one HPKE envelope per consumer) that
 * the application publishes *before* the message. A session is replaced when the rotation policy
 * says so or a consumer is removed; a removed consumer receives no key for the new session.
 */

export interface DeviceOptions {
  /** The device (thing) id, as consumers know it. */
  readonly deviceId: string;
  /** The channel the telemetry is published on. */
  readonly channelId: string;
  /** The device's Ed25519 identity seed (32 bytes), enrolled with the platform at provisioning. */
  readonly identityKey: Uint8Array;
  /** X25519 public keys (32 bytes each) of the consumers allowed to read. */
  readonly recipients: readonly Uint8Array[];
  /**
   * Keeps the outbound session across restarts (device-state.ts format); saves are awaited before
   * a message leaves.
   */
  readonly store: StateStore;
  readonly rotation?: Partial<RotationPolicy>;
  /** Indices reserved per save (default 1). Higher = fewer storage writes, bigger gap after a crash. */
  readonly reserve?: number;
  /** Clock, ms since the epoch (default Date.now). */
  readonly now?: () => number;
}

/** A publication the application must make: topic, content type and payload bytes. */
export interface Publication {
  readonly topic: string;
  readonly contentType: string;
  readonly payload: Buffer;
}

export interface EncryptedTelemetry {
  /** Key shares to publish before `message` (empty most of the time). */
  readonly keyShares: readonly Publication[];
  readonly message: Publication;
  /** Session id (unpadded base64) and index of `message`. */
  readonly sessionId: string;
  readonly messageIndex: number;
  /** Set when this message started a new session, and why. */
  readonly rotated?: RotationReason | 'forced' | 'recipient-removed' | 'recipients-changed' | 'first-session';
}

type StartReason = NonNullable<EncryptedTelemetry['rotated']>;

const noop = (): void => {};

export class E2EDevice {
  readonly deviceId: string;
  readonly channelId: string;
  readonly #identityKey: KeyObject;
  /** Saves the session state prefixed with the digest of the recipients it was shared with. */
  readonly #persistence: OutboundSessionPersistence;
  readonly #policy: RotationPolicy;
  readonly #reserve: number;
  readonly #now: () => number;
  /** Current recipients by key id. */
  #recipients = new Map<string, Uint8Array>();
  /** Key ids that hold the current session's key. */
  #shared = new Set<string>();
  #session: MegolmOutboundSession | undefined;
  #pendingStart: StartReason | undefined;
  /** Last issuedAt used: envelopes of one device carry strictly increasing times. */
  #lastIssuedAt = 0;
  #tail: Promise<void> = Promise.resolve();

  private constructor(options: DeviceOptions, saved: Uint8Array | undefined) {
    const deviceIdBytes = Buffer.byteLength(options.deviceId, 'utf8');
    if (deviceIdBytes < 1 || deviceIdBytes > 255) {
      throw new E2EError('INVALID_ARGUMENT', 'device id must be 1..255 UTF-8 bytes');
    }
    if (Buffer.byteLength(options.channelId, 'utf8') > 255) {
      throw new E2EError('INVALID_ARGUMENT', 'channel id must be at most 255 UTF-8 bytes');
    }
    telemetryTopic(options.channelId); // throws early on a channel id that cannot be a topic level
    this.deviceId = options.deviceId;
    this.channelId = options.channelId;
    this.#identityKey = ed25519PrivateKey(options.identityKey);
    const store = options.store;
    this.#persistence = {
      save: (state) => store.save(encodeDeviceState(recipientsDigest(this.#recipients.values()), state)),
    };
    this.#policy = resolveRotationPolicy(options.rotation);
    this.#reserve = options.reserve ?? 1;
    this.#now = options.now ?? Date.now;
    this.setRecipients(options.recipients);
    this.#pendingStart = 'first-session';
    if (saved !== undefined) {
      const { digest, outboundState } = decodeDeviceState(saved);
      this.#lastIssuedAt = decodeOutboundState(outboundState).createdAt;
      if (digest.equals(recipientsDigest(this.#recipients.values()))) {
        this.#session = MegolmOutboundSession.restore(outboundState, {
          persistence: this.#persistence,
          reserve: this.#reserve,
          now: this.#now,
        });
        this.#pendingStart = undefined;
      } else {
        // Someone may have been removed while the device was down and still holds the saved session's key.
        this.#pendingStart = 'recipients-changed';
      }
    }
  }

  /**
   * Opens the device. If the store holds a session saved for the same recipient list, it resumes
   * past every index used before (its key is shared again, at the current index, with every recipient
   * on the next message); otherwise a new session starts with the next message.
   */
  static async open(options: DeviceOptions): Promise<E2EDevice> {
    return new E2EDevice(options, await options.store.load());
  }

  /** Current session id (unpadded base64), or undefined before the first message. */
  get sessionId(): string | undefined {
    return this.#pendingStart === undefined ? this.#session?.sessionId : undefined;
  }

  /** Key ids of the current recipients. */
  get recipientKeyIds(): string[] {
    return [...this.#recipients.keys()];
  }

  /**
   * Replaces the recipient list. Added consumers get the current session key (readable from the
   * next message on); if anyone was removed the session rotates before the next message.
   */
  setRecipients(publicKeys: readonly Uint8Array[]): void {
    const next = new Map<string, Uint8Array>();
    for (const key of publicKeys) {
      if (key.length !== RAW_KEY_LENGTH)
        throw new E2EError('BAD_KEY', 'recipient X25519 public key must be 32 bytes');
      next.set(recipientKeyId(key), Uint8Array.from(key));
    }
    const removed = [...this.#recipients.keys()].some((id) => !next.has(id));
    this.#recipients = next;
    if (removed && this.#pendingStart === undefined) this.#pendingStart = 'recipient-removed';
  }

  /** Forces a new session before the next message (e.g. after a suspected compromise). */
  rotate(): void {
    this.#pendingStart ??= 'forced';
  }

  /** Encrypts one reading. Publish `keyShares` (in order) before `message`. */
  encrypt(plaintext: Uint8Array | string, subtopic?: string): Promise<EncryptedTelemetry> {
    const topic = telemetryTopic(this.channelId, subtopic);
    const run = this.#tail.then(() => this.#encrypt(plaintext, topic));
    this.#tail = run.then(noop, noop);
    return run;
  }

  async #encrypt(plaintext: Uint8Array | string, topic: string): Promise<EncryptedTelemetry> {
    let rotated: StartReason | undefined = this.#pendingStart;
    if (rotated === undefined && this.#session !== undefined) {
      rotated = rotationDue(
        this.#policy,
        {
          messagesSent: this.#session.messageIndex - this.#session.firstIndex,
          createdAt: this.#session.createdAt,
        },
        this.#now(),
      );
    }
    if (rotated !== undefined || this.#session === undefined) {
      const session = MegolmOutboundSession.create({
        persistence: this.#persistence,
        reserve: this.#reserve,
        now: () => this.#nextIssuedAt(),
      });
      // Saved before its key leaves the device: a restart resumes this session, never an unsaved one.
      await session.persist();
      this.#session = session;
      this.#shared = new Set();
      this.#pendingStart = undefined;
    }
    const session = this.#session;
    const { keyShares, keyIds } = this.#keySharesFor(session);
    const message = await session.encrypt(plaintext);
    // Only now are the shares handed to the caller; had encryption failed they would be lost.
    for (const id of keyIds) this.#shared.add(id);
    const messageIndex = session.messageIndex - 1;
    return {
      keyShares,
      message: {
        topic,
        contentType: E2E_CONTENT_TYPE,
        payload: encodePayload(session.sessionIdBytes, message),
      },
      sessionId: session.sessionId,
      messageIndex,
      ...(rotated === undefined ? {} : { rotated }),
    };
  }

  #keySharesFor(session: MegolmOutboundSession): { keyShares: Publication[]; keyIds: string[] } {
    const missing = [...this.#recipients].filter(([id]) => !this.#shared.has(id));
    if (missing.length === 0) return { keyShares: [], keyIds: [] };
    const sessionKey = session.sessionKey();
    const issuedAt = this.#nextIssuedAt();
    const keyShares = missing.map(([id, publicKey]) => ({
      topic: keyShareTopic(this.channelId, id),
      contentType: KEY_SHARE_CONTENT_TYPE,
      payload: sealKeyShare({
        deviceId: this.deviceId,
        channelId: this.channelId,
        identityKey: this.#identityKey,
        recipientPublicKey: publicKey,
        sessionKey,
        issuedAt,
      }),
    }));
    return { keyShares, keyIds: missing.map(([id]) => id) };
  }

  // Consumers refuse key shares older than one they already took from this device (broker replay), so
  // times must increase even if the wall clock steps back; the session creation time saved with the
  // state carries the floor across restarts.
  #nextIssuedAt(): number {
    this.#lastIssuedAt = Math.max(this.#now(), this.#lastIssuedAt + 1);
    return this.#lastIssuedAt;
  }
}
