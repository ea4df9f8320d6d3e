/**
 * The platform in one call: the management store (SQLite in the data folder, or PostgreSQL), token
 * keys, thing secrets, the services, the REST routes and the broker authorizer, wired together.
 *
 *   const platform = await createPlatform({ dataDir: './data', admin: { email, password } });
 *   const broker = createBroker({
 *     authorizer: platform.authorizer,
 *     payloadValidator: platform.payloadValidator ?? undefined,  // strict SenML channels
 *     http: { port: 8080 },
 *   });
 *   platform.attachBroker(broker);     // live invalidation: disconnects, subscription removal
 *   platform.mount(broker.http!);      // the REST API on the broker's HTTP front-end
 *   await broker.listen();
 */
import { join } from 'node:path';
import { ChangeFeed } from '../auth/change-feed.js';
import { KeyRing } from '../auth/key-ring.js';
import { type OAuthOptions, type OAuthRuntime, startOAuth } from '../auth/oauth/index.js';
import { DEFAULT_PASSWORD_COST, type PasswordCost, PasswordHasher } from '../auth/passwords.js';
import { PlatformAuthorizer } from '../auth/platform-authorizer.js';
import { PolicyEngine } from '../auth/policy.js';
import { SecretHalfVault } from '../auth/provisioning/keys.js';
import { loadOrCreateKeyFile, ThingSecrets } from '../auth/thing-secrets.js';
import { type TokenOptions, TokenService } from '../auth/tokens.js';
import type { CoapRoute } from '../broker/coap/extra-routes.js';
import type { Authorizer } from '../broker/core/authorizer.js';
import { openSqlStore, type SqlStore } from '../storage/sql/store.js';
import { type BrokerControl, BrokerEnforcer } from './broker-enforcer.js';
import type { RouteHost } from './http/host.js';
import { mountRoutes } from './http/mount.js';
import type { Route } from './http/route.js';
import { managementRoutes } from './routes/index.js';
import { mountOAuth } from './routes/oauth.js';
import { patRoutes } from './routes/oauth-pats.js';
import { provisioningRoutes, withRemoteAddress } from './routes/provisioning.js';
import { provisioningCoapRoutes } from './routes/provisioning-coap.js';
import { createServices, type Services } from './services/index.js';
import { ProvisioningService } from './services/provisioning.js';
import type { BootstrapResult, FirstAdmin } from './services/setup.js';
import { type SenmlCheck, StrictChannels } from './strict-channels.js';

export interface PlatformLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface PlatformOptions {
  /** `postgres://…` (OMAP_DATABASE_URL); absent: SQLite at `<dataDir>/omap.db`. */
  databaseUrl?: string;
  /** PostgreSQL schema to use (created when missing). Default: the server's search_path. */
  databaseSchema?: string;
  /** The data folder (SQLite file, thing secret key). Default `./data`. */
  dataDir?: string;
  /** The HMAC key of thing secrets (≥ 32 bytes). Default: `<dataDir>/thing-secret.key`, created once. */
  thingSecretKey?: Buffer;
  /** First start: create this SUPER administrator (else a one-time setup token is logged). */
  admin?: FirstAdmin;
  tokens?: Partial<TokenOptions>;
  passwordCost?: PasswordCost;
  /** Lifetime of a cached publish/subscribe decision, ms (changes invalidate earlier). Default 60 s. */
  decisionTtlMs?: number;
  logger?: PlatformLogger;
  version?: string;
  /**
   * Validates SenML for channels in strict mode (e.g. codecs' `checkStrict`, adapted); with it the
   * platform offers `payloadValidator` for the broker. Without it the flag is stored but not enforced.
   */
  senmlCheck?: SenmlCheck;
  /** OAuth 2.0 authorization server: clients, lifetimes, hot reload of client files (auth/oauth/README.md). */
  oauth?: OAuthOptions;
}

export interface Platform {
  readonly store: SqlStore;
  readonly services: Services;
  readonly authorizer: PlatformAuthorizer;
  readonly changes: ChangeFeed;
  readonly routes: readonly Route[];
  /** What the first start did: nothing, created the configured admin, or logged a setup token. */
  readonly bootstrap: BootstrapResult;
  /** The broker's `payloadValidator` for strict SenML channels (when `senmlCheck` was given). */
  readonly payloadValidator: StrictChannels | null;
  /** The OAuth 2.0 authorization server, its clients and the client-file watcher. */
  readonly oauth: OAuthRuntime;
  /** Device provisioning: registration keys, self-registration, re-provisioning (auth/provisioning). */
  readonly provisioning: ProvisioningService;
  /** CoAP resources of the platform (device provisioning), for `CoapOptions.routes`. */
  readonly coapRoutes: readonly CoapRoute[];
  /** Lets management changes reach the broker's live clients; returns a detach function. */
  attachBroker(broker: BrokerControl): () => void;
  /** Mounts the REST API (and /openapi.json) on a host. */
  mount(host: RouteHost): void;
  close(): Promise<void>;
}

const silent: PlatformLogger = { info() {}, warn() {}, error() {} };

export async function createPlatform(options: PlatformOptions = {}): Promise<Platform> {
  const logger = options.logger ?? silent;
  const dataDir = options.dataDir ?? './data';
  const store = await openSqlStore({
    ...(options.databaseUrl !== undefined && options.databaseUrl !== '' && { url: options.databaseUrl }),
    ...(options.databaseSchema !== undefined && { schema: options.databaseSchema }),
    file: join(dataDir, 'omap.db'),
  });
  try {
    const keys = await KeyRing.load(store.keys);
    const serverKey = options.thingSecretKey ?? loadOrCreateKeyFile(join(dataDir, 'thing-secret.key'));
    const secrets = new ThingSecrets(serverKey);
    const tokens = new TokenService(store.tokens, keys, options.tokens);
    const passwords = new PasswordHasher(options.passwordCost ?? DEFAULT_PASSWORD_COST);
    const changes = new ChangeFeed();
    const stopFollowing = tokens.follow(changes);
    const policy = new PolicyEngine(store);
    const services = createServices({ store, changes, policy }, { passwords, secrets, tokens, keys });
    const authorizer = new PlatformAuthorizer(store, secrets, tokens, policy, changes, {
      ...(options.decisionTtlMs !== undefined && { decisionTtlMs: options.decisionTtlMs }),
      onError: (err, context) => logger.error({ err, context }, 'authorization failed (refused)'),
    });
    // The compiler checks here that the platform authorizer fits the broker's interface.
    const asBrokerAuthorizer: Authorizer = authorizer;
    void asBrokerAuthorizer;
    const oauth = await startOAuth(
      { store, keys, tokens, passwords, changes, authorizer, logger },
      options.oauth,
    );
    // Pushed onto the management table itself so that /openapi.json (built from it) lists them.
    const routes = managementRoutes(services, options.version);
    routes.push(...patRoutes(oauth.server));
    const provisioning = new ProvisioningService(
      { store, changes, policy },
      secrets,
      new SecretHalfVault(serverKey),
    );
    routes.push(...provisioningRoutes(provisioning));
    const payloadValidator =
      options.senmlCheck === undefined ? null : await StrictChannels.load(store, changes, options.senmlCheck);
    const bootstrap = await services.setup.bootstrap(options.admin);
    if (bootstrap.state === 'awaiting-setup') {
      logger.warn(
        { setupToken: bootstrap.setupToken },
        'no administrator yet: POST /setup {"token", "email", "password"} with this one-time token creates one',
      );
    } else if (bootstrap.state === 'admin-created') {
      logger.info({ email: bootstrap.user.email }, 'first administrator created');
    }
    return {
      store,
      services,
      authorizer,
      changes,
      routes,
      bootstrap,
      payloadValidator,
      provisioning,
      coapRoutes: provisioningCoapRoutes(provisioning),
      attachBroker: (broker) => authorizer.attach(new BrokerEnforcer(broker, authorizer)),
      oauth,
      mount: (host) => {
        mountRoutes(withRemoteAddress(host), routes, {
          authenticate: async (token) => {
            const access = await oauth.bearer(token);
            return access === null ? null : services.sessions.actor(access);
          },
          logError: (err, context) => logger.error({ err, ...context }, 'management API error'),
        });
        mountOAuth(host, oauth.server, {
          logError: (err, context) => logger.error({ err, ...context }, 'OAuth endpoint error'),
        });
      },
      async close() {
        oauth.close();
        stopFollowing();
        payloadValidator?.close();
        authorizer.close();
        await store.close();
      },
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}
