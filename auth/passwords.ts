/**
 * Password hashing: argon2id with OWASP's minimum (m = 19 MiB, t = 2, p = 1) through @node-rs/argon2,
 * off the event loop. Hashes are PHC strings, so raising the cost later still verifies old hashes
 * (`needsRehash` tells when to upgrade at the next login).
 */
import { hash, verify } from '@node-rs/argon2';

export interface PasswordCost {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

export const DEFAULT_PASSWORD_COST: PasswordCost = { memoryCost: 19_456, timeCost: 2, parallelism: 1 };

export const MIN_PASSWORD_LENGTH = 8;

export class PasswordHasher {
  constructor(private readonly cost: PasswordCost = DEFAULT_PASSWORD_COST) {}

  hash(password: string): Promise<string> {
    return hash(password, { ...this.cost });
  }

  /** False for a wrong password and for a malformed hash alike. */
  async verify(passwordHash: string, password: string): Promise<boolean> {
    try {
      return await verify(passwordHash, password);
    } catch {
      return false;
    }
  }

  needsRehash(passwordHash: string): boolean {
    const m = /\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(passwordHash);
    if (!m) return true;
    return (
      Number(m[1]) < this.cost.memoryCost ||
      Number(m[2]) < this.cost.timeCost ||
      Number(m[3]) !== this.cost.parallelism
    );
  }
}

/** A hash that verifies no password: compared against when the user does not exist (equal timing). */
export const UNUSABLE_PASSWORD_HASH = '!';
