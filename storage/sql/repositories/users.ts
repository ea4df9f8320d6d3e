/** Users (human or system) and their memberships of organization nodes. */
import { type Kysely, type Selectable, type SqlBool, sql } from 'kysely';
import type { Engine } from '../engine.js';
import { inScope, type ListOptions, listFilters, type Page, pageOf, type Scope } from '../filters.js';
import type { Database, EntityStatus, UserKind, UsersTable } from '../schema.js';
import { count, fromJson, iso, type JsonObject, now, toJson } from '../values.js';
import { type Audit, auditFields, type Versioned, versionedResult } from './audit-fields.js';

export interface User extends Audit {
  id: string;
  tenantId: string | null;
  kind: UserKind;
  email: string;
  name: string;
  status: EntityStatus;
  profile: JsonObject;
}

/** A user with the password hash, for login only. */
export interface UserCredentials extends User {
  passwordHash: string;
}

export interface NewUser {
  id: string;
  tenantId: string | null;
  kind: UserKind;
  email: string;
  name: string;
  passwordHash: string;
  status: EntityStatus;
  profile: JsonObject;
}

export interface Membership {
  userId: string;
  nodeId: string;
  nodePath: string;
  createdAt: string;
  createdBy: string | null;
}

function toUser(row: Selectable<UsersTable>): User {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    kind: row.kind,
    email: row.email,
    name: row.name,
    status: row.status,
    profile: fromJson(row.profile),
    ...auditFields(row),
  };
}

export class UsersRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly engine: Engine,
  ) {}

  async insert(user: NewUser, actor: string | null): Promise<User> {
    const at = now();
    const row = await this.db
      .insertInto('users')
      .values({
        id: user.id,
        tenant_id: user.tenantId,
        kind: user.kind,
        email: user.email,
        name: user.name,
        password_hash: user.passwordHash,
        status: user.status,
        profile: toJson(user.profile),
        version: 1,
        created_at: at,
        created_by: actor,
        updated_at: at,
        updated_by: actor,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toUser(row);
  }

  async get(id: string): Promise<User | undefined> {
    const row = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toUser(row);
  }

  async credentialsByEmail(email: string): Promise<UserCredentials | undefined> {
    const row = await this.db
      .selectFrom('users')
      .selectAll()
      .where('email', '=', email.toLowerCase())
      .executeTakeFirst();
    return row && { ...toUser(row), passwordHash: row.password_hash };
  }

  async count(): Promise<number> {
    const r = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirst();
    return count(r?.n);
  }

  /**
   * Users visible in `scope`: members of a node in it (or, for an unscoped caller, everyone).
   * `tenantId` narrows to one tenant's users.
   */
  async list(scope: Scope, options: ListOptions & { tenantId?: string }): Promise<Page<User>> {
    let q = this.db
      .selectFrom('users')
      .where(listFilters(this.engine, options, { name: 'users.name', metadata: 'users.profile' }));
    if (!('all' in scope)) {
      const inNodes = inScope({ paths: scope.paths }, 'n.path', 'n.id');
      q = q.where(
        sql<SqlBool>`exists (select 1 from memberships m join nodes n on n.id = m.node_id where m.user_id = users.id and ${inNodes})`,
      );
    }
    if (options.tenantId !== undefined) q = q.where('tenant_id', '=', options.tenantId);
    return pageOf(
      q.selectAll().orderBy('email').limit(options.limit).offset(options.offset).execute(),
      q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst(),
      toUser,
      options,
    );
  }

  async update(
    id: string,
    patch: { name?: string; profile?: JsonObject; status?: EntityStatus; passwordHash?: string },
    actor: string | null,
    expectedVersion?: number,
  ): Promise<Versioned<User>> {
    let q = this.db
      .updateTable('users')
      .set((eb) => ({
        ...(patch.name !== undefined && { name: patch.name }),
        ...(patch.profile !== undefined && { profile: toJson(patch.profile) }),
        ...(patch.status !== undefined && { status: patch.status }),
        ...(patch.passwordHash !== undefined && { password_hash: patch.passwordHash }),
        version: eb('version', '+', 1),
        updated_at: now(),
        updated_by: actor,
      }))
      .where('id', '=', id);
    if (expectedVersion !== undefined) q = q.where('version', '=', expectedVersion);
    return versionedResult(await q.returningAll().executeTakeFirst(), toUser, () => this.get(id));
  }

  async delete(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  // ---- memberships ----

  async addMembership(userId: string, nodeId: string, actor: string | null): Promise<void> {
    await this.db
      .insertInto('memberships')
      .values({ user_id: userId, node_id: nodeId, created_at: now(), created_by: actor })
      .onConflict((oc) => oc.columns(['user_id', 'node_id']).doNothing())
      .execute();
  }

  async removeMembership(userId: string, nodeId: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('memberships')
      .where('user_id', '=', userId)
      .where('node_id', '=', nodeId)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async memberships(userId: string): Promise<Membership[]> {
    const rows = await this.db
      .selectFrom('memberships as m')
      .innerJoin('nodes as n', 'n.id', 'm.node_id')
      .select(['m.user_id', 'm.node_id', 'n.path', 'm.created_at', 'm.created_by'])
      .where('m.user_id', '=', userId)
      .orderBy('n.path')
      .execute();
    return rows.map((r) => ({
      userId: r.user_id,
      nodeId: r.node_id,
      nodePath: r.path,
      createdAt: iso(r.created_at),
      createdBy: r.created_by,
    }));
  }

  async members(nodeId: string, options: { limit: number; offset: number }): Promise<Page<User>> {
    const q = this.db
      .selectFrom('users')
      .innerJoin('memberships as m', 'm.user_id', 'users.id')
      .where('m.node_id', '=', nodeId);
    return pageOf(
      q.selectAll('users').orderBy('users.email').limit(options.limit).offset(options.offset).execute(),
      q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst(),
      toUser,
      options,
    );
  }
}
