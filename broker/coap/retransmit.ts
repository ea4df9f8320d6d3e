/**
 * Reliable transmission of the confirmable messages we originate (separate responses and CON
 * notifications), RFC 7252 §4.2: the first timeout is random in [ACK_TIMEOUT, ACK_TIMEOUT ×
 * ACK_RANDOM_FACTOR], doubled after each retransmission; after MAX_RETRANSMIT retransmissions and one
 * more timeout without an ACK, the peer is taken to be gone. An RST ends the exchange at once.
 */
import type { Peer } from './peers.js';

export interface ConfirmableCallbacks {
  onAcknowledged?: () => void;
  onReset?: () => void;
  /** No ACK after every retransmission. */
  onGiveUp?: () => void;
}

export interface AwaitingAck {
  readonly bytes: Buffer;
  retransmissions: number;
  timeoutMs: number;
  timer: NodeJS.Timeout | null;
  readonly callbacks: ConfirmableCallbacks;
}

export interface TransmissionParameters {
  ackTimeoutMs: number;
  ackRandomFactor: number;
  maxRetransmit: number;
}

export class Retransmitter {
  retransmissions = 0;
  giveUps = 0;
  private pending = 0;

  constructor(
    private readonly parameters: TransmissionParameters,
    private readonly send: (peer: Peer, bytes: Buffer) => void,
  ) {}

  /** Confirmable messages awaiting an ACK, over every peer. */
  get size(): number {
    return this.pending;
  }

  /** Sends `bytes` (a CON with `messageId`) now and retransmits it until ACK, RST or give-up. */
  start(peer: Peer, messageId: number, bytes: Buffer, callbacks: ConfirmableCallbacks): void {
    const p = this.parameters;
    const entry: AwaitingAck = {
      bytes,
      retransmissions: 0,
      timeoutMs: p.ackTimeoutMs * (1 + Math.random() * (p.ackRandomFactor - 1)),
      timer: null,
      callbacks,
    };
    const previous = peer.awaitingAck.get(messageId);
    if (previous !== undefined) this.stop(peer, messageId, previous);
    peer.awaitingAck.set(messageId, entry);
    this.pending++;
    this.arm(peer, messageId, entry);
    this.send(peer, bytes);
  }

  /** An ACK arrived for `messageId`; true if it was ours. */
  acknowledge(peer: Peer, messageId: number): boolean {
    const entry = peer.awaitingAck.get(messageId);
    if (entry === undefined) return false;
    this.stop(peer, messageId, entry);
    entry.callbacks.onAcknowledged?.();
    return true;
  }

  /** An RST arrived for `messageId`; true if it was ours. */
  reset(peer: Peer, messageId: number): boolean {
    const entry = peer.awaitingAck.get(messageId);
    if (entry === undefined) return false;
    this.stop(peer, messageId, entry);
    entry.callbacks.onReset?.();
    return true;
  }

  /** Stops every retransmission (server shutdown); no callback is called. */
  cancelAll(peers: Iterable<Peer>): void {
    for (const peer of peers) {
      for (const entry of peer.awaitingAck.values()) if (entry.timer !== null) clearTimeout(entry.timer);
      peer.awaitingAck.clear();
    }
    this.pending = 0;
  }

  private arm(peer: Peer, messageId: number, entry: AwaitingAck): void {
    entry.timer = setTimeout(() => this.expire(peer, messageId, entry), entry.timeoutMs);
    entry.timer.unref();
  }

  private expire(peer: Peer, messageId: number, entry: AwaitingAck): void {
    if (peer.awaitingAck.get(messageId) !== entry) return;
    if (entry.retransmissions < this.parameters.maxRetransmit) {
      entry.retransmissions++;
      entry.timeoutMs *= 2;
      this.retransmissions++;
      this.arm(peer, messageId, entry);
      this.send(peer, entry.bytes);
      return;
    }
    this.stop(peer, messageId, entry);
    this.giveUps++;
    entry.callbacks.onGiveUp?.();
  }

  private stop(peer: Peer, messageId: number, entry: AwaitingAck): void {
    if (entry.timer !== null) clearTimeout(entry.timer);
    entry.timer = null;
    peer.awaitingAck.delete(messageId);
    this.pending--;
  }
}
