/**
 * The MQTT front-end: owns the live MQTT connections of every transport (TCP, TLS, WebSocket), their
 * keepalive and CONNECT deadlines, and their shutdown.
 */
import type { BrokerCore } from '../core/broker-core.js';
import { type ConnectionContext, MqttConnection } from './connection.js';
import type { MqttLimits } from './options.js';
import { ReasonCode } from './reason-codes.js';
import type { Transport, TransportHandler } from './transport.js';

export class MqttFrontEnd {
  readonly connections = new Set<MqttConnection>();
  readonly stats = {
    malformed: 0,
    tooLarge: 0,
    keepaliveTimeouts: 0,
    connectTimeouts: 0,
    tlsErrors: 0,
    tooLargeForClient: 0,
    throttled: 0,
    refusedConnections: 0,
    expiredCredentials: 0,
  };
  private readonly contexts = new Map<'mqtt' | 'mqtt-ws', ConnectionContext>();
  private sweepTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly core: BrokerCore,
    readonly limits: MqttLimits,
  ) {
    core.frontEnds.add({
      disconnect: (match, reason) => {
        let n = 0;
        for (const c of [...this.connections]) {
          if (c.client !== null && match(c.client)) {
            c.close(reason, true, ReasonCode.AdministrativeAction);
            n++;
          }
        }
        return n;
      },
    });
    core.authorizationListeners.add((clientId) => {
      for (const c of this.connections)
        if (clientId === undefined || c.clientId === clientId) c.decisions.clear();
    });
  }

  /** Creates the MQTT connection for a new transport; returns the handler its events go to. */
  accept(transport: Transport, protocol: 'mqtt' | 'mqtt-ws' = 'mqtt'): TransportHandler {
    if (this.connections.size >= this.limits.maxConnections) {
      this.stats.refusedConnections++;
      this.core.logger.warn({ max: this.limits.maxConnections }, 'connection limit reached');
      transport.destroy();
      return { onData: () => {}, onDrain: () => {}, onClose: () => {} };
    }
    const conn = new MqttConnection(this.context(protocol));
    conn.transport = transport;
    this.startSweep();
    return conn;
  }

  tlsError(err: Error): void {
    this.stats.tlsErrors++;
    this.core.logger.info({ err: err.message }, 'TLS handshake failed');
  }

  /** Ends every connection: MQTT 5 clients are told the server is shutting down. */
  closeAll(): void {
    for (const c of [...this.connections])
      c.close('server shutting down', false, ReasonCode.ServerShuttingDown);
    this.stopSweep();
  }

  private context(protocol: 'mqtt' | 'mqtt-ws'): ConnectionContext {
    let ctx = this.contexts.get(protocol);
    if (!ctx) {
      ctx = {
        core: this.core,
        limits: this.limits,
        protocol,
        connections: this.connections,
        stats: this.stats,
      };
      this.contexts.set(protocol, ctx);
    }
    return ctx;
  }

  private startSweep(): void {
    if (this.sweepTimer !== null) return;
    this.sweepTimer = setInterval(() => this.sweep(), this.limits.sweepIntervalMs);
    this.sweepTimer.unref();
  }

  private stopSweep(): void {
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
  }

  /** Closes connections past their CONNECT deadline or 1.5 × keepalive of silence (MQTT-3.1.2-24). */
  private sweep(): void {
    const now = Date.now();
    for (const c of this.connections) {
      if (c.state === 'connected') {
        if (c.expiresAt !== undefined && now >= c.expiresAt) {
          this.stats.expiredCredentials++;
          c.close('credentials expired', true, ReasonCode.MaximumConnectTime);
        } else if (c.keepaliveMs > 0 && now - c.lastActivity > c.keepaliveMs * 1.5) {
          this.stats.keepaliveTimeouts++;
          c.close('keepalive timeout', true, ReasonCode.KeepAliveTimeout);
        }
      } else if (now - c.createdAt > this.limits.connectTimeoutMs) {
        this.stats.connectTimeouts++;
        c.close('no CONNECT in time', false);
        c.transport.destroy();
      }
    }
    if (this.connections.size === 0) this.stopSweep();
  }
}
