/** Limits of the MQTT front-end; every one is a documented option of `createBroker` and `omap serve`. */
export interface MqttLimits {
  /** Largest packet accepted, in bytes; larger ones close the connection before they are buffered. */
  maxPacketSize: number;
  /**
   * Outbound bytes buffered per connection before it counts as congested: QoS 0 deliveries are then
   * dropped (and counted), QoS 1/2 wait in the session queue.
   */
  maxOutboundBytes: number;
  /** A socket that has not completed CONNECT by then is closed. */
  connectTimeoutMs: number;
  /** Longest client identifier accepted, in bytes. */
  maxClientIdBytes: number;
  /** How often keepalive and CONNECT deadlines are checked. */
  sweepIntervalMs: number;
  /** Most simultaneous MQTT connections (all transports); further sockets are closed at once. */
  maxConnections: number;
  /** MQTT 5 Receive Maximum we announce: QoS 2 messages a client may leave unreleased (over it: 0x93). */
  receiveMaximum: number;
  /** MQTT 5 Topic Alias Maximum we announce for inbound aliases (0 refuses aliases). */
  topicAliasMaximum: number;
  /** Longest keepalive granted to MQTT 5 clients; asking for more (or 0) gets Server Keep Alive. */
  maxKeepaliveSeconds: number;
  /** Most subscriptions one client may hold (over it: SUBACK 0x97 / 0x80). */
  maxSubscriptionsPerClient: number;
  /** PUBLISH packets per second per client before the client is throttled (0: unlimited). */
  publishRatePerSecond: number;
  /** Inbound bytes per second per client before the client is throttled (0: unlimited). */
  byteRatePerSecond: number;
}

export const DEFAULT_MQTT_LIMITS: MqttLimits = {
  maxPacketSize: 1024 * 1024,
  maxOutboundBytes: 1024 * 1024,
  connectTimeoutMs: 10_000,
  maxClientIdBytes: 256,
  sweepIntervalMs: 1000,
  maxConnections: 100_000,
  receiveMaximum: 1000,
  topicAliasMaximum: 32,
  maxKeepaliveSeconds: 65_535,
  maxSubscriptionsPerClient: 10_000,
  publishRatePerSecond: 0,
  byteRatePerSecond: 0,
};
