/**
 * Block1 (RFC 7959 §2.5): reassembly of uploads sent in blocks. A transfer is keyed by the peer, the
 * URI path and the Request-Tag (RFC 9175), never by the token: a client may use a new token for every
 * block, and libcoap does. Blocks must arrive in order; a resend of the last block is acknowledged again.
 * Bounded: at most `maxTransfers` uploads at once, each at most `maxPayloadBytes`, each forgotten
 * `timeoutMs` after its last block.
 */
import { type BlockValue, blockSizeOf } from './block-option.js';

export type Block1Outcome =
  /** Answer 2.31 Continue with Block1 (num, M=1, szx). */
  | { status: 'continue'; num: number; szx: number }
  /** The last block: publish `payload`, answer with Block1 (num, M=0, szx). */
  | { status: 'complete'; payload: Buffer; contentFormat: number; num: number; szx: number }
  /** 4.08 Request Entity Incomplete: a block out of order, or no transfer to continue. */
  | { status: 'incomplete' }
  /** 4.13 Request Entity Too Large. */
  | { status: 'too-large' }
  /** 4.00: a block whose size does not match its SZX. */
  | { status: 'bad-block' }
  /** 5.03: too many uploads in progress. */
  | { status: 'busy' };

interface Upload {
  chunks: Buffer[];
  received: number;
  contentFormat: number;
  expiresAt: number;
}

export class Block1Reassembly {
  private readonly uploads = new Map<string, Upload>();

  constructor(
    private readonly maxTransfers: number,
    private readonly maxPayloadBytes: number,
    private readonly timeoutMs: number,
    /** Largest SZX we ask for; a client starting bigger is told to continue with this one. */
    private readonly maxSzx: number,
  ) {}

  get size(): number {
    return this.uploads.size;
  }

  add(key: string, block: BlockValue, payload: Buffer, contentFormat: number, now: number): Block1Outcome {
    const size = blockSizeOf(block.szx);
    if (block.more && payload.length !== size) return { status: 'bad-block' };
    if (block.num === 0) return this.start(key, block, payload, contentFormat, now);

    const upload = this.uploads.get(key);
    if (upload === undefined || upload.expiresAt <= now) {
      this.uploads.delete(key);
      return { status: 'incomplete' };
    }
    const offset = block.num * size;
    if (offset !== upload.received) {
      if (block.more && offset + payload.length === upload.received) {
        return { status: 'continue', num: block.num, szx: block.szx };
      }
      this.uploads.delete(key);
      return { status: 'incomplete' };
    }
    if (upload.received + payload.length > this.maxPayloadBytes) {
      this.uploads.delete(key);
      return { status: 'too-large' };
    }
    upload.chunks.push(Buffer.from(payload));
    upload.received += payload.length;
    upload.expiresAt = now + this.timeoutMs;
    if (block.more) return { status: 'continue', num: block.num, szx: block.szx };
    this.uploads.delete(key);
    return {
      status: 'complete',
      payload: Buffer.concat(upload.chunks, upload.received),
      contentFormat: upload.contentFormat,
      num: block.num,
      szx: block.szx,
    };
  }

  private start(
    key: string,
    block: BlockValue,
    payload: Buffer,
    contentFormat: number,
    now: number,
  ): Block1Outcome {
    this.uploads.delete(key); // block 0 (re)starts the transfer
    if (!block.more) {
      if (payload.length > this.maxPayloadBytes) return { status: 'too-large' };
      return { status: 'complete', payload: Buffer.from(payload), contentFormat, num: 0, szx: block.szx };
    }
    // A bigger block than we like is kept whole; answering with our SZX asks for smaller ones from
    // now on, and the client continues at the same byte offset (RFC 7959 §2.5, Figure 6).
    const szx = Math.min(block.szx, this.maxSzx);
    if (payload.length > this.maxPayloadBytes) return { status: 'too-large' };
    if (this.uploads.size >= this.maxTransfers) {
      this.sweep(now);
      if (this.uploads.size >= this.maxTransfers) return { status: 'busy' };
    }
    this.uploads.set(key, {
      chunks: [Buffer.from(payload)],
      received: payload.length,
      contentFormat,
      expiresAt: now + this.timeoutMs,
    });
    return { status: 'continue', num: 0, szx };
  }

  sweep(now: number): void {
    for (const [key, upload] of this.uploads) if (upload.expiresAt <= now) this.uploads.delete(key);
  }

  clear(): void {
    this.uploads.clear();
  }
}
