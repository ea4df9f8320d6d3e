/**
 * First start: the SYSTEM `super` role exists, and somebody can become the first administrator,
 * either from configuration (an email and password passed in) or, when none is configured, with a
 * one-time setup token that the server logs and that `POST /setup` consumes exactly once.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { PasswordHasher } from '../../auth/passwords.js';
import { PERMISSION_NAMES } from '../../auth/permissions.js';
import type { User } from '../../storage/sql/repositories/users.js';
import type { SqlStore } from '../../storage/sql/store.js';
import { newId, type ServiceContext } from './context.js';
import { ServiceError } from './errors.js';
import { checkPassword } from './users.js';

const SETUP_TOKEN = 'setup-token-sha256';
export const SUPER_ROLE_NAME = 'super';

export interface FirstAdmin {
  email: string;
  password: string;
  name?: string;
}

export type BootstrapResult =
  | { state: 'ready' }
  | { state: 'admin-created'; user: User }
  | { state: 'awaiting-setup'; setupToken: string };

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

export class SetupService {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly passwords: PasswordHasher,
  ) {}

  async bootstrap(admin?: FirstAdmin): Promise<BootstrapResult> {
    const store = this.ctx.store;
    const superRole = await this.ensureSuperRole(store);
    if ((await store.users.count()) > 0) return { state: 'ready' };
    if (admin !== undefined) {
      const user = await this.createAdmin(store, superRole, admin);
      return { state: 'admin-created', user };
    }
    // A new token at every start while nobody has set up the platform (the old one is replaced).
    const setupToken = randomBytes(24).toString('base64url');
    await store.settings.set(SETUP_TOKEN, sha256(setupToken).toString('hex'));
    return { state: 'awaiting-setup', setupToken };
  }

  /** Consumes the setup token and creates the first SUPER administrator. */
  async complete(token: string, admin: FirstAdmin): Promise<User> {
    checkPassword(admin.password);
    const store = this.ctx.store;
    const stored = await store.settings.get(SETUP_TOKEN);
    const presented = sha256(token);
    if (stored === undefined || !timingSafeEqual(presented, Buffer.from(stored, 'hex'))) {
      throw new ServiceError('unauthorized', 'invalid or used setup token');
    }
    if ((await store.settings.take(SETUP_TOKEN)) === undefined || (await store.users.count()) > 0) {
      throw new ServiceError('conflict', 'the platform is already set up');
    }
    const superRole = await this.ensureSuperRole(store);
    return this.createAdmin(store, superRole, admin);
  }

  private async ensureSuperRole(store: SqlStore): Promise<string> {
    const existing = await store.roles.findByName(null, SUPER_ROLE_NAME);
    if (existing !== undefined) {
      // New catalogue permissions reach the super role on upgrade.
      if (existing.permissions.length !== PERMISSION_NAMES.length) {
        await store.roles.update(existing.id, { permissions: PERMISSION_NAMES }, null);
      }
      return existing.id;
    }
    const id = newId();
    await store.roles.insert(
      {
        id,
        tenantId: null,
        nodeId: null,
        name: SUPER_ROLE_NAME,
        type: 'SUPER',
        isDefault: true,
        permissions: PERMISSION_NAMES,
      },
      null,
    );
    return id;
  }

  private async createAdmin(store: SqlStore, superRole: string, admin: FirstAdmin): Promise<User> {
    checkPassword(admin.password);
    const passwordHash = await this.passwords.hash(admin.password);
    return store.transaction(async (tx) => {
      const id = newId();
      const user = await tx.users.insert(
        {
          id,
          tenantId: null,
          kind: 'human',
          email: admin.email.toLowerCase(),
          name: admin.name ?? 'Administrator',
          passwordHash,
          status: 'enabled',
          profile: {},
        },
        null,
      );
      await tx.roles.assign(id, superRole, null);
      await tx.audit.append({
        actorId: null,
        tenantId: null,
        action: 'setup.admin',
        entityType: 'user',
        entityId: id,
        details: { email: user.email },
      });
      return user;
    });
  }
}
