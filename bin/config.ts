/**
 * The one typed configuration of `omap serve`: defaults < config file < OMAP_* environment < flags.
 *
 * The TypeBox schema is the single source: it gives the defaults, the type, the conversion of
 * environment strings and flag values, the validation errors and the documentation of each option.
 */
import { readFileSync } from 'node:fs';
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

const Port = (def: number, description: string) =>
  Type.Integer({ minimum: 0, maximum: 65_535, default: def, description });
const Positive = (def: number, description: string) =>
  Type.Integer({ minimum: 1, default: def, description });

export const ConfigSchema = Type.Object(
  {
    host: Type.String({
      default: '127.0.0.1',
      description: 'Address every listener binds to (0.0.0.0 for all).',
    }),
    mqttPort: Port(1883, 'MQTT over TCP; 0 picks a free port.'),
    httpPort: Port(
      8080,
      'HTTP publish, SSE, WebSocket, MQTT over WebSocket (/mqtt), health; 0 picks a free port.',
    ),
    coapPort: Port(5683, 'CoAP over UDP (IPv4; host :: for IPv6 too); 0 picks a free port.'),
    maxHttpBodyBytes: Positive(262_144, 'Largest HTTP publish body; larger ones get 413.'),
    dataDir: Type.String({ default: './data', description: 'Folder for SQLite files, the spool and keys.' }),
    logLevel: Type.Union(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
      { default: 'info', description: 'pino log level.' },
    ),
    auth: Type.Union([Type.Literal('none'), Type.Literal('platform')], {
      default: 'none',
      description:
        'Who may connect, publish, subscribe: `platform` (things and users of the management store) or `none` (everyone).',
    }),
    databaseUrl: Type.String({
      default: '',
      description: 'PostgreSQL URL for management data; empty: SQLite in the data folder.',
    }),
    questdb: Type.String({
      default: '',
      description:
        'QuestDB config string (e.g. http::addr=host:9000) for message history; empty: embedded SQLite.',
    }),
    storeMessages: Type.Boolean({ default: true, description: 'Store channel messages in the history.' }),
    metrics: Type.Boolean({
      default: true,
      description:
        'Serve GET /metrics (Prometheus text format: broker, storage path, process) on the HTTP port.',
    }),
    oauthClientsDir: Type.String({
      default: '',
      description: 'Watch this folder for omap/*.config.json OAuth client files (hot reload); empty: off.',
    }),
    oauthPollIntervalMs: Positive(2000, 'How often the OAuth client folder is scanned.'),
    publicUrl: Type.String({
      default: '',
      description:
        'External base URL (e.g. https://iot.example.com) for OAuth issuers; empty: from the Host header.',
    }),
    adminEmail: Type.String({ default: '', description: 'First start: create this SUPER administrator.' }),
    adminPassword: Type.String({
      default: '',
      description: 'Password of adminEmail (else a one-time setup token is logged).',
    }),
    maxPacketSize: Positive(1_048_576, 'Largest MQTT packet accepted, in bytes.'),
    maxOutboundBytes: Positive(1_048_576, 'Per-connection outbound buffer before QoS 0 is dropped.'),
    maxInflight: Positive(32, 'Unacknowledged QoS 1/2 messages per client.'),
    maxQueued: Positive(1000, 'QoS 1/2 messages queued per session beyond the in-flight window.'),
    connectTimeoutMs: Positive(10_000, 'Close sockets that send no CONNECT within this time.'),
    maxClientIdBytes: Positive(256, 'Longest client identifier.'),
    maxTopicLevels: Positive(128, 'Most levels in a topic name or filter.'),
    maxRetained: Positive(100_000, 'Most retained topics.'),
    maxConnections: Positive(100_000, 'Most simultaneous MQTT connections.'),
    receiveMaximum: Type.Integer({
      minimum: 1,
      maximum: 65_535,
      default: 1000,
      description: 'MQTT 5 Receive Maximum announced: unreleased inbound QoS 2 messages per client.',
    }),
    topicAliasMaximum: Type.Integer({
      minimum: 0,
      maximum: 65_535,
      default: 32,
      description: 'MQTT 5 inbound topic aliases per client (0 refuses aliases).',
    }),
    maxKeepaliveSeconds: Type.Integer({
      minimum: 1,
      maximum: 65_535,
      default: 65_535,
      description: 'Longest keepalive granted to MQTT 5 clients (Server Keep Alive).',
    }),
    maxSubscriptionsPerClient: Positive(10_000, 'Most subscriptions one client may hold.'),
    publishRatePerSecond: Type.Integer({
      minimum: 0,
      default: 0,
      description: 'PUBLISH packets per second per client before it is throttled (0: unlimited).',
    }),
    byteRatePerSecond: Type.Integer({
      minimum: 0,
      default: 0,
      description: 'Inbound bytes per second per client before it is throttled (0: unlimited).',
    }),
    mqttsPort: Port(8883, 'MQTT over TLS; listens only when tlsCert and tlsKey are set.'),
    tlsCert: Type.String({ default: '', description: 'PEM certificate (chain) file for MQTTS.' }),
    tlsKey: Type.String({ default: '', description: 'PEM private key file for MQTTS.' }),
    tlsCa: Type.String({ default: '', description: 'PEM CA file that client certificates must chain to.' }),
    tlsRequestClientCert: Type.Boolean({
      default: false,
      description: 'Require a client certificate signed by tlsCa (mTLS); the Authorizer sees it.',
    }),
    defaultSessionExpirySeconds: Type.Integer({
      minimum: 0,
      default: 7200,
      description: 'How long an MQTT 3.1.1 persistent session outlives its connection.',
    }),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
export type ConfigKey = keyof Config;

export class ConfigError extends Error {}

/** `maxPacketSize` → `OMAP_MAX_PACKET_SIZE`. */
export function envName(key: string): string {
  return `OMAP_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

/** `maxPacketSize` → `max-packet-size`. */
export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

export interface ConfigSources {
  file?: string;
  env?: NodeJS.ProcessEnv;
  flags?: Record<string, string>;
}

export function loadConfig(sources: ConfigSources = {}): Config {
  const keys = Object.keys(ConfigSchema.properties) as ConfigKey[];
  const merged: Record<string, unknown> = {};
  if (sources.file) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(sources.file, 'utf8'));
    } catch (err) {
      throw new ConfigError(`cannot read config file ${sources.file}: ${(err as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new ConfigError(`config file ${sources.file} must hold a JSON object`);
    }
    Object.assign(merged, parsed);
  }
  const env = sources.env ?? {};
  for (const key of keys) {
    const value = env[envName(key)];
    if (value !== undefined && value !== '') merged[key] = value;
  }
  const byFlag = new Map(keys.map((k) => [flagName(k), k]));
  for (const [flag, value] of Object.entries(sources.flags ?? {})) {
    const key = byFlag.get(flag);
    if (!key) throw new ConfigError(`unknown option --${flag}`);
    merged[key] = value;
  }
  const config = Value.Default(ConfigSchema, Value.Convert(ConfigSchema, merged));
  if (!Value.Check(ConfigSchema, config)) {
    const problems = [...Value.Errors(ConfigSchema, config)].map(
      (e) => `${e.path.slice(1) || '(root)'}: ${e.message}`,
    );
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  return config;
}
