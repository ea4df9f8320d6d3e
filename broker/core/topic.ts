/**
 * MQTT topic names and topic filters: validation and matching rules (MQTT 3.1.1 §4.7, MQTT 5.0 §4.7).
 *
 * A topic name is what a PUBLISH carries; a topic filter is what a SUBSCRIBE carries and may hold the
 * wildcards `+` (exactly one level) and `#` (this level and everything below, only as the last level).
 * Names and filters starting with `$` are reserved for the server: a filter whose first level is a
 * wildcard never matches them.
 */
import { isUtf8 } from 'node:buffer';

/** The longest topic the wire format can carry: its length is a 16-bit prefix. */
export const MAX_TOPIC_BYTES = 65_535;

export interface TopicLimits {
  /** Longest topic name or filter accepted, in UTF-8 bytes. */
  maxTopicBytes: number;
  /** Most `/`-separated levels in a topic name or filter. */
  maxTopicLevels: number;
}

export const DEFAULT_TOPIC_LIMITS: TopicLimits = { maxTopicBytes: MAX_TOPIC_BYTES, maxTopicLevels: 128 };

/** Why a topic was refused; `null` from the validators means it is acceptable. */
export type TopicError =
  | 'empty'
  | 'too-long'
  | 'too-many-levels'
  | 'null-character'
  | 'invalid-utf8'
  | 'wildcard-in-name'
  | 'misplaced-wildcard'
  | 'invalid-shared-subscription';

const SLASH = 0x2f;
const PLUS = 0x2b;
const HASH = 0x23;

/**
 * Checks raw topic-name bytes straight from a packet, before a string is made of them.
 * ASCII is checked inline (the common case); anything else goes through the UTF-8 validator,
 * which rejects overlongs and surrogates as MQTT requires.
 */
export function checkTopicNameBytes(
  buf: Uint8Array,
  start: number,
  end: number,
  limits: TopicLimits,
): TopicError | null {
  const length = end - start;
  if (length === 0) return 'empty';
  if (length > limits.maxTopicBytes) return 'too-long';
  let levels = 1;
  let ascii = true;
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c === SLASH) levels++;
    else if (c === PLUS || c === HASH) return 'wildcard-in-name';
    else if (c === 0) return 'null-character';
    else if (c > 0x7f) ascii = false;
  }
  if (levels > limits.maxTopicLevels) return 'too-many-levels';
  if (!ascii && !isUtf8(buf.subarray(start, end))) return 'invalid-utf8';
  return null;
}

/** Validates a topic name given as a string (for injected messages and wills). */
export function validateTopicName(
  topic: string,
  limits: TopicLimits = DEFAULT_TOPIC_LIMITS,
): TopicError | null {
  if (topic.length === 0) return 'empty';
  if (Buffer.byteLength(topic) > limits.maxTopicBytes) return 'too-long';
  let levels = 1;
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i);
    if (c === SLASH) levels++;
    else if (c === PLUS || c === HASH) return 'wildcard-in-name';
    else if (c === 0) return 'null-character';
  }
  if (levels > limits.maxTopicLevels) return 'too-many-levels';
  return null;
}

/** Validates a topic filter, including the `$share/<group>/<filter>` form. */
export function validateTopicFilter(
  filter: string,
  limits: TopicLimits = DEFAULT_TOPIC_LIMITS,
): TopicError | null {
  if (filter.length === 0) return 'empty';
  if (Buffer.byteLength(filter) > limits.maxTopicBytes) return 'too-long';
  const shared = parseSharedFilter(filter);
  if (shared === 'invalid') return 'invalid-shared-subscription';
  const f = shared ? shared.filter : filter;
  let levels = 1;
  for (let i = 0; i < f.length; i++) {
    const c = f.charCodeAt(i);
    if (c === 0) return 'null-character';
    if (c === SLASH) {
      levels++;
    } else if (c === PLUS) {
      const before = i === 0 || f.charCodeAt(i - 1) === SLASH;
      const after = i === f.length - 1 || f.charCodeAt(i + 1) === SLASH;
      if (!before || !after) return 'misplaced-wildcard';
    } else if (c === HASH) {
      const before = i === 0 || f.charCodeAt(i - 1) === SLASH;
      if (!before || i !== f.length - 1) return 'misplaced-wildcard';
    }
  }
  if (levels > limits.maxTopicLevels) return 'too-many-levels';
  return null;
}

export interface SharedFilter {
  group: string;
  filter: string;
}

/**
 * Splits `$share/<group>/<filter>`. Returns `null` for an ordinary filter and `'invalid'` for a
 * malformed shared one (empty group, wildcard in the group, or no filter after the group).
 */
export function parseSharedFilter(filter: string): SharedFilter | null | 'invalid' {
  if (!filter.startsWith('$share/')) return null;
  const slash = filter.indexOf('/', 7);
  if (slash <= 7 || slash === filter.length - 1) return 'invalid';
  const group = filter.slice(7, slash);
  if (group.includes('+') || group.includes('#')) return 'invalid';
  return { group, filter: filter.slice(slash + 1) };
}

export function hasWildcard(filter: string): boolean {
  return filter.includes('+') || filter.includes('#');
}

/** Does `topic` (a valid name) match `filter` (a valid, non-shared filter)? Used off the hot path. */
export function topicMatches(filter: string, topic: string): boolean {
  if (
    topic.charCodeAt(0) === 0x24 /* $ */ &&
    (filter.charCodeAt(0) === PLUS || filter.charCodeAt(0) === HASH)
  ) {
    return false;
  }
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const level = f[i]!;
    if (level === '#') return true;
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}
