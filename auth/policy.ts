/**
 * The policy engine: what a user may do with a channel or an asset, from their grants and the
 * asset shares that reach their organization. Things are simpler (a connection decides) and are
 * handled by the authorizer directly.
 */
import type { SqlStore } from '../storage/sql/store.js';
import { Grants } from './grants.js';
import { CAPABILITY_PERMISSION, type ShareCapability, shareAllows } from './share-roles.js';

export type MessageAction = 'publish' | 'subscribe';

export class PolicyEngine {
  constructor(private readonly store: SqlStore) {}

  async grantsOf(userId: string): Promise<Grants> {
    return new Grants(await this.store.roles.grantsOf(userId));
  }

  /** May a user with `grants` publish to / subscribe on this channel? */
  async channelAccess(
    grants: Grants,
    channel: { id: string; nodePath: string },
    action: MessageAction,
  ): Promise<boolean> {
    const permission = action === 'publish' ? 'messages.publish' : 'messages.subscribe';
    if (grants.covers(permission, channel.nodePath)) return true;
    const shares = await this.store.assets.shareGrantsForChannel(channel.id);
    return shares.some((s) => shareAllows(s.role, action) && grants.covers(permission, s.targetPath));
  }

  /** May a user with `grants` use `capability` on this asset (own organization or a share)? */
  async assetAccess(
    grants: Grants,
    asset: { id: string; nodePath: string },
    capability: ShareCapability,
  ): Promise<boolean> {
    const permission = CAPABILITY_PERMISSION[capability];
    if (grants.covers(permission, asset.nodePath)) return true;
    const shares = await this.store.assets.shareGrants(asset.id);
    return shares.some((s) => shareAllows(s.role, capability) && grants.covers(permission, s.targetPath));
  }
}
