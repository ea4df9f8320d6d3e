import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { OutboundSessionPersistence } from './outbound-session.js';

/**
 * Where a device keeps its outbound session state between runs.
 *
 * `save` must be durable when its promise resolves: the outbound session hands out a ciphertext only
 * after that, which is what makes index reuse after a crash impossible.
 */
export interface StateStore extends OutboundSessionPersistence {
  /** The last saved state, or undefined if none was ever saved. */
  load(): Promise<Uint8Array | undefined>;
}

/** Keeps the state in memory: for tests and throw-away sessions only (a restart loses it). */
export class MemoryStateStore implements StateStore {
  #state: Uint8Array | undefined;
  #saves = 0;

  /** How many times save was called. */
  get saves(): number {
    return this.#saves;
  }

  /** The last saved state (a copy). */
  get state(): Uint8Array | undefined {
    return this.#state === undefined ? undefined : Uint8Array.from(this.#state);
  }

  save(state: Uint8Array): void {
    this.#state = Uint8Array.from(state);
    this.#saves++;
  }

  async load(): Promise<Uint8Array | undefined> {
    return this.state;
  }
}

let temporarySequence = 0;

/**
 * One file holding the latest state, replaced atomically: write a temporary file in the same
 * directory, fsync it, rename it over the target, fsync the directory. A crash leaves either the old
 * or the new state, never a torn one. The file is created with mode 0600 (it contains secrets).
 */
export class FileStateStore implements StateStore {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  async load(): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await readFile(this.path));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async save(state: Uint8Array): Promise<void> {
    const directory = dirname(this.path);
    const temporary = join(directory, `.${basename(this.path)}.${process.pid}.${++temporarySequence}.tmp`);
    const file = await open(temporary, 'w', 0o600);
    try {
      await file.writeFile(state);
      await file.sync();
    } catch (error) {
      await file.close();
      await rm(temporary, { force: true });
      throw error;
    }
    await file.close();
    try {
      await rename(temporary, this.path);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
    await syncDirectory(directory);
  }
}

// The rename is durable only once the directory entry is; some platforms (Windows) cannot open a
// directory for fsync, and there rename is the best available.
async function syncDirectory(directory: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(directory, 'r');
    await handle.sync();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EBADF') throw error;
  } finally {
    await handle?.close();
  }
}
