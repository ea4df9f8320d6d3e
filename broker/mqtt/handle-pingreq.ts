/** PINGREQ (§3.12): answer PINGRESP; the keepalive clock was already reset by the arrival of bytes. */
import type { MqttConnection } from './connection.js';
import { PINGRESP } from './publish-codec.js';

export function handlePingreq(conn: MqttConnection): void {
  conn.send(PINGRESP);
}
