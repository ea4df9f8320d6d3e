/**
 * The OAuth 2.0 authorization server, wired: client registry (from options and, when enabled, a
 * hot-reloaded folder), the server, and the PAT hook of the broker authorizer.
 */

import type { SqlStore } from '../../storage/sql/store.js';
import type { ChangeFeed } from '../change-feed.js';
import type { KeyRing } from '../key-ring.js';
import type { PasswordHasher } from '../passwords.js';
import type { PlatformAuthorizer } from '../platform-authorizer.js';
import type { TokenService } from '../tokens.js';
import { type ClientFile, ClientRegistry, parseClientFile } from './clients.js';
import { OAuthServer, type OAuthServerOptions, PAT_PREFIX } from './server.js';
import { ClientWatcher } from './watcher.js';

export * from './clients.js';
export * from './server.js';
export * from './watcher.js';

export interface OAuthOptions extends Partial<OAuthServerOptions> {
  /** Client files given in code (each like a `*.config.json`). */
  clients?: ClientFile[];
  /** Hot reload: watch this folder for `omap/*.config.json` files. Off when absent. */
  clientsDir?: string;
  /** Polling interval of the folder, ms. Default 2000. */
  pollIntervalMs?: number;
}

export interface OAuthRuntime {
  readonly server: OAuthServer;
  readonly clients: ClientRegistry;
  /** The folder watcher (when `clientsDir` was given). */
  readonly watcher: ClientWatcher | null;
  /** The caller's access token for a bearer credential: PATs are exchanged, anything else is returned as is. */
  bearer(token: string): Promise<string | null>;
  close(): void;
}

export interface OAuthDeps {
  store: SqlStore;
  keys: KeyRing;
  tokens: TokenService;
  passwords: PasswordHasher;
  changes: ChangeFeed;
  authorizer: PlatformAuthorizer;
  logger: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
}

export async function startOAuth(deps: OAuthDeps, options: OAuthOptions = {}): Promise<OAuthRuntime> {
  const clients = new ClientRegistry();
  (options.clients ?? []).forEach((file, i) => {
    const { tenantId, clients: list } = parseClientFile(file, `options.clients[${i}]`);
    clients.set(`options.clients[${i}]`, tenantId, list);
  });
  const { clients: _c, clientsDir, pollIntervalMs, ...serverOptions } = options;
  const server = new OAuthServer(
    deps.store,
    deps.keys,
    deps.tokens,
    deps.passwords,
    deps.changes,
    clients,
    serverOptions,
  );
  deps.authorizer.patExchange = (text) => server.exchangePat(text);
  let watcher: ClientWatcher | null = null;
  if (clientsDir !== undefined) {
    watcher = new ClientWatcher(clients, {
      root: clientsDir,
      ...(pollIntervalMs !== undefined && { pollIntervalMs }),
      logger: deps.logger,
    });
    await watcher.start();
  }
  return {
    server,
    clients,
    watcher,
    bearer: (token) => (token.startsWith(PAT_PREFIX) ? server.exchangePat(token) : Promise.resolve(token)),
    close() {
      watcher?.stop();
      server.close();
      deps.authorizer.patExchange = null;
    },
  };
}
