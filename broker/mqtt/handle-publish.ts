/**
 * PUBLISH from a client (MQTT 3.1.1 §3.3, MQTT 5 §3.3): the hot path.
 *
 * Bytes are parsed by the hand-written reader; only MQTT 5 packets carrying properties go through
 * mqtt-packet. Authorization comes from the connection's decision cache when it can. QoS 2 is
 * exactly-once by remembering the packet id until PUBREL: a resent PUBLISH with that id is
 * acknowledged again but not routed again.
 */
import type { IPublishPacket } from 'mqtt-packet';
import { Message, type MessageProperties, type QoS } from '../core/message.js';
import { validateTopicName } from '../core/topic.js';
import type { MqttConnection } from './connection.js';
import { PublishFields, readPublish, TopicMemo } from './publish-codec.js';
import { ReasonCode } from './reason-codes.js';

// One scratch holder: parsing is synchronous and single-threaded, and fields are copied out at once.
const fields = new PublishFields();

export function handlePublishBytes(
  conn: MqttConnection,
  buf: Buffer,
  start: number,
  bodyStart: number,
  end: number,
): Promise<void> | undefined {
  const memo = (conn.topicMemo ??= new TopicMemo());
  const error = readPublish(buf, start, bodyStart, end, conn.v5, conn.core.limits, fields, memo);
  if (error !== null) {
    const topicProblem = error !== 'malformed' && error !== 'invalid-qos' && error !== 'zero-packet-id';
    conn.protocolError(
      `invalid PUBLISH: ${error}`,
      topicProblem ? ReasonCode.TopicNameInvalid : ReasonCode.MalformedPacket,
    );
    return undefined;
  }
  if (fields.hasProperties) {
    const packet = conn.parse(buf, start, end);
    return packet?.cmd === 'publish' ? handlePublishPacket(conn, packet) : undefined;
  }
  return authorize(conn, fields.topic, fields.payload, fields.qos, fields.retain, fields.packetId, undefined);
}

/** A PUBLISH parsed by mqtt-packet (MQTT 5 with properties). */
export function handlePublishPacket(conn: MqttConnection, packet: IPublishPacket): Promise<void> | undefined {
  const { topicAlias, subscriptionIdentifier, ...properties } = packet.properties ?? {};
  if (subscriptionIdentifier !== undefined) {
    conn.protocolError('PUBLISH from a client carries a subscription identifier');
    return undefined;
  }
  let topic = packet.topic;
  if (topicAlias !== undefined) {
    if (topicAlias === 0 || topicAlias > conn.ctx.limits.topicAliasMaximum) {
      conn.protocolError(`topic alias ${topicAlias} out of range`, ReasonCode.TopicAliasInvalid); // MQTT-3.3.2-9
      return undefined;
    }
    const aliases = (conn.inboundAliases ??= new Map());
    if (topic === '') {
      const known = aliases.get(topicAlias);
      if (known === undefined) {
        conn.protocolError(`unknown topic alias ${topicAlias}`);
        return undefined;
      }
      topic = known;
    } else {
      aliases.set(topicAlias, topic);
    }
  }
  const topicError = validateTopicName(topic, conn.core.limits);
  if (topicError !== null) {
    conn.protocolError(`invalid PUBLISH topic: ${topicError}`, ReasonCode.TopicNameInvalid);
    return undefined;
  }
  const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
  const props = Object.keys(properties).length > 0 ? (properties as MessageProperties) : undefined;
  return authorize(conn, topic, payload, packet.qos, packet.retain, packet.messageId ?? 0, props);
}

function authorize(
  conn: MqttConnection,
  topic: string,
  payload: Buffer,
  qos: QoS,
  retain: boolean,
  packetId: number,
  properties: MessageProperties | undefined,
): Promise<void> | undefined {
  if (qos === 2) {
    const awaiting = conn.session!.incomingQos2;
    if (awaiting.has(packetId)) {
      conn.sendAck(5, packetId); // a resend of a message we already routed
      return undefined;
    }
    if (awaiting.size >= conn.ctx.limits.receiveMaximum) {
      conn.protocolError(
        'more unreleased QoS 2 messages than Receive Maximum',
        ReasonCode.ReceiveMaximumExceeded,
      );
      return undefined;
    }
  }
  const now = Date.now();
  const cached = conn.decisions.get(topic, now);
  if (cached !== undefined) {
    complete(conn, cached, topic, payload, qos, retain, packetId, properties);
    return undefined;
  }
  const decision = conn.core.authorizer.authorizePublish(conn.client!, topic);
  if (typeof decision === 'boolean') {
    conn.decisions.set(topic, decision, now);
    complete(conn, decision, topic, payload, qos, retain, packetId, properties);
    return undefined;
  }
  const generation = conn.decisions.generation;
  return decision.then((allowed) => {
    conn.decisions.set(topic, allowed, Date.now(), generation);
    complete(conn, allowed, topic, payload, qos, retain, packetId, properties);
  });
}

function complete(
  conn: MqttConnection,
  allowed: boolean,
  topic: string,
  payload: Buffer,
  qos: QoS,
  retain: boolean,
  packetId: number,
  properties: MessageProperties | undefined,
): void {
  if (conn.state === 'closed') return;
  if (!allowed) {
    conn.core.logger.debug({ clientId: conn.clientId, topic }, 'publish not authorized');
    // MQTT 3.1.1 cannot say "refused": the message is acknowledged and dropped, as Mosquitto does.
    const reason = conn.v5 ? ReasonCode.NotAuthorized : 0;
    if (qos === 1) conn.sendAck(4, packetId, reason);
    else if (qos === 2) conn.sendAck(5, packetId, reason);
    return;
  }
  const invalid = conn.core.checkPayload(topic, properties?.contentType, payload);
  if (invalid !== null) {
    // MQTT 5 publishers are told (0x99); QoS 0 and MQTT 3.1.1 cannot be, so the message is dropped,
    // counted and acknowledged (a resend would be just as invalid).
    conn.core.logger.debug({ clientId: conn.clientId, topic, reason: invalid }, 'payload refused');
    const code = conn.v5 ? ReasonCode.PayloadFormatInvalid : 0;
    if (qos === 1) conn.sendAck(4, packetId, code);
    else if (qos === 2) conn.sendAck(5, packetId, code);
    return;
  }
  const message = new Message(topic, payload, qos, retain, conn.clientId, properties);
  const deliveries = conn.core.publish(message, conn.client!);
  if (qos === 0) return;
  const reason = conn.v5 && deliveries === 0 ? ReasonCode.NoMatchingSubscribers : 0;
  if (qos === 1) {
    conn.sendAck(4, packetId, reason);
  } else {
    conn.session!.incomingQos2.add(packetId);
    conn.sendAck(5, packetId, reason);
  }
}
