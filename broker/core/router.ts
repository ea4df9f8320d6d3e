/**
 * Delivers a message to every matching subscription, once per subscriber.
 *
 * The match comes from the topic index's cache; the common case (no subscriber matching through two
 * filters) is a plain loop with no allocation. Overlapping subscriptions are merged so the subscriber
 * gets one copy at the highest granted QoS, with every matching subscription identifier. Each shared
 * group hands the message to one member, in turn.
 */
import { type Message, minQos, type QoS } from './message.js';
import type { Subscription } from './subscription.js';
import { type MatchResult, TopicIndex } from './topic-index.js';

interface Merged {
  sub: Subscription;
  qos: QoS;
  retain: boolean;
  ids: number[] | undefined;
}

export class Router {
  readonly index: TopicIndex<Subscription>;

  constructor(maxCachedTopics?: number) {
    this.index = new TopicIndex<Subscription>(maxCachedTopics === undefined ? {} : { maxCachedTopics });
  }

  /** Routes `message` to its subscribers; returns how many deliveries were made. */
  route(message: Message): number {
    const result = this.index.match(message.topic);
    if (result.subscriptions.length === 0 && result.groups.length === 0) return 0;
    return result.overlapping ? this.routeMerged(message, result) : this.routeDirect(message, result);
  }

  private routeDirect(message: Message, result: MatchResult<Subscription>): number {
    const subs = result.subscriptions;
    const publisher = message.publisherId;
    let n = 0;
    for (let i = 0; i < subs.length; i++) {
      const s = subs[i]!;
      if (s.noLocal && s.subscriberId === publisher) continue;
      s.subscriber.deliver(
        message,
        minQos(s.qos, message.qos),
        s.retainAsPublished ? message.retain : false,
        s.subscriptionIds,
      );
      n++;
    }
    return n + this.routeGroups(message, result);
  }

  private routeMerged(message: Message, result: MatchResult<Subscription>): number {
    const merged = new Map<string, Merged>();
    const publisher = message.publisherId;
    for (const s of result.subscriptions) {
      if (s.noLocal && s.subscriberId === publisher) continue;
      const qos = minQos(s.qos, message.qos);
      const retain = s.retainAsPublished ? message.retain : false;
      const m = merged.get(s.subscriberId);
      if (m === undefined) {
        merged.set(s.subscriberId, {
          sub: s,
          qos,
          retain,
          ids: s.subscriptionIds ? [...s.subscriptionIds] : undefined,
        });
        continue;
      }
      if (qos > m.qos) m.qos = qos;
      m.retain ||= retain;
      if (s.subscriptionIds) (m.ids ??= []).push(...s.subscriptionIds);
    }
    for (const m of merged.values()) m.sub.subscriber.deliver(message, m.qos, m.retain, m.ids);
    return merged.size + this.routeGroups(message, result);
  }

  private routeGroups(message: Message, result: MatchResult<Subscription>): number {
    const groups = result.groups;
    let n = 0;
    for (let i = 0; i < groups.length; i++) {
      const member = groups[i]!.pick();
      if (member === undefined) continue;
      member.subscriber.deliver(
        message,
        minQos(member.qos, message.qos),
        member.retainAsPublished ? message.retain : false,
        member.subscriptionIds,
      );
      n++;
    }
    return n;
  }
}
