/**
 * The broker side of live invalidation: turns the authorizer's requests (end these clients' sessions,
 * forget cached decisions, re-check subscriptions) into the broker's management calls, which reach
 * every protocol (MQTT over TCP/TLS/WebSocket, plain WebSocket, SSE).
 */
import type { PrincipalMatch, SessionEnforcer } from '../auth/session-enforcer.js';
import type { ClientInfo } from '../broker/core/authorizer.js';

/** The broker calls this needs (implemented by `Broker`). */
export interface BrokerControl {
  disconnectClients(match: (client: ClientInfo) => boolean, reason?: string): number;
  removeSubscriptions(match: (client: ClientInfo | undefined, filter: string) => boolean): number;
  invalidateAuthorizations(clientId?: string): void;
}

export interface SubscribeDecider {
  authorizeSubscribe(client: ClientInfo, filter: string): boolean | Promise<boolean>;
}

export class BrokerEnforcer implements SessionEnforcer {
  constructor(
    private readonly broker: BrokerControl,
    private readonly decider: SubscribeDecider,
  ) {}

  disconnect(match: PrincipalMatch, reason: string, discardSessions: boolean): number {
    const n = this.broker.disconnectClients((client) => match(client.principal), reason);
    // A disabled or deleted identity's persistent sessions stop receiving at once.
    if (discardSessions)
      this.broker.removeSubscriptions((client) => client !== undefined && match(client.principal));
    return n;
  }

  invalidate(_match: PrincipalMatch): void {
    // The broker caches publish decisions per client id; there is no lookup by principal, so every
    // client forgets them and asks again: unaffected principals are answered from the platform
    // authorizer's own cache (a Map lookup), so this costs little.
    this.broker.invalidateAuthorizations();
  }

  async recheckSubscriptions(
    match: PrincipalMatch,
    filter?: (topicFilter: string) => boolean,
  ): Promise<number> {
    const candidates = new Map<ClientInfo, string[]>();
    // First pass only collects (the predicate removes nothing): decisions may need the store.
    this.broker.removeSubscriptions((client, f) => {
      if (client !== undefined && match(client.principal) && (filter === undefined || filter(f))) {
        let list = candidates.get(client);
        if (!list) candidates.set(client, (list = []));
        list.push(f);
      }
      return false;
    });
    if (candidates.size === 0) return 0;
    const refused = new Map<ClientInfo, Set<string>>();
    for (const [client, filters] of candidates) {
      for (const f of filters) {
        let allowed: boolean;
        try {
          allowed = await this.decider.authorizeSubscribe(client, f);
        } catch {
          allowed = false;
        }
        if (!allowed) {
          let set = refused.get(client);
          if (!set) refused.set(client, (set = new Set()));
          set.add(f);
        }
      }
    }
    if (refused.size === 0) return 0;
    return this.broker.removeSubscriptions(
      (client, f) => client !== undefined && (refused.get(client)?.has(f) ?? false),
    );
  }
}
