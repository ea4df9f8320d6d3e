/**
 * `/channels/<id>/messages[/<subtopic>...]` ⇄ MQTT topic `channels/<id>/messages[/<subtopic>...]`.
 *
 * The path maps one to one onto the topic (the leading `/` dropped). Percent-encoded segments are
 * decoded; an encoded `/` is refused, since it would silently change the topic's levels.
 */
import { type TopicLimits, validateTopicFilter, validateTopicName } from '../core/topic.js';

export type ChannelPath =
  | { ok: true; topic: string; wildcard: boolean }
  | { ok: false; status: 400 | 404; message: string };

const PREFIX = '/channels/';
const MESSAGES = 'messages';

/**
 * Parses a request path. `filter` allows MQTT wildcards in the subtopic (subscriptions); a
 * publish path must name one topic.
 */
export function parseChannelPath(path: string, filter: boolean, limits: TopicLimits): ChannelPath {
  if (!path.startsWith(PREFIX)) return notFound(path);
  const slash = path.indexOf('/', PREFIX.length);
  if (slash < 0) return notFound(path);
  const rest = path.length - slash - 1;
  // After the channel id: exactly "messages", or "messages/" and a subtopic.
  if (
    !path.startsWith(MESSAGES, slash + 1) ||
    (rest > MESSAGES.length && path.charCodeAt(slash + 1 + MESSAGES.length) !== 0x2f)
  ) {
    return notFound(path);
  }
  if (slash === PREFIX.length) return bad('the channel id is empty');

  let topic = path.slice(1);
  if (topic.includes('%')) {
    const levels = topic.split('/');
    for (let i = 0; i < levels.length; i++) {
      let level: string;
      try {
        level = decodeURIComponent(levels[i]!);
      } catch {
        return bad('malformed percent-encoding in the path');
      }
      if (level.includes('/')) return bad('an encoded "/" is not allowed in a path segment');
      levels[i] = level;
    }
    topic = levels.join('/');
  }
  const channel = topic.slice(PREFIX.length - 1, topic.indexOf('/', PREFIX.length - 1));
  if (channel.includes('+') || channel.includes('#')) return bad('the channel id must not contain + or #');
  const wildcard = topic.includes('+') || topic.includes('#');
  if (wildcard && !filter) return bad('wildcards (+, #) are not allowed in a publish topic');
  const error = filter ? validateTopicFilter(topic, limits) : validateTopicName(topic, limits);
  if (error !== null) return bad(`invalid topic "${topic}": ${error}`);
  return { ok: true, topic, wildcard };
}

function notFound(path: string): ChannelPath {
  return {
    ok: false,
    status: 404,
    message: `no resource at ${path}; use /channels/<id>/messages[/<subtopic>]`,
  };
}

function bad(message: string): ChannelPath {
  return { ok: false, status: 400, message };
}
