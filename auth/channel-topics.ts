/**
 * Which channel a topic or filter belongs to, in the platform's namespace
 * `channels/<channelId>/messages[/<subtopic>...]`. Anything else belongs to no channel and is only
 * for principals with SYSTEM-wide message permissions.
 */

const PREFIX = 'channels/';
const MESSAGES = '/messages';

/** The channel id of a topic name (publish), or null. */
export function channelOfTopic(topic: string): string | null {
  if (!topic.startsWith(PREFIX)) return null;
  const end = topic.indexOf('/', PREFIX.length);
  if (end <= PREFIX.length) return null;
  if (!topic.startsWith(MESSAGES, end)) return null;
  const after = end + MESSAGES.length;
  if (after !== topic.length && topic.charCodeAt(after) !== 47 /* / */) return null;
  return topic.slice(PREFIX.length, end);
}

/** The subtopic of a topic name whose channel is `channelId` (see {@link channelOfTopic}): '' when none. */
export function subtopicOfTopic(topic: string, channelId: string): string {
  const start = PREFIX.length + channelId.length + MESSAGES.length + 1;
  return start > topic.length ? '' : topic.slice(start);
}

/**
 * The channel id of a subscription filter, or null. The channel level must be literal (no `+`/`#`):
 * `channels/+/messages` spans channels. `$share/<group>/` is looked through.
 */
export function channelOfFilter(filter: string): string | null {
  if (filter.startsWith('$share/')) {
    const groupEnd = filter.indexOf('/', 7);
    if (groupEnd < 0) return null;
    filter = filter.slice(groupEnd + 1);
  }
  const id = channelOfTopic(filter);
  if (id === null || id === '+' || id === '#' || id.includes('+') || id.includes('#')) return null;
  return id;
}
