/**
 * SUBSCRIBE (MQTT 3.1.1 §3.8, MQTT 5 §3.8): validate and authorize every filter, answer SUBACK with a
 * code per filter, then send the retained messages the new subscriptions match.
 */
import type { ISubackPacket, ISubscribePacket, ISubscription } from 'mqtt-packet';
import type { SubscribeResult } from '../core/broker-core.js';
import { minQos } from '../core/message.js';
import { parseSharedFilter, validateTopicFilter } from '../core/topic.js';
import type { MqttConnection } from './connection.js';
import { ReasonCode } from './reason-codes.js';

type Decision = boolean | number; // true/false from the authorizer, or a failure reason code

export function handleSubscribe(conn: MqttConnection, packet: ISubscribePacket): Promise<void> | undefined {
  const client = conn.client!;
  const decisions: (Decision | Promise<boolean>)[] = [];
  let async = false;
  for (const s of packet.subscriptions) {
    const error = validateTopicFilter(s.topic, conn.core.limits);
    if (error !== null) {
      decisions.push(conn.v5 ? ReasonCode.TopicFilterInvalid : 0x80);
      continue;
    }
    if (conn.v5 && s.nl && parseSharedFilter(s.topic) !== null) {
      conn.protocolError('no-local on a shared subscription'); // MQTT-3.8.3-4
      return undefined;
    }
    const d = conn.core.authorizer.authorizeSubscribe(client, s.topic);
    if (typeof d !== 'boolean') async = true;
    decisions.push(d);
  }
  if (!async) {
    finish(conn, packet, decisions as Decision[]);
    return undefined;
  }
  return Promise.all(decisions).then((resolved) => finish(conn, packet, resolved));
}

function finish(conn: MqttConnection, packet: ISubscribePacket, decisions: Decision[]): void {
  if (conn.state === 'closed') return;
  const session = conn.session!;
  const subscriptionId = packet.properties?.subscriptionIdentifier;
  const granted: number[] = [];
  const accepted: SubscribeResult[] = [];
  packet.subscriptions.forEach((s: ISubscription, i: number) => {
    const d = decisions[i]!;
    if (typeof d === 'number') {
      granted.push(d);
    } else if (!d) {
      conn.core.logger.debug({ clientId: conn.clientId, filter: s.topic }, 'subscribe not authorized');
      granted.push(conn.v5 ? ReasonCode.NotAuthorized : 0x80);
    } else if (
      !session.subscriptions.has(s.topic) &&
      session.subscriptions.size >= conn.ctx.limits.maxSubscriptionsPerClient
    ) {
      conn.core.logger.info({ clientId: conn.clientId, filter: s.topic }, 'subscription limit reached');
      granted.push(conn.v5 ? ReasonCode.QuotaExceeded : 0x80);
    } else {
      const result = conn.core.subscribe(
        session,
        s.topic,
        {
          qos: s.qos,
          noLocal: conn.v5 && s.nl === true,
          retainAsPublished: conn.v5 && s.rap === true,
          retainHandling: conn.v5 ? ((s.rh ?? 0) as 0 | 1 | 2) : 0,
          ...(subscriptionId !== undefined && { subscriptionId }),
        },
        conn.client!,
      );
      granted.push(s.qos);
      accepted.push(result);
    }
  });
  const suback: ISubackPacket = { cmd: 'suback', messageId: packet.messageId ?? 0, granted };
  conn.sendPacket(suback);
  // Retained messages follow the SUBACK, flagged retain (MQTT-3.3.1-8).
  for (const { subscription, retained } of accepted) {
    for (const m of retained) {
      session.deliver(m, minQos(m.qos, subscription.qos), true, subscription.subscriptionIds);
    }
  }
}
