/**
 * The storage tap: which routed messages the history keeps (those on `channels/<id>/messages[/<subtopic>]`), and
 * who sent them. Runs on the broker's event loop for every message, so the topic parse and the publisher lookup
 * happen once per (client, topic), not per message: the result is a MessageSource, reused, whose strings the codec
 * pool's batch carries once per batch.
 */
import { channelOfTopic, subtopicOfTopic } from '../auth/channel-topics.js';
import { isPlatformPrincipal } from '../auth/principal.js';
import type { ClientInfo, Message, MessageTap } from '../broker/index.js';
import { type CodecPool, MessageSource, SENML_JSON } from '../codecs/index.js';

/** Topics remembered per client; a client that publishes to more (a gateway) has its memory started over. */
const TOPICS_PER_CLIENT = 1024;

/** What the history records about one message source, or null for a topic that is not a channel's. */
export function channelSource(topic: string, client: ClientInfo | undefined): MessageSource | null {
  const channel = channelOfTopic(topic);
  if (channel === null) return null;
  const principal = client?.principal;
  return new MessageSource(
    channel,
    subtopicOfTopic(topic, channel),
    // The platform's thing (or user) id when known, else the protocol's client id.
    isPlatformPrincipal(principal) ? principal.id : (client?.id ?? ''),
    client?.protocol ?? 'internal',
  );
}

/** One client's remembered topics; the last one is checked first (a device mostly repeats its topic). */
class KnownTopics {
  /** The same string object as last time: MQTT connections reuse the topic string when its bytes repeat. */
  lastTopic: string | null = null;
  lastSource: MessageSource | null = null;
  readonly byTopic = new Map<string, MessageSource | null>();
}

export class ChannelTap {
  readonly #pool: CodecPool;
  readonly #byClient = new WeakMap<ClientInfo, KnownTopics>();
  /** Messages published without a client (the broker's own: wills are sent with theirs). */
  readonly #internal = new KnownTopics();

  constructor(pool: CodecPool) {
    this.#pool = pool;
  }

  /** The broker's message tap (`broker.addMessageTap`). */
  readonly onMessages: MessageTap = (messages, clients, count) => {
    for (let i = 0; i < count; i++) this.onMessage(messages[i]!, clients[i]);
  };

  /** One message. */
  onMessage(message: Message, client: ClientInfo | undefined): void {
    const source = this.#source(message.topic, client);
    if (source === null) return;
    // MQTT 3.1.1, CoAP without Content-Format and HTTP without Content-Type: SenML JSON is the platform's default.
    const contentType = message.properties?.contentType ?? SENML_JSON;
    this.#pool.pushMessage(source, contentType, message.created, message.payload);
  }

  #source(topic: string, client: ClientInfo | undefined): MessageSource | null {
    let known: KnownTopics | undefined;
    if (client === undefined) known = this.#internal;
    else {
      known = this.#byClient.get(client);
      if (known === undefined) {
        known = new KnownTopics();
        this.#byClient.set(client, known);
      }
    }
    if (topic === known.lastTopic) return known.lastSource;
    const topics = known.byTopic;
    let source = topics.get(topic);
    if (source === undefined) {
      if (topics.size >= TOPICS_PER_CLIENT) topics.clear();
      source = channelSource(topic, client);
      topics.set(topic, source);
    }
    known.lastTopic = topic;
    known.lastSource = source;
    return source;
  }
}
