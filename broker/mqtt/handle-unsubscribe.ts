/** UNSUBSCRIBE (MQTT 3.1.1 §3.10, MQTT 5 §3.10): remove each filter, answer UNSUBACK. */
import type { IUnsubackPacket, IUnsubscribePacket } from 'mqtt-packet';
import type { MqttConnection } from './connection.js';
import { ReasonCode } from './reason-codes.js';

export function handleUnsubscribe(conn: MqttConnection, packet: IUnsubscribePacket): void {
  const codes: number[] = [];
  for (const filter of packet.unsubscriptions) {
    const removed = conn.core.unsubscribe(conn.session!, filter, conn.client!);
    codes.push(removed ? ReasonCode.Success : ReasonCode.NoSubscriptionExisted);
  }
  const unsuback: IUnsubackPacket = { cmd: 'unsuback', messageId: packet.messageId ?? 0, granted: codes };
  conn.sendPacket(unsuback);
}
