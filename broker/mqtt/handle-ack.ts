/**
 * Acknowledgements of messages the broker sent (PUBACK, PUBREC, PUBCOMP) and PUBREL for messages
 * it received (MQTT 3.1.1 §3.4-3.7, MQTT 5 §3.4-3.7).
 */
import type { IPubackPacket, IPubcompPacket, IPubrecPacket, IPubrelPacket } from 'mqtt-packet';
import type { MqttConnection } from './connection.js';
import { encodeAck } from './publish-codec.js';
import { ReasonCode } from './reason-codes.js';

export function handleAck(
  conn: MqttConnection,
  packet: IPubackPacket | IPubrecPacket | IPubcompPacket,
): void {
  const session = conn.session!;
  const id = packet.messageId ?? 0;
  let known: boolean;
  switch (packet.cmd) {
    case 'puback':
      known = session.complete(id, 1);
      break;
    case 'pubrec':
      // An MQTT 5 PUBREC with a failure code ends the exchange: no PUBREL follows (MQTT-4.3.3-4).
      if ((packet.reasonCode ?? 0) >= 0x80) known = session.abandon(id);
      else known = session.received(id);
      if (!known && conn.v5) conn.send(encodeAck(6, id, ReasonCode.PacketIdentifierNotFound));
      break;
    case 'pubcomp':
      known = session.complete(id, 2);
      break;
  }
  if (!known)
    conn.core.logger.debug({ clientId: conn.clientId, id, cmd: packet.cmd }, 'ack for an unknown packet id');
}

export function handlePubrel(conn: MqttConnection, packet: IPubrelPacket): void {
  const id = packet.messageId ?? 0;
  const known = conn.session!.incomingQos2.delete(id);
  conn.send(encodeAck(7, id, known || !conn.v5 ? 0 : ReasonCode.PacketIdentifierNotFound));
}
