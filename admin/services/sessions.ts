/**
 * Logging in and out, and turning a bearer token into an Actor.
 *
 * Two doors, as in the product documents: humans log in interactively (`login`) and hold one live
 * token: a new login revokes the previous one at once (live MQTT sessions using it are ended);
 * system users get API tokens (`apiToken`), as many as they need, each with its own lifetime.
 * Neither door opens for the other kind.
 */
import { type PasswordHasher, UNUSABLE_PASSWORD_HASH } from '../../auth/passwords.js';
import type { IssuedToken, TokenService } from '../../auth/tokens.js';
import type { UserKind } from '../../storage/sql/schema.js';
import { Actor } from './actor.js';
import { audit, type ServiceContext } from './context.js';
import { ServiceError } from './errors.js';

const BAD_LOGIN = new ServiceError('unauthorized', 'wrong email or password');

export class SessionService {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly passwords: PasswordHasher,
    readonly tokens: TokenService,
  ) {}

  /** Interactive login of a human user: revokes their previous token. */
  login(email: string, password: string): Promise<IssuedToken> {
    return this.issue(email, password, 'human');
  }

  /** API login of a system user: one more token. */
  apiToken(email: string, password: string): Promise<IssuedToken> {
    return this.issue(email, password, 'system');
  }

  private async issue(email: string, password: string, kind: UserKind): Promise<IssuedToken> {
    const store = this.ctx.store;
    const user = await store.users.credentialsByEmail(email);
    // Verify against a dummy hash for unknown users, so timing does not tell which emails exist.
    const ok = await this.passwords.verify(user?.passwordHash ?? UNUSABLE_PASSWORD_HASH, password);
    if (user === undefined || !ok) throw BAD_LOGIN;
    if (user.status !== 'enabled') throw new ServiceError('forbidden', 'this user is disabled');
    if (user.kind !== kind) {
      throw new ServiceError(
        'forbidden',
        kind === 'human'
          ? 'system users log in through POST /auth/tokens'
          : 'human users log in through POST /auth/login',
      );
    }
    if (this.passwords.needsRehash(user.passwordHash)) {
      await store.users.update(user.id, { passwordHash: await this.passwords.hash(password) }, user.id);
    }
    const { issued, revoked } = await store.transaction(async (tx) => {
      const revoked = kind === 'human' ? await tx.tokens.revokeAll(user.id) : [];
      const issued = await this.tokens.issue(user, kind === 'human' ? 'login' : 'api', tx.tokens);
      await tx.audit.append({
        actorId: user.id,
        tenantId: user.tenantId,
        action: kind === 'human' ? 'auth.login' : 'auth.token',
        entityType: 'user',
        entityId: user.id,
        details: { revokedTokens: revoked.length },
      });
      return { issued, revoked };
    });
    if (revoked.length > 0) {
      await this.ctx.changes.publish({ type: 'tokens.revoked', userId: user.id, tokenIds: revoked });
    }
    return issued;
  }

  /** Revokes the token the actor called with. */
  async logout(actor: Actor): Promise<void> {
    await this.ctx.store.transaction(async (tx) => {
      await tx.tokens.revoke(actor.tokenId);
      await audit(tx, actor, 'auth.logout', { type: 'user', id: actor.userId, tenantId: actor.tenantId });
    });
    await this.ctx.changes.publish({
      type: 'tokens.revoked',
      userId: actor.userId,
      tokenIds: [actor.tokenId],
    });
  }

  /** The caller behind a bearer token, or null when the token is invalid, revoked or its user disabled. */
  async actor(token: string): Promise<Actor | null> {
    const claims = await this.tokens.verify(token);
    if (claims === null) return null;
    const user = await this.ctx.store.users.get(claims.userId);
    if (user === undefined || user.status !== 'enabled') return null;
    const grants = await this.ctx.policy.grantsOf(user.id);
    return new Actor(user.id, user.tenantId, user.kind, claims.tokenId, grants);
  }
}
