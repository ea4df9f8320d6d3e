import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { E2EError } from '../../e2e/errors.js';
import { MegolmInboundSession } from '../../e2e/inbound-session.js';
import { parseMessage } from '../../e2e/megolm-message.js';
import { MegolmOutboundSession, type OutboundSessionPersistence } from '../../e2e/outbound-session.js';
import { decodeOutboundState, OUTBOUND_STATE_LENGTH } from '../../e2e/outbound-state.js';
import { FileStateStore, MemoryStateStore } from '../../e2e/state-store.js';

function indexOf(message: Uint8Array): number {
  return parseMessage(message).index;
}

/** Records every saved state, like a disk that keeps a history of writes. */
class RecordingStore implements OutboundSessionPersistence {
  readonly states: Buffer[] = [];
  save(state: Uint8Array): void {
    this.states.push(Buffer.from(state));
  }
}

describe('outbound session persistence', () => {
  let directory: string;

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'omap-e2e-'));
  });

  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('saves a state past index i before returning the message with index i', async () => {
    const store = new RecordingStore();
    const session = MegolmOutboundSession.create({ persistence: store });
    for (let i = 0; i < 5; i++) {
      const message = await session.encrypt(`m${i}`);
      const saved = decodeOutboundState(store.states.at(-1)!);
      expect(indexOf(message)).toBe(i);
      expect(saved.nextIndex).toBeGreaterThan(i);
    }
    expect(store.states).toHaveLength(5);
  });

  it('does not resolve encrypt until the save has resolved', async () => {
    let releaseSave: () => void = () => {};
    let saveCalls = 0;
    const session = MegolmOutboundSession.create({
      persistence: {
        save: () => {
          saveCalls++;
          return new Promise<void>((resolve) => {
            releaseSave = resolve;
          });
        },
      },
    });
    let resolved = false;
    const pending = session.encrypt('reading').then((message) => {
      resolved = true;
      return message;
    });
    // Let every queued callback run (a turn of the event loop, not a timed wait).
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(saveCalls).toBe(1);
    expect(resolved).toBe(false);
    releaseSave();
    expect(indexOf(await pending)).toBe(0);
    expect(resolved).toBe(true);
  });

  it('a restored session never reuses an index, even restored from the last save of a crash', async () => {
    const store = new MemoryStateStore();
    const original = MegolmOutboundSession.create({ persistence: store });
    const inbound = MegolmInboundSession.fromSessionKey(original.sessionKey());
    const used = new Set<number>();
    for (let i = 0; i < 7; i++) used.add(indexOf(await original.encrypt(`before ${i}`)));
    // Crash: the process dies, only the store survives.
    const restored = MegolmOutboundSession.restore(store.state!, { persistence: store });
    expect(restored.sessionId).toBe(original.sessionId);
    expect(restored.messageIndex).toBe(7);
    for (let i = 0; i < 3; i++) {
      const message = await restored.encrypt(`after ${i}`);
      const index = indexOf(message);
      expect(used.has(index)).toBe(false);
      used.add(index);
      // Same session, same key: the consumer keeps reading.
      expect(inbound.decrypt(message).plaintext.toString()).toBe(`after ${i}`);
    }
  });

  it('every state ever saved resumes past every index returned before it was written', async () => {
    const store = new RecordingStore();
    const session = MegolmOutboundSession.create({ persistence: store, reserve: 4 });
    const returnedBeforeSave: number[] = [];
    let highestReturned = -1;
    for (let i = 0; i < 23; i++) {
      const savesBefore = store.states.length;
      const index = indexOf(await session.encrypt(`m${i}`));
      if (store.states.length > savesBefore) returnedBeforeSave.push(highestReturned);
      highestReturned = index;
      const latest = decodeOutboundState(store.states.at(-1)!);
      expect(latest.nextIndex).toBeGreaterThan(index);
    }
    // reserve 4: one save per four messages.
    expect(store.states).toHaveLength(6);
    store.states.forEach((state, n) => {
      expect(decodeOutboundState(state).nextIndex).toBe(4 * (n + 1));
      expect(decodeOutboundState(state).nextIndex).toBeGreaterThan(returnedBeforeSave[n]!);
    });
    // A crash after message 22 restores at 24: index 23 is skipped, none is reused.
    const restored = MegolmOutboundSession.restore(store.states.at(-1)!);
    expect(indexOf(await restored.encrypt('after crash'))).toBe(24);
  });

  it('a failed save returns no ciphertext and burns the index', async () => {
    let failNext = true;
    const saved: Buffer[] = [];
    const session = MegolmOutboundSession.create({
      persistence: {
        save: async (state) => {
          if (failNext) {
            failNext = false;
            throw new Error('disk full');
          }
          saved.push(Buffer.from(state));
        },
      },
    });
    const inbound = MegolmInboundSession.fromSessionKey(session.sessionKey());
    const failure = await session.encrypt('lost').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(E2EError);
    expect((failure as E2EError).code).toBe('PERSISTENCE_FAILED');
    expect((failure as E2EError).cause).toBeInstanceOf(Error);
    const next = await session.encrypt('kept');
    expect(inbound.decrypt(next).messageIndex).toBe(1);
    expect(decodeOutboundState(saved[0]!).nextIndex).toBe(2);
  });

  it('concurrent encrypts get distinct indices and saves never go backwards', async () => {
    const store = new RecordingStore();
    const session = MegolmOutboundSession.create({ persistence: store });
    const messages = await Promise.all(Array.from({ length: 50 }, (_, i) => session.encrypt(`m${i}`)));
    const indices = messages.map(indexOf);
    expect(new Set(indices).size).toBe(50);
    expect(indices).toEqual(Array.from({ length: 50 }, (_, i) => i));
    const savedIndices = store.states.map((state) => decodeOutboundState(state).nextIndex);
    for (let i = 1; i < savedIndices.length; i++)
      expect(savedIndices[i]!).toBeGreaterThan(savedIndices[i - 1]!);
  });

  it('FileStateStore replaces the file atomically, mode 0600, no temporary files left', async () => {
    const path = join(directory, 'outbound.state');
    const store = new FileStateStore(path);
    expect(await store.load()).toBeUndefined();
    const session = MegolmOutboundSession.create({ persistence: store });
    await session.persist();
    for (let i = 0; i < 3; i++) await session.encrypt(`m${i}`);
    const loaded = await store.load();
    expect(loaded).toHaveLength(OUTBOUND_STATE_LENGTH);
    expect(decodeOutboundState(loaded!).nextIndex).toBe(3);
    expect(await readdir(directory)).toEqual(['outbound.state']);
    if (process.platform !== 'win32') expect((await stat(path)).mode & 0o777).toBe(0o600);

    const restored = MegolmOutboundSession.restore(loaded!, { persistence: store });
    const inbound = MegolmInboundSession.fromExport(
      MegolmInboundSession.fromSessionKey(restored.sessionKey()).exportAt(3),
    );
    expect(inbound.decrypt(await restored.encrypt('after restart')).messageIndex).toBe(3);
  });

  it('FileStateStore leaves the old state when the write fails', async () => {
    const path = join(directory, 'missing-dir', 'outbound.state');
    const store = new FileStateStore(path);
    await expect(store.save(new Uint8Array([1, 2, 3]))).rejects.toThrow();
    const good = new FileStateStore(join(directory, 'outbound.state'));
    await good.save(new Uint8Array([1]));
    await good.save(new Uint8Array([2, 2]));
    expect(await good.load()).toEqual(new Uint8Array([2, 2]));
  });

  it('rejects a corrupted or truncated state', () => {
    const session = MegolmOutboundSession.create();
    const state = session.snapshot();
    expect(() => MegolmOutboundSession.restore(state.subarray(1))).toThrow(E2EError);
    const wrongVersion = Buffer.from(state);
    wrongVersion[0] = 9;
    expect(() => MegolmOutboundSession.restore(wrongVersion)).toThrow(/BAD_SESSION_KEY/);
    const inconsistent = Buffer.from(state);
    inconsistent.writeUInt32BE(5, OUTBOUND_STATE_LENGTH - 4); // first index 5 > next index 0
    expect(() => MegolmOutboundSession.restore(inconsistent)).toThrow(/BAD_SESSION_KEY/);
  });
});
