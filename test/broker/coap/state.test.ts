/** The bounded state of the CoAP front-end: duplicate records, peers, rate buckets, Block1 reassembly. */
import { describe, expect, it } from 'vitest';
import { Block1Reassembly } from '../../../broker/coap/block1-reassembly.js';
import { DuplicateDetector, ExchangeState } from '../../../broker/coap/dedup.js';
import { PeerTable } from '../../../broker/coap/peers.js';
import { RateLimiter } from '../../../broker/coap/rate-limit.js';

describe('DuplicateDetector', () => {
  it('remembers until expiry and forgets the oldest at capacity', () => {
    const d = new DuplicateDetector(3);
    for (const k of ['a', 'b', 'c']) d.remember(k, 100, ExchangeState.Answered);
    expect(d.find('a', 50)).toBeDefined();
    d.remember('d', 100, ExchangeState.Answered);
    expect(d.find('a', 50)).toBeUndefined();
    expect(d.find('d', 50)).toBeDefined();
    expect(d.evicted).toBe(1);
    expect(d.find('b', 100)).toBeUndefined(); // expired
  });

  it('sweeps expired records from the front and keeps a key remembered again after expiry', () => {
    const d = new DuplicateDetector(4);
    d.remember('a', 10, ExchangeState.Answered);
    d.remember('b', 20, ExchangeState.Answered);
    expect(d.find('a', 15)).toBeUndefined(); // expired, dropped from the map
    const again = d.remember('a', 40, ExchangeState.Answered); // the ring still holds the old 'a'
    d.sweep(25); // drops the old 'a' slot and 'b', must not drop the new 'a'
    expect(d.size).toBe(1);
    expect(d.find('a', 30)).toBe(again);
    for (const k of ['x', 'y', 'z']) d.remember(k, 50, ExchangeState.Answered);
    expect(d.evicted).toBe(0);
    d.remember('w', 50, ExchangeState.Answered);
    expect(d.find('a', 30)).toBeUndefined();
    expect(d.evicted).toBe(1);
  });

  it('does not scan per insertion at capacity', () => {
    // A regression guard, not a benchmark: this takes well under a second; evicting by iterating the Map (which walks
    // the tombstones of earlier deletions) took 14 s here. The bound is loose for loaded CI machines.
    const d = new DuplicateDetector(50_000);
    const t = performance.now();
    for (let i = 0; i < 500_000; i++)
      d.remember(`peer#${i}`, Number.POSITIVE_INFINITY, ExchangeState.Answered);
    expect(performance.now() - t).toBeLessThan(10_000);
    expect(d.size).toBe(50_000);
  });
});

describe('PeerTable', () => {
  it('forgets idle peers first when full, never busy ones', () => {
    const limiter = new RateLimiter(0, 0);
    const table = new PeerTable(32, 1000, limiter);
    const busy = table.get('10.0.0.1', 1, 0);
    busy.observers = 1;
    for (let port = 2; port <= 32; port++) table.get('10.0.0.1', port, 0);
    expect(table.size).toBe(32);
    table.get('10.0.0.2', 1, 0);
    expect(table.size).toBeLessThanOrEqual(32);
    expect(table.get('10.0.0.1', 1, 0)).toBe(busy);
  });

  it('sweeps peers idle for longer than the idle time', () => {
    const table = new PeerTable(100, 1000, new RateLimiter(0, 0));
    table.get('::1', 5683, 0);
    table.get('::1', 5684, 900);
    table.sweep(1500);
    expect(table.size).toBe(1);
    expect([...table.values()][0]!.key).toBe('[::1]:5684');
  });

  it('counts message ids per peer, wrapping at 16 bits', () => {
    const peer = new PeerTable(10, 1000, new RateLimiter(0, 0)).get('1.2.3.4', 5, 0);
    const ids = Array.from({ length: 70_000 }, () => peer.nextMessageId());
    expect(Math.max(...ids)).toBe(0xffff);
    expect(ids[65_536]).toBe(ids[0]);
  });
});

describe('RateLimiter', () => {
  it('allows a burst, then the refill rate', () => {
    const limiter = new RateLimiter(10, 3);
    const bucket = { tokens: 0, refilledAt: 0 };
    limiter.fill(bucket, 0);
    expect([1, 2, 3, 4].map(() => limiter.take(bucket, 0))).toEqual([true, true, true, false]);
    expect(limiter.retryAfterSeconds(bucket)).toBe(1);
    expect(limiter.take(bucket, 99)).toBe(false);
    expect(limiter.take(bucket, 100)).toBe(true);
  });
});

describe('Block1Reassembly', () => {
  it('reassembles in order and refuses gaps, oversize and too many transfers', () => {
    const r = new Block1Reassembly(1, 100, 1000, 6);
    const block = (num: number, more: boolean) => ({ num, more, szx: 0 }); // 16-byte blocks
    expect(r.add('k', block(0, true), Buffer.alloc(16, 1), 42, 0).status).toBe('continue');
    expect(r.add('other', block(0, true), Buffer.alloc(16), 42, 0).status).toBe('busy');
    expect(r.add('k', block(1, true), Buffer.alloc(16, 2), 42, 0).status).toBe('continue');
    const done = r.add('k', block(2, false), Buffer.from([3]), 110, 0);
    expect(done).toMatchObject({ status: 'complete', contentFormat: 42, num: 2 });
    expect(done.status === 'complete' && [...done.payload]).toEqual([
      ...Array(16).fill(1),
      ...Array(16).fill(2),
      3,
    ]);
    expect(r.add('k', block(1, true), Buffer.alloc(16), 42, 0).status).toBe('incomplete');
    expect(r.add('k', block(0, true), Buffer.alloc(15), 42, 0).status).toBe('bad-block');
    const big = new Block1Reassembly(4, 40, 1000, 6);
    big.add('k', block(0, true), Buffer.alloc(16), 42, 0);
    big.add('k', block(1, true), Buffer.alloc(16), 42, 0);
    expect(big.add('k', block(2, true), Buffer.alloc(16), 42, 0).status).toBe('too-large');
    expect(big.size).toBe(0);
  });

  it('forgets a transfer after its timeout', () => {
    const r = new Block1Reassembly(4, 100, 50, 6);
    r.add('k', { num: 0, more: true, szx: 0 }, Buffer.alloc(16), 42, 0);
    expect(r.add('k', { num: 1, more: true, szx: 0 }, Buffer.alloc(16), 42, 60).status).toBe('incomplete');
    r.add('j', { num: 0, more: true, szx: 0 }, Buffer.alloc(16), 42, 0);
    r.sweep(100);
    expect(r.size).toBe(0);
  });
});
