/**
 * Who a connected client is, as the platform authorizer returns it from `authenticate` (the broker
 * hands it back with every publish and subscribe): a thing, or a user holding a token. It also
 * carries that identity's cached decisions, shared by all its connections, so the hot path is one
 * Map lookup on the object the broker already holds.
 */
import type { UserKind } from '../storage/sql/schema.js';
import type { Grants } from './grants.js';

/** A channel's rights for this principal, as last evaluated. */
export interface ChannelRights {
  publish: boolean;
  subscribe: boolean;
  /** ms since the epoch. */
  expires: number;
}

export class PlatformPrincipal {
  /** Credentials revoked (secret rotated, disabled, token revoked): every decision is a denial. */
  revoked = false;
  /** Bumped on every invalidation so that an evaluation in flight then is not cached. */
  generation = 0;
  /** Publish decisions by topic: +expiry when allowed, -expiry when denied. */
  readonly publishDecisions = new Map<string, number>();
  /** Subscribe decisions by filter, same encoding. */
  readonly subscribeDecisions = new Map<string, number>();
  /** Rights by channel id ('' = topics outside any channel). */
  readonly channels = new Map<string, ChannelRights>();
  /** A user's evaluated grants, with their expiry. */
  grants: { value: Grants; expires: number } | null = null;

  constructor(
    readonly kind: 'thing' | 'user',
    readonly id: string,
    readonly tenantId: string | null,
    /** Registry key: `thing:<id>` or `token:<jti>`. */
    readonly key: string,
    readonly userKind: UserKind | null = null,
    /** Token expiry, ms since the epoch (users); decisions never outlive it. */
    readonly expiresAt = Number.POSITIVE_INFINITY,
  ) {}

  /** Forgets every cached decision. */
  clear(): void {
    this.generation++;
    this.publishDecisions.clear();
    this.subscribeDecisions.clear();
    this.channels.clear();
    this.grants = null;
  }

  revoke(): void {
    this.revoked = true;
    this.clear();
  }
}

export function isPlatformPrincipal(value: unknown): value is PlatformPrincipal {
  return value instanceof PlatformPrincipal;
}
