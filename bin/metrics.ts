/**
 * `GET /metrics` in the Prometheus text format (prom-client): the broker's counters, the storage path (codec pool
 * and telemetry pipeline: lag, spool, retries, shed and dropped rows) and the process (event-loop lag, heap, GC).
 * Every value is read from the components' own `stats` when scraped, once per scrape (the broker's walks every
 * session): nothing is counted on the hot path for it.
 * Aggregates only (no client ids, topics or tenants), so the endpoint carries no tenant's data.
 */
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { Broker, BrokerStats } from '../broker/index.js';
import type { CodecPool, CodecPoolStats } from '../codecs/index.js';
import type { Telemetry, TelemetryStats } from '../storage/telemetry/index.js';

export interface MetricsSources {
  broker: Broker;
  pool: CodecPool | null;
  telemetry: Telemetry | null;
}

export interface Metrics {
  readonly contentType: string;
  /** The exposition text, every value read from one snapshot of the sources. */
  scrape(): Promise<string>;
}

interface Snapshot {
  broker: BrokerStats;
  pool: CodecPoolStats | null;
  store: TelemetryStats | null;
}

/**
 * One metric: a gauge is set to the value; a counter mirrors a total the component keeps. `read` returns null when
 * the source is absent (storage off): the metric is then left out of the scrape's values.
 */
type MetricSpec = [
  kind: 'gauge' | 'counter',
  name: string,
  help: string,
  read: (s: Snapshot) => number | null,
];

const broker = (read: (s: BrokerStats) => number) => (s: Snapshot) => read(s.broker);
const pool = (read: (s: CodecPoolStats) => number) => (s: Snapshot) =>
  s.pool === null ? null : read(s.pool);
const store = (read: (s: TelemetryStats) => number) => (s: Snapshot) =>
  s.store === null ? null : read(s.store);

const METRICS: MetricSpec[] = [
  [
    'gauge',
    'omap_mqtt_connections',
    'Open MQTT connections (TCP, TLS and WebSocket).',
    broker((s) => s.connections),
  ],
  ['gauge', 'omap_sessions', 'Sessions, live and persistent.', broker((s) => s.sessions)],
  ['gauge', 'omap_subscriptions', 'Subscriptions in the topic index.', broker((s) => s.subscriptions)],
  ['gauge', 'omap_retained_messages', 'Retained messages.', broker((s) => s.retained)],
  [
    'gauge',
    'omap_dropped_qos0_deliveries',
    'QoS 0 deliveries dropped for congested subscribers (live sessions).',
    broker((s) => s.droppedQos0),
  ],
  [
    'gauge',
    'omap_dropped_queue_overflow_deliveries',
    'QoS 1/2 deliveries dropped because a session queue was full (live sessions).',
    broker((s) => s.droppedOverflow),
  ],
  [
    'counter',
    'omap_mqtt_malformed_packets_total',
    'Malformed MQTT packets (connection closed).',
    broker((s) => s.malformed),
  ],
  [
    'counter',
    'omap_mqtt_too_large_packets_total',
    'MQTT packets over the maximum size.',
    broker((s) => s.tooLarge),
  ],
  [
    'counter',
    'omap_mqtt_keepalive_timeouts_total',
    'Connections closed by keep-alive.',
    broker((s) => s.keepaliveTimeouts),
  ],
  [
    'counter',
    'omap_mqtt_connect_timeouts_total',
    'Connections without CONNECT in time.',
    broker((s) => s.connectTimeouts),
  ],
  ['counter', 'omap_mqtt_tls_errors_total', 'TLS handshake failures.', broker((s) => s.tlsErrors)],
  [
    'counter',
    'omap_mqtt_refused_connections_total',
    'Connections refused (limit).',
    broker((s) => s.refusedConnections),
  ],
  [
    'counter',
    'omap_mqtt_throttled_total',
    'Times a client was throttled by its rate limit.',
    broker((s) => s.throttled),
  ],
  [
    'counter',
    'omap_mqtt_expired_credentials_total',
    'Connections closed because their credentials expired.',
    broker((s) => s.expiredCredentials),
  ],

  [
    'counter',
    'omap_storage_messages_accepted_total',
    'Messages the storage tap took.',
    pool((s) => s.accepted),
  ],
  [
    'counter',
    'omap_storage_messages_shed_total',
    'Messages the storage path shed under overload (forwarding is never slowed for storage).',
    pool((s) => s.droppedOverload),
  ],
  [
    'counter',
    'omap_storage_messages_failed_total',
    'Messages lost to a failed codec worker.',
    pool((s) => s.failed),
  ],
  [
    'counter',
    'omap_storage_invalid_senml_total',
    'Messages with invalid SenML (dead letters).',
    pool((s) => s.invalid),
  ],
  [
    'gauge',
    'omap_storage_batches_in_flight',
    'Codec batches at workers or the store.',
    pool((s) => s.inFlight),
  ],

  [
    'counter',
    'omap_storage_rows_accepted_total',
    'Rows accepted by the telemetry pipeline.',
    store((s) => s.acceptedRows),
  ],
  [
    'counter',
    'omap_storage_rows_written_total',
    'Rows acknowledged by the store.',
    store((s) => s.writtenRows),
  ],
  [
    'counter',
    'omap_storage_dead_letters_total',
    'Invalid messages in the dead-letter table.',
    store((s) => s.deadLettered),
  ],
  [
    'counter',
    'omap_storage_rows_dropped_total',
    'Rows dropped (memory and spool full).',
    store((s) => s.droppedRows),
  ],
  [
    'counter',
    'omap_storage_rows_quarantined_total',
    'Rows the store refused, kept aside.',
    store((s) => s.quarantinedRows),
  ],
  [
    'counter',
    'omap_storage_write_retries_total',
    'Store writes that failed and are retried.',
    store((s) => s.retries),
  ],
  [
    'counter',
    'omap_storage_write_timeouts_total',
    'Store writes abandoned by the time-box.',
    store((s) => s.timeouts),
  ],
  [
    'gauge',
    'omap_storage_lag_seconds',
    'Age of the oldest row not yet in the store.',
    store((s) => s.lagMs / 1000),
  ],
  ['gauge', 'omap_storage_memory_rows', 'Rows held in memory by the pipeline.', store((s) => s.memoryRows)],
  ['gauge', 'omap_storage_spool_rows', 'Rows waiting in the disk spool.', store((s) => s.spoolRows)],
  ['gauge', 'omap_storage_spool_bytes', 'Bytes in the disk spool.', store((s) => s.spoolBytes)],
  [
    'gauge',
    'omap_storage_up',
    '1 while the last store write succeeded.',
    store((s) => (s.state === 'ok' ? 1 : 0)),
  ],
];

export function createMetrics(sources: MetricsSources): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'omap_' });
  const take = (): Snapshot => ({
    broker: sources.broker.stats(),
    pool: sources.pool?.stats ?? null,
    store: sources.telemetry?.sink.stats() ?? null,
  });
  let snapshot: Snapshot | null = null;
  const current = (): Snapshot => snapshot ?? take();

  for (const [kind, name, help, read] of METRICS) {
    if (kind === 'gauge') {
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          const value = read(current());
          if (value !== null) this.set(value);
        },
      });
    } else {
      new Counter({
        name,
        help,
        registers: [registry],
        collect() {
          const value = read(current());
          if (value === null) return;
          this.reset();
          this.inc(value);
        },
      });
    }
  }

  return {
    contentType: registry.contentType,
    async scrape() {
      snapshot = take();
      try {
        return await registry.metrics();
      } finally {
        snapshot = null;
      }
    },
  };
}
