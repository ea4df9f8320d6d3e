/**
 * What `omap serve` runs: the broker with every front-end, the management platform (store, REST API,
 * authorizer), and the storage path (codec pool → telemetry pipeline → embedded history or QuestDB),
 * plus the history reader on `GET /channels/<id>/messages`. The composition root: the only place
 * that knows all the layers.
 */
import type { TlsOptions } from 'node:tls';
import { createPlatform, type Platform } from '../admin/index.js';
import { allowAll, type ConnectRequest } from '../broker/core/authorizer.js';
import { parseAuthorization } from '../broker/http/auth.js';
import {
  type Broker,
  type BrokerLimits,
  type ClientInfo,
  createBroker,
  type ListeningAddresses,
  type Logger,
} from '../broker/index.js';
import { CodecPool, checkStrict } from '../codecs/index.js';
import { openTelemetry, type Telemetry } from '../storage/telemetry/index.js';
import { ChannelTap } from './channel-tap.js';
import { createMetrics } from './metrics.js';

export interface ServerOptions {
  host: string;
  mqttPort: number;
  mqtts: ({ port: number } & TlsOptions) | false;
  httpPort: number;
  maxHttpBodyBytes: number;
  coapPort: number;
  limits: Partial<BrokerLimits>;
  /** 'platform': clients authenticate against the management store; 'none': everyone may do everything. */
  auth: 'none' | 'platform';
  dataDir: string;
  databaseUrl: string;
  questdb: string;
  /** Store every channel message (SenML rows or whole messages) in the history. */
  storeMessages: boolean;
  /** Serve `GET /metrics` (Prometheus text format) on the HTTP port. */
  metrics: boolean;
  admin: { email: string; password: string } | undefined;
  /** OAuth: hot-reloaded client files and the external base URL of issuers. */
  oauth: { clientsDir: string; pollIntervalMs: number; publicUrl: string };
  logger: Logger;
  version: string;
}

export interface Server {
  readonly broker: Broker;
  readonly platform: Platform;
  readonly telemetry: Telemetry | null;
  readonly addresses: ListeningAddresses;
  /** Graceful: broker first (no new messages), then the storage path drains, then the stores close. */
  close(): Promise<void>;
}

export async function startServer(options: ServerOptions): Promise<Server> {
  const { logger } = options;
  const platform = await createPlatform({
    dataDir: options.dataDir,
    ...(options.databaseUrl !== '' && { databaseUrl: options.databaseUrl }),
    ...(options.admin !== undefined && { admin: options.admin }),
    logger,
    version: options.version,
    oauth: {
      ...(options.oauth.clientsDir !== '' && { clientsDir: options.oauth.clientsDir }),
      pollIntervalMs: options.oauth.pollIntervalMs,
      ...(options.oauth.publicUrl !== '' && { issuerBase: options.oauth.publicUrl }),
    },
    senmlCheck: (contentType, payload) => {
      const r = checkStrict(contentType, payload);
      return r.ok ? null : r.error.message;
    },
  });
  const closers: (() => Promise<void>)[] = [() => platform.close()];
  const closeAll = async (): Promise<void> => {
    for (const close of closers.splice(0).reverse()) {
      try {
        await close();
      } catch (err) {
        logger.error({ err }, 'shutdown step failed');
      }
    }
  };

  try {
    const broker = createBroker({
      host: options.host,
      mqtt: { port: options.mqttPort },
      mqtts: options.mqtts,
      http: { port: options.httpPort, maxBodyBytes: options.maxHttpBodyBytes },
      coap: { port: options.coapPort },
      logger,
      limits: options.limits,
      authorizer: options.auth === 'platform' ? platform.authorizer : allowAll,
      ...(platform.payloadValidator !== null && { payloadValidator: platform.payloadValidator }),
    });
    platform.attachBroker(broker);
    if (broker.http !== null) platform.mount(broker.http);
    // Device provisioning over CoAP, for devices that speak nothing else.
    if (broker.coap !== null) for (const route of platform.coapRoutes) broker.coap.frontEnd.route(route);

    let telemetry: Telemetry | null = null;
    let pool: CodecPool | null = null;
    if (options.storeMessages) {
      telemetry = await openTelemetry({
        dataDir: options.dataDir,
        ...(options.questdb !== '' && { questdb: options.questdb }),
        logger,
      });
      const sink = telemetry.sink;
      const codecs = new CodecPool({
        // Rows stay bytes from the codec worker to the store: the event loop builds no object per row.
        onEncoded: (part) => sink.writeEncoded(part),
        onError: (err) => logger.error({ err }, 'codec pool'),
      });
      pool = codecs;
      closers.push(async () => {
        await sink.close();
        // What the storage path did over the process's life: operators (and bench/storage/tap.ts) read it here.
        logger.info({ pool: codecs.stats, store: sink.stats() }, 'storage path closed');
      });
      closers.push(() => codecs.close());
      broker.addMessageTap(new ChannelTap(codecs).onMessages);
      const reader = telemetry.route;
      broker.http?.setHistoryHandler(async (request, reply) => {
        const channelId = reader.match(request.path);
        if (channelId === null) return reply.error(404, 'history is at /channels/<id>/messages');
        const client = await authenticateHttp(broker, request.headers.authorization, request.remoteAddress);
        if (client === null) return reply.error(401, 'missing or invalid credentials');
        const allowed = await broker.core.authorizer.authorizeSubscribe(
          client,
          `channels/${channelId}/messages/#`,
        );
        if (!allowed) return reply.error(403, `not allowed to read channel ${channelId}`);
        const r = await reader.handle(channelId, request.query);
        reply.json(r.status, r.body, r.headers);
      });
    }

    if (options.metrics && broker.http !== null) {
      const metrics = createMetrics({ broker, pool, telemetry });
      broker.http.route('get', '/metrics', async (_request, reply) => {
        reply.send(200, await metrics.scrape(), { 'Content-Type': metrics.contentType });
      });
    }

    const addresses = await broker.listen();
    closers.push(() => broker.close());
    if (options.auth === 'none') {
      logger.warn({}, 'auth is "none": every client that reaches these ports may publish and subscribe');
    }
    return { broker, platform, telemetry, addresses, close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** Authenticates an HTTP request's `Authorization` header with the broker's authorizer. */
async function authenticateHttp(
  broker: Broker,
  header: string | undefined,
  remoteAddress: string,
): Promise<ClientInfo | null> {
  const credentials = parseAuthorization(header ?? '');
  if (credentials === null) return null;
  const request: ConnectRequest = {
    clientId: `http-history-${remoteAddress}`,
    protocol: 'http',
    remoteAddress,
    ...credentials,
  };
  const result = await broker.core.authorizer.authenticate(request);
  if (!result.ok) return null;
  return {
    id: request.clientId,
    protocol: 'http',
    remoteAddress,
    ...(request.username !== undefined && { username: request.username }),
    ...(result.principal !== undefined && { principal: result.principal }),
  };
}
