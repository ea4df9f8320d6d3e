import { describe, expect, it } from 'vitest';
import { InflightTable, MAX_PACKET_ID } from '../../../broker/core/inflight-table.js';

interface Entry {
  packetId: number;
  seq: number;
  name: string;
}
const entry = (name: string): Entry => ({ packetId: 0, seq: 0, name });

describe('InflightTable', () => {
  it('hands out packet ids in sequence, finds and forgets entries by id', () => {
    const t = new InflightTable<Entry>();
    expect(t.get(1)).toBeUndefined();
    expect(t.delete(1)).toBe(false);
    const ids = ['a', 'b', 'c'].map((n) => t.add(entry(n)));
    expect(ids).toEqual([1, 2, 3]);
    expect(t.size).toBe(3);
    expect(t.get(2)?.name).toBe('b');
    expect(t.delete(2)).toBe(true);
    expect(t.delete(2)).toBe(false);
    expect(t.get(2)).toBeUndefined();
    expect(t.size).toBe(2);
    expect(t.add(entry('d'))).toBe(4);
  });

  it('never reuses the id of an unacknowledged entry, across growth and wrap-around', () => {
    const t = new InflightTable<Entry>();
    const stuck = entry('stuck');
    const stuckId = t.add(stuck); // never acknowledged
    const live = new Map<number, Entry>([[stuckId, stuck]]);
    const window: number[] = [];
    const problems: string[] = [];
    // A sliding window of 40 entries over two wraps of the 16-bit id space.
    for (let i = 0; i < 2 * MAX_PACKET_ID; i++) {
      const e = entry(`m${i}`);
      const id = t.add(e);
      if (id < 1 || id > MAX_PACKET_ID || live.has(id)) problems.push(`${e.name} got ${id}`);
      live.set(id, e);
      window.push(id);
      if (window.length > 40) {
        const oldest = window.shift()!;
        if (!t.delete(oldest)) problems.push(`${oldest} not deleted`);
        live.delete(oldest);
      }
    }
    expect(problems).toEqual([]);
    expect(t.size).toBe(live.size);
    for (const [id, e] of live) expect(t.get(id)).toBe(e);
  });

  it('lists entries in the order they were added, whatever their ids', () => {
    const t = new InflightTable<Entry>();
    for (let i = 0; i < 20; i++) t.add(entry(`m${i}`));
    for (let i = 1; i <= 20; i += 2) t.delete(i); // m0, m2, ... gone
    for (let i = 20; i < 30; i++) t.add(entry(`m${i}`)); // grows the table and fills freed ids
    const names = t.inOrder().map((e) => e.name);
    expect(names).toEqual([
      ...Array.from({ length: 10 }, (_, i) => `m${2 * i + 1}`),
      ...Array.from({ length: 10 }, (_, i) => `m${20 + i}`),
    ]);
    t.clear();
    expect(t.size).toBe(0);
    expect(t.inOrder()).toEqual([]);
    expect(t.add(entry('again'))).toBe(1);
  });

  it('holds every packet id at once', () => {
    const t = new InflightTable<Entry>();
    for (let i = 0; i < MAX_PACKET_ID; i++) t.add(entry(`m${i}`));
    expect(t.size).toBe(MAX_PACKET_ID);
    expect(t.get(MAX_PACKET_ID)?.name).toBe(`m${MAX_PACKET_ID - 1}`);
    expect(t.delete(777)).toBe(true);
    expect(t.add(entry('last'))).toBe(777);
  });
});
