/**
 * Management changes that affect authorization, announced by the services after they commit and
 * acted on by the authorizer (cached decisions, live sessions). `publish` resolves once every
 * listener has finished, so an API call answers only after its effect is enforced on this node.
 * (Across nodes, the same events will travel over the cluster bus.)
 */

export type AuthorizationChange =
  /** The thing's secret changed: connections that used the old one end. */
  | { type: 'thing.secret-rotated'; thingId: string }
  /** The thing may no longer connect: its connections end and its sessions are discarded. */
  | { type: 'thing.disabled'; thingId: string }
  | { type: 'thing.deleted'; thingId: string }
  /** A connection was made, changed or removed. */
  | { type: 'connection.changed'; thingId: string; channelId: string }
  | { type: 'channel.deleted'; channelId: string }
  /** A channel was created or its settings (strict SenML) changed. */
  | { type: 'channel.changed'; channelId: string; strictSenml: boolean }
  /** Roles, direct permissions or memberships of one user changed. */
  | { type: 'user.grants-changed'; userId: string }
  | { type: 'user.disabled'; userId: string }
  | { type: 'user.deleted'; userId: string }
  | { type: 'tokens.revoked'; userId: string; tokenIds: readonly string[] }
  /** Something that may affect many users changed (a role's permissions, a share, an asset's channels). */
  | { type: 'grants.changed' };

export type ChangeListener = (change: AuthorizationChange) => void | Promise<void>;

export class ChangeFeed {
  private readonly listeners = new Set<ChangeListener>();

  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async publish(change: AuthorizationChange): Promise<void> {
    const results = await Promise.allSettled([...this.listeners].map(async (l) => l(change)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}
