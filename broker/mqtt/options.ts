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
}

export const DEFAULT_MQTT_LIMITS: MqttLimits = {
  maxPacketSize: 1024 * 1024,
  maxOutboundBytes: 1024 * 1024,
  connectTimeoutMs: 10_000,
  maxClientIdBytes: 256,
  sweepIntervalMs: 1000,
};
