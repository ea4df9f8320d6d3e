import { describe, expect, it } from 'vitest';
import {
  checkTopicNameBytes,
  DEFAULT_TOPIC_LIMITS,
  parseSharedFilter,
  topicMatches,
  validateTopicFilter,
  validateTopicName,
} from '../../../broker/core/topic.js';

describe('topic names', () => {
  it('accepts ordinary names, including empty levels and $ topics', () => {
    for (const t of ['a', 'a/b/c', '/a', 'a/', 'a//b', '$SYS/x', 'ünïcode/ö', ' '])
      expect(validateTopicName(t)).toBeNull();
  });
  it('refuses empty, wildcard, NUL and over-deep names', () => {
    expect(validateTopicName('')).toBe('empty');
    expect(validateTopicName('a/+')).toBe('wildcard-in-name');
    expect(validateTopicName('a/#')).toBe('wildcard-in-name');
    expect(validateTopicName('a\u0000b')).toBe('null-character');
    expect(validateTopicName('a/b/c', { maxTopicBytes: 100, maxTopicLevels: 2 })).toBe('too-many-levels');
    expect(validateTopicName('abcdef', { maxTopicBytes: 5, maxTopicLevels: 10 })).toBe('too-long');
  });
  it('checks raw bytes, rejecting ill-formed UTF-8 and surrogates', () => {
    const check = (b: number[]) => checkTopicNameBytes(Buffer.from(b), 0, b.length, DEFAULT_TOPIC_LIMITS);
    expect(check([0x61, 0x2f, 0x62])).toBeNull();
    expect(check([0xc3, 0xbc])).toBeNull(); // ü
    expect(check([0xc3])).toBe('invalid-utf8'); // truncated sequence
    expect(check([0xc0, 0xaf])).toBe('invalid-utf8'); // overlong '/'
    expect(check([0xed, 0xa0, 0x80])).toBe('invalid-utf8'); // U+D800
    expect(check([0x61, 0x00])).toBe('null-character');
    expect(check([0x61, 0x2b])).toBe('wildcard-in-name');
    expect(check([])).toBe('empty');
  });
});

describe('topic filters', () => {
  it('accepts wildcards that occupy a whole level, # only last', () => {
    for (const f of ['#', '+', 'a/+/c', 'a/#', '+/+', '/+', 'a/+/#', '$share/g/a/+'])
      expect(validateTopicFilter(f)).toBeNull();
  });
  it('refuses misplaced wildcards', () => {
    for (const f of ['a+', 'a/b+', '+a', 'a/#/c', '#/a', 'a#', 'a/b#']) {
      expect(validateTopicFilter(f)).toBe('misplaced-wildcard');
    }
  });
  it('refuses malformed shared subscriptions', () => {
    expect(validateTopicFilter('$share/g')).toBe('invalid-shared-subscription');
    expect(validateTopicFilter('$share//a')).toBe('invalid-shared-subscription');
    expect(validateTopicFilter('$share/g+/a')).toBe('invalid-shared-subscription');
    expect(validateTopicFilter('$share/g/')).toBe('invalid-shared-subscription');
    expect(parseSharedFilter('$share/grp/a/b')).toEqual({ group: 'grp', filter: 'a/b' });
    expect(parseSharedFilter('a/b')).toBeNull();
  });
});

describe('matching', () => {
  const cases: [string, string, boolean][] = [
    ['a/b', 'a/b', true],
    ['a/+', 'a/b', true],
    ['a/+', 'a/b/c', false],
    ['a/#', 'a', true], // # matches the parent level
    ['a/#', 'a/b/c', true],
    ['#', 'a/b', true],
    ['+/+', '/a', true],
    ['+', '/a', false],
    ['#', '$SYS/a', false], // no leading wildcard matches a $ topic
    ['+/a', '$SYS/a', false],
    ['$SYS/#', '$SYS/a', true],
    ['a/+/c', 'a//c', true],
  ];
  it.each(cases)('%s matches %s: %s', (filter, topic, expected) => {
    expect(topicMatches(filter, topic)).toBe(expected);
  });
});
