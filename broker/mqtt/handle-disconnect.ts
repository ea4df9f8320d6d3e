/**
 * DISCONNECT from the client (MQTT 3.1.1 §3.14, MQTT 5 §3.14): a clean goodbye discards the will,
 * except MQTT 5's "disconnect with will message" (0x04).
 */
import type { IDisconnectPacket } from 'mqtt-packet';
import type { MqttConnection } from './connection.js';
import { ReasonCode } from './reason-codes.js';

export function handleDisconnect(conn: MqttConnection, packet: IDisconnectPacket): void {
  if (conn.v5) {
    const expiry = packet.properties?.sessionExpiryInterval;
    if (expiry !== undefined) {
      // A session that was to end with the connection cannot be made persistent now (MQTT-3.14.2-2).
      if (conn.sessionExpiry === 0 && expiry > 0) {
        conn.protocolError('session expiry set at DISCONNECT after CONNECT said 0');
        return;
      }
      conn.sessionExpiry = expiry;
    }
  }
  const withWill = conn.v5 && packet.reasonCode === ReasonCode.DisconnectWithWill;
  conn.close('client disconnected', withWill);
}
