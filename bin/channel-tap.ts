/**
 * The storage tap: which routed messages the history keeps (those on `channels/<id>/messages[/<subtopic>]`), and
 * who sent them. Runs on the broker's event loop for every message, so the topic parse and the publisher lookup
 * happen once per (client, topic), not per message: the result is a MessageSource, reused, whose strings the codec
 * pool's batch carries once per batch.
 */
import { channelOfTopic, subtopicOfTopic } from '../auth/channel-topics.js';
import { isPlatformPrincipal } from '../auth/principal.js';
import type { ClientInfo, Message } from '../broker/index.js';
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

export class ChannelTap {
  readonly #pool: CodecPool;
  readonly #byClient = new WeakMap<ClientInfo, Map<string, MessageSource | null>>();
  /** Messages published without a client (the broker's own: wills are sent with theirs). */
  readonly #internal = new Map<string, MessageSource | null>();

  constructor(pool: CodecPool) {
    this.#pool = pool;
  }

  /** The broker's 'message' listener. */
  readonly onMessage = (message: Message, client: ClientInfo | undefined): void => {
    const source = this.#source(message.topic, client);
    if (source === null) return;
    // MQTT 3.1.1, CoAP without Content-Format and HTTP without Content-Type: SenML JSON is the platform's default.
    const contentType = message.properties?.contentType ?? SENML_JSON;
    this.#pool.pushMessage(source, contentType, message.created, message.payload);
  };

  #source(topic: string, client: ClientInfo | undefined): MessageSource | null {
    let topics: Map<string, MessageSource | null> | undefined;
    if (client === undefined) topics = this.#internal;
    else {
      topics = this.#byClient.get(client);
      if (topics === undefined) {
        topics = new Map();
        this.#byClient.set(client, topics);
      }
    }
    let source = topics.get(topic);
    if (source === undefined) {
      if (topics.size >= TOPICS_PER_CLIENT) topics.clear();
      source = channelSource(topic, client);
      topics.set(topic, source);
    }
    return source;
  }
}
