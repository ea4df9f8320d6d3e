/**
 * Maps a request's Uri-Path to a broker topic and reads its `auth` query:
 * `/channels/<id>/messages[/<subtopic>...]?auth=<secret>` ⇄ MQTT `channels/<id>/messages[/<subtopic>...]`.
 */
import { isUtf8 } from 'node:buffer';
import type { TopicLimits } from '../core/topic.js';
import { validateTopicFilter, validateTopicName } from '../core/topic.js';
import type { CoapMessage } from './codec.js';
import { OptionNumber } from './codes.js';

export type RequestTarget =
  | {
      kind: 'channel';
      /** The topic name (no wildcards) or, for a GET, the topic filter. */
      topic: string;
      /** The subtopic holds `+` or `#`: only an Observe/GET may use it. */
      wildcard: boolean;
    }
  | { kind: 'not-found' }
  | { kind: 'bad-request'; reason: string };

const NOT_FOUND: RequestTarget = Object.freeze({ kind: 'not-found' });

function bad(reason: string): RequestTarget {
  return { kind: 'bad-request', reason };
}

export function parseTarget(message: CoapMessage, limits: TopicLimits): RequestTarget {
  const values = message.optionValues(OptionNumber.UriPath);
  if (values.length < 3) return NOT_FOUND;
  const segments: string[] = [];
  for (const value of values) {
    if (!isAscii(value) && !isUtf8(value)) return bad('Uri-Path is not UTF-8');
    segments.push(value.toString('utf8'));
  }
  if (segments[0] !== 'channels' || segments[2] !== 'messages') return NOT_FOUND;
  let wildcard = false;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    if (segment.length === 0) return bad('empty path segment');
    if (segment.includes('/')) return bad('"/" inside a path segment');
    if (segment.includes('\u0000')) return bad('NUL in the path');
    const plus = segment.includes('+');
    const hash = segment.includes('#');
    if (!plus && !hash) continue;
    if (i < 3) return bad('wildcard in the channel id');
    if (segment.length !== 1) return bad('a wildcard must be a whole path segment');
    if (hash && i !== segments.length - 1) return bad('"#" must be the last path segment');
    wildcard = true;
  }
  const topic = segments.join('/');
  const error = wildcard ? validateTopicFilter(topic, limits) : validateTopicName(topic, limits);
  if (error !== null) return bad(`invalid topic: ${error}`);
  return { kind: 'channel', topic, wildcard };
}

/** Paths are nearly always ASCII: checking that in JS spares a call into the UTF-8 validator. */
function isAscii(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! > 0x7f) return false;
  return true;
}

/** The bytes after `auth=` in the first Uri-Query that has them (a view into the datagram), or undefined. */
export function authSecret(message: CoapMessage): Buffer | undefined {
  for (const o of message.options) {
    if (o.number < OptionNumber.UriQuery) continue;
    if (o.number > OptionNumber.UriQuery) break;
    const v = o.value;
    // 'auth='
    if (v.length >= 5 && v[0] === 0x61 && v[1] === 0x75 && v[2] === 0x74 && v[3] === 0x68 && v[4] === 0x3d) {
      return v.subarray(5);
    }
  }
  return undefined;
}
