/**
 * Thing secrets: 256 random bits shown once, stored as HMAC-SHA-256 under a server key. A keyed
 * hash, not a slow one: a secret of this entropy cannot be guessed, so the cost of argon2 on every
 * CONNECT would buy nothing; the key means a stolen database alone cannot confirm a secret. The
 * hash is also the lookup key for `Thing <secret>` and CoAP `?auth=` (no thing id presented).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export const THING_SECRET_BYTES = 32;

export class ThingSecrets {
  private readonly key: Buffer;

  constructor(key: Buffer) {
    if (key.length < 32) throw new RangeError('the thing secret key must be at least 32 bytes');
    this.key = Buffer.from(key);
  }

  /** A new secret (base64url, 43 characters). */
  generate(): string {
    return randomBytes(THING_SECRET_BYTES).toString('base64url');
  }

  /** The keyed hash stored for `secret` (hex). */
  hash(secret: string | Buffer): string {
    return createHmac('sha256', this.key).update(secret).digest('hex');
  }

  /** Constant-time comparison of a presented secret with a stored hash. */
  matches(secret: string | Buffer, storedHash: string): boolean {
    const presented = Buffer.from(this.hash(secret), 'hex');
    const stored = Buffer.from(storedHash, 'hex');
    return presented.length === stored.length && timingSafeEqual(presented, stored);
  }
}

/**
 * The server key from a file, created (0600) with 32 random bytes when missing. Installations with
 * several nodes give every node the same key (the same file, or `OMAP_THING_SECRET_KEY`).
 */
export function loadOrCreateKeyFile(file: string): Buffer {
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    try {
      writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
      chmodSync(file, 0o600);
    } catch (err) {
      // Another process created it first: use theirs.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length < 32) throw new RangeError(`${file} must hold at least 32 bytes (base64)`);
  return key;
}
