/**
 * What the server remembers about each remote endpoint (address and port): its rate-limit bucket,
 * the message ids it is sent, its outstanding confirmable messages and its observers. The table is
 * bounded; idle peers are forgotten after EXCHANGE_LIFETIME, and when it is full the oldest idle peer
 * makes room (a peer with observers or messages in flight is never evicted).
 */
import type { RateLimiter, TokenBucket } from './rate-limit.js';
import type { AwaitingAck } from './retransmit.js';

/** Whoever sent a NON message and wants to hear of a Reset to it (an observer). */
export interface ResetListener {
  onReset(): void;
}

/** Message ids of the last few NON messages sent to a peer and who sent them, so a Reset finds its owner. */
export class RecentMessages<Owner> {
  private readonly ids = new Int32Array(16).fill(-1);
  private readonly owners: (Owner | undefined)[] = new Array(16);
  private next = 0;

  add(messageId: number, owner: Owner): void {
    this.ids[this.next] = messageId;
    this.owners[this.next] = owner;
    this.next = (this.next + 1) & 15;
  }

  find(messageId: number): Owner | undefined {
    for (let i = 0; i < 16; i++) if (this.ids[i] === messageId) return this.owners[i];
    return undefined;
  }

  /** Forgets an owner that has gone (so the ring does not keep it alive). */
  forget(owner: Owner): void {
    for (let i = 0; i < 16; i++) {
      if (this.owners[i] === owner) {
        this.owners[i] = undefined;
        this.ids[i] = -1;
      }
    }
  }
}

export class Peer implements TokenBucket {
  tokens = 0;
  refilledAt = 0;
  /** Observers registered by this peer. */
  observers = 0;
  /** Confirmable messages to this peer awaiting an ACK, by message id (owned by the Retransmitter). */
  readonly awaitingAck = new Map<number, AwaitingAck>();
  /** NON notifications recently sent to this peer (created with its first observer). */
  recent: RecentMessages<ResetListener> | null = null;
  lastActivity: number;
  private messageId = Math.floor(Math.random() * 0x1_0000);

  constructor(
    /** `1.2.3.4:5683` or `[::1]:5683`: unique per endpoint, and readable in logs. */
    readonly key: string,
    readonly address: string,
    readonly port: number,
    now: number,
  ) {
    this.lastActivity = now;
  }

  /**
   * The next message id for a message we originate. One counter per peer, so a peer sees a given id
   * again only after 65536 messages to it (RFC 7252 §4.4).
   */
  nextMessageId(): number {
    this.messageId = (this.messageId + 1) & 0xffff;
    return this.messageId;
  }

  get busy(): boolean {
    return this.observers > 0 || this.awaitingAck.size > 0;
  }
}

export function peerKey(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

export class PeerTable {
  private readonly peers = new Map<string, Peer>();

  constructor(
    private readonly maxPeers: number,
    private readonly idleMs: number,
    private readonly rateLimiter: RateLimiter,
  ) {}

  get size(): number {
    return this.peers.size;
  }

  /** The peer of a datagram's source, created (with a full rate bucket) on first contact. */
  get(address: string, port: number, now: number): Peer {
    const key = peerKey(address, port);
    let peer = this.peers.get(key);
    if (peer === undefined) {
      if (this.peers.size >= this.maxPeers) this.makeRoom();
      peer = new Peer(key, address, port, now);
      this.rateLimiter.fill(peer, now);
      this.peers.set(key, peer);
    } else {
      peer.lastActivity = now;
    }
    return peer;
  }

  /** Forgets idle peers; their state is what a fresh peer would get anyway, minus message-id continuity. */
  sweep(now: number): void {
    for (const [key, peer] of this.peers) {
      if (!peer.busy && now - peer.lastActivity > this.idleMs) this.peers.delete(key);
    }
  }

  values(): IterableIterator<Peer> {
    return this.peers.values();
  }

  clear(): void {
    this.peers.clear();
  }

  /**
   * Forgets the oldest idle peers, a sixteenth of the table at once: one pass over the Map's front per
   * batch keeps a flood of new (e.g. spoofed) sources from costing a scan per datagram. Busy peers are
   * kept; if every peer is busy the table grows past its bound, which the observer limits bound in turn.
   */
  private makeRoom(): void {
    let quota = Math.max(1, this.maxPeers >> 4);
    for (const [key, peer] of this.peers) {
      if (peer.busy) continue;
      this.peers.delete(key);
      if (--quota === 0) return;
    }
  }
}
