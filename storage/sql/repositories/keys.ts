/** Token signing keys (private key as PKCS#8 PEM, public key as JWK) and small named settings. */
import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import { iso, isoOrNull, now } from '../values.js';

export interface SigningKeyRecord {
  kid: string;
  alg: string;
  privateKey: string;
  publicJwk: string;
  createdAt: string;
  retiredAt: string | null;
}

export class KeysRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(key: Omit<SigningKeyRecord, 'createdAt' | 'retiredAt'>): Promise<void> {
    await this.db
      .insertInto('signing_keys')
      .values({
        kid: key.kid,
        alg: key.alg,
        private_key: key.privateKey,
        public_jwk: key.publicJwk,
        created_at: now(),
        retired_at: null,
      })
      .execute();
  }

  /** Keys not retired, newest first (the first signs; all verify). */
  async active(): Promise<SigningKeyRecord[]> {
    const rows = await this.db
      .selectFrom('signing_keys')
      .selectAll()
      .where('retired_at', 'is', null)
      .orderBy('created_at', 'desc')
      .execute();
    return rows.map((r) => ({
      kid: r.kid,
      alg: r.alg,
      privateKey: r.private_key,
      publicJwk: r.public_jwk,
      createdAt: iso(r.created_at),
      retiredAt: isoOrNull(r.retired_at),
    }));
  }

  async retire(kid: string): Promise<void> {
    await this.db.updateTable('signing_keys').set({ retired_at: now() }).where('kid', '=', kid).execute();
  }
}

export class SettingsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async get(name: string): Promise<string | undefined> {
    const r = await this.db
      .selectFrom('settings')
      .select('value')
      .where('name', '=', name)
      .executeTakeFirst();
    return r?.value;
  }

  async set(name: string, value: string): Promise<void> {
    await this.db
      .insertInto('settings')
      .values({ name, value })
      .onConflict((oc) => oc.column('name').doUpdateSet({ value }))
      .execute();
  }

  /** Inserts only if absent; true when this call wrote it (a race-free "first one wins"). */
  async setIfAbsent(name: string, value: string): Promise<boolean> {
    const r = await this.db
      .insertInto('settings')
      .values({ name, value })
      .onConflict((oc) => oc.column('name').doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  /** Deletes and returns the value, once (a one-time token is consumed by exactly one caller). */
  async take(name: string): Promise<string | undefined> {
    const r = await this.db
      .deleteFrom('settings')
      .where('name', '=', name)
      .returning('value')
      .executeTakeFirst();
    return r?.value;
  }
}
