/**
 * Acknowledgements of messages the broker sent (PUBACK, PUBREC, PUBCOMP) and PUBREL for messages
 * it received (MQTT 3.1.1 §3.4-3.7, MQTT 5 §3.4-3.7).
 */
import type { IPubackPacket, IPubcompPacket, IPubrecPacket, IPubrelPacket } from 'mqtt-packet';
import type { MqttConnection } from './connection.js';
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
      if (!known && conn.v5) conn.sendAck(6, id, ReasonCode.PacketIdentifierNotFound);
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
  conn.sendAck(7, id, known || !conn.v5 ? 0 : ReasonCode.PacketIdentifierNotFound);
}

const ACK_COMMANDS = { 4: 'puback', 5: 'pubrec', 6: 'pubrel', 7: 'pubcomp' } as const;

/**
 * The fast path for the common 4-byte acknowledgement (packet id only, no reason code): one per
 * QoS 1/2 delivery, so it skips mqtt-packet's parser. Returns false when the packet needs the full
 * parser (reason code or properties present, or bad flags), which then reports any error.
 */
export function handleShortAck(
  conn: MqttConnection,
  buf: Buffer,
  start: number,
  bodyStart: number,
  end: number,
): boolean {
  if (end - bodyStart !== 2) return false;
  const first = buf[start]!;
  const type = first >> 4;
  // PUBREL carries flags 0010, the others 0000 (MQTT-3.6.1-1); anything else goes to the parser.
  if ((first & 0x0f) !== (type === 6 ? 0x02 : 0)) return false;
  const messageId = (buf[bodyStart]! << 8) | buf[bodyStart + 1]!;
  const cmd = ACK_COMMANDS[type as 4 | 5 | 6 | 7];
  if (cmd === 'pubrel') handlePubrel(conn, { cmd, messageId });
  else handleAck(conn, { cmd, messageId });
  return true;
}
