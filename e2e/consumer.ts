import { encodeBase64 } from './base64.js';
import { E2EError } from './errors.js';
import { MegolmInboundSession } from './inbound-session.js';
import { type KeyShareHeader, openKeyShare, recipientKeyId } from './key-share.js';
import { x25519PublicFromPrivate } from './keys.js';
import { parseMessage } from './megolm-message.js';
import { parsePayload } from './payload.js';
import { DEFAULT_REPLAY_WINDOW, ReplayWindow } from './replay-window.js';
import { keyShareTopic } from './topics.js';

/**
 * Consumer SDK: takes key shares addressed to its X25519 key and decrypts E2E telemetry.
 *
 * Per Megolm session it keeps the inbound session and a replay window; per device at most
 * `maxSessionsPerDevice` sessions (the oldest is forgotten first, together with its window, so a
 * forgotten session can never be replayed into a fresh window). Key shares older than the newest one
 * accepted from the same device are refused, so the broker cannot resurrect a forgotten session.
 * State lives in memory: after a restart the consumer needs the key shares again.
 */

export interface ConsumerOptions {
  /** The consumer's X25519 private key (32 bytes). */
  readonly privateKey: Uint8Array;
  /**
   * Enrolled device identity keys (Ed25519, raw 32 bytes) by device id: a map, or a lookup function
   * (e.g. backed by the platform's signed device registry).
   */
  readonly trustedDevices: ReadonlyMap<string, Uint8Array> | ((deviceId: string) => Uint8Array | undefined);
  /** Reordering tolerance per session, in messages (default 1024). */
  readonly replayWindow?: number;
  /** Sessions kept per device (default 4). */
  readonly maxSessionsPerDevice?: number;
}

export interface AcceptedKeyShare {
  readonly deviceId: string;
  readonly channelId: string;
  /** Session id, unpadded base64. */
  readonly sessionId: string;
  readonly firstIndex: number;
  readonly issuedAt: number;
  /** `added`: a new session; `extended`: an earlier index of a known one; `known`: nothing new. */
  readonly status: 'added' | 'extended' | 'known';
}

export interface DecryptedTelemetry {
  readonly plaintext: Buffer;
  readonly deviceId: string;
  readonly channelId: string;
  readonly sessionId: string;
  readonly messageIndex: number;
}

/** What a payload must belong to; a mismatch is CONTEXT_MISMATCH. */
export interface ExpectedOrigin {
  readonly channelId?: string;
  readonly deviceId?: string;
}

interface SessionRecord {
  session: MegolmInboundSession;
  readonly replay: ReplayWindow;
  readonly deviceId: string;
  readonly channelId: string;
}

interface DeviceRecord {
  newestIssuedAt: number;
  /** Session ids, oldest first. */
  readonly sessions: string[];
}

export class E2EConsumer {
  readonly #privateKey: Uint8Array;
  readonly #publicKey: Buffer;
  readonly #keyId: string;
  readonly #lookup: (deviceId: string) => Uint8Array | undefined;
  readonly #replayWindow: number;
  readonly #maxSessionsPerDevice: number;
  readonly #sessions = new Map<string, SessionRecord>();
  readonly #devices = new Map<string, DeviceRecord>();

  constructor(options: ConsumerOptions) {
    this.#privateKey = Uint8Array.from(options.privateKey);
    this.#publicKey = x25519PublicFromPrivate(this.#privateKey);
    this.#keyId = recipientKeyId(this.#publicKey);
    const trusted = options.trustedDevices;
    this.#lookup = typeof trusted === 'function' ? trusted : (deviceId) => trusted.get(deviceId);
    this.#replayWindow = options.replayWindow ?? DEFAULT_REPLAY_WINDOW;
    new ReplayWindow(this.#replayWindow); // validates the size once, up front
    this.#maxSessionsPerDevice = options.maxSessionsPerDevice ?? 4;
    if (!Number.isSafeInteger(this.#maxSessionsPerDevice) || this.#maxSessionsPerDevice < 1) {
      throw new E2EError('INVALID_ARGUMENT', 'maxSessionsPerDevice must be a positive integer');
    }
  }

  /** The consumer's X25519 public key, raw: what devices (or the owner) encrypt key shares to. */
  get publicKey(): Buffer {
    return Buffer.from(this.#publicKey);
  }

  /** The consumer's recipient key id (base64url), the last level of its key-share topic. */
  get keyId(): string {
    return this.#keyId;
  }

  /** Number of sessions currently held. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** The topic to subscribe to for this consumer's key shares on a channel. */
  keyShareTopic(channelId: string): string {
    return keyShareTopic(channelId, this.#keyId);
  }

  /** Verifies, opens and installs a key-share envelope. */
  acceptKeyShare(envelope: Uint8Array): AcceptedKeyShare {
    const { header, sessionKey } = openKeyShare(envelope, {
      recipientPrivateKey: this.#privateKey,
      recipientPublicKey: this.#publicKey,
      deviceIdentity: this.#lookup,
    });
    const sessionId = encodeBase64(header.sessionId);
    const device = this.#devices.get(header.deviceId) ?? { newestIssuedAt: 0, sessions: [] };
    const existing = this.#sessions.get(sessionId);
    let status: AcceptedKeyShare['status'];
    if (existing !== undefined) {
      if (existing.deviceId !== header.deviceId || existing.channelId !== header.channelId) {
        throw new E2EError('CONTEXT_MISMATCH', 'session already known for another device or channel');
      }
      status = 'known';
      if (header.firstIndex < existing.session.firstKnownIndex) {
        // Same session from an earlier index (e.g. shares arrived out of order): keep the replay window.
        existing.session = MegolmInboundSession.fromSessionKey(sessionKey);
        status = 'extended';
      }
    } else {
      if (header.issuedAt < device.newestIssuedAt) {
        throw new E2EError('STALE_KEY_SHARE', 'key share is older than the newest one from this device');
      }
      this.#install(header, sessionId, MegolmInboundSession.fromSessionKey(sessionKey), device);
      status = 'added';
    }
    device.newestIssuedAt = Math.max(device.newestIssuedAt, header.issuedAt);
    this.#devices.set(header.deviceId, device);
    return {
      deviceId: header.deviceId,
      channelId: header.channelId,
      sessionId,
      firstIndex: header.firstIndex,
      issuedAt: header.issuedAt,
      status,
    };
  }

  #install(
    header: KeyShareHeader,
    sessionId: string,
    session: MegolmInboundSession,
    device: DeviceRecord,
  ): void {
    this.#sessions.set(sessionId, {
      session,
      replay: new ReplayWindow(this.#replayWindow),
      deviceId: header.deviceId,
      channelId: header.channelId,
    });
    device.sessions.push(sessionId);
    while (device.sessions.length > this.#maxSessionsPerDevice) {
      const oldest = device.sessions.shift();
      if (oldest !== undefined) this.#sessions.delete(oldest);
    }
  }

  /**
   * Decrypts an E2E payload (content type application/vnd.omap.megolm.v1). Rejects unknown
   * sessions, wrong origin, replays (before any cryptography), then everything Megolm rejects; the
   * index is recorded only after the message authenticated.
   */
  decrypt(payload: Uint8Array, expected: ExpectedOrigin = {}): DecryptedTelemetry {
    const parsed = parsePayload(payload);
    const sessionId = encodeBase64(parsed.sessionId);
    const record = this.#sessions.get(sessionId);
    if (record === undefined) throw new E2EError('UNKNOWN_SESSION', `no key for session ${sessionId}`);
    if (
      (expected.channelId !== undefined && expected.channelId !== record.channelId) ||
      (expected.deviceId !== undefined && expected.deviceId !== record.deviceId)
    ) {
      throw new E2EError(
        'CONTEXT_MISMATCH',
        `session ${sessionId} belongs to ${record.deviceId} on ${record.channelId}`,
      );
    }
    record.replay.check(parseMessage(parsed.message).index);
    const { plaintext, messageIndex } = record.session.decrypt(parsed.message);
    record.replay.record(messageIndex);
    return { plaintext, deviceId: record.deviceId, channelId: record.channelId, sessionId, messageIndex };
  }

  /** Drops every session of a device (e.g. when it is decommissioned). */
  forgetDevice(deviceId: string): void {
    const device = this.#devices.get(deviceId);
    if (device === undefined) return;
    for (const sessionId of device.sessions) this.#sessions.delete(sessionId);
    device.sessions.length = 0;
  }
}
