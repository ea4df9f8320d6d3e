import { describe, expect, it } from 'vitest';
import { topicMatches } from '../../../broker/core/topic.js';
import { TopicIndex } from '../../../broker/core/topic-index.js';

interface Sub {
  subscriberId: string;
  tag?: string;
}
const ids = (r: { subscriptions: readonly Sub[] }) => r.subscriptions.map((s) => s.subscriberId).sort();

describe('TopicIndex', () => {
  it('matches exact, + and # filters, # including the parent level', () => {
    const idx = new TopicIndex<Sub>();
    idx.add('a/b', { subscriberId: 'exact' });
    idx.add('a/+', { subscriberId: 'plus' });
    idx.add('a/#', { subscriberId: 'hash' });
    idx.add('#', { subscriberId: 'all' });
    expect(ids(idx.match('a/b'))).toEqual(['all', 'exact', 'hash', 'plus']);
    expect(ids(idx.match('a'))).toEqual(['all', 'hash']);
    expect(ids(idx.match('a/b/c'))).toEqual(['all', 'hash']);
    expect(ids(idx.match('b'))).toEqual(['all']);
  });

  it('never matches $ topics through a leading wildcard', () => {
    const idx = new TopicIndex<Sub>();
    idx.add('#', { subscriberId: 'all' });
    idx.add('+/x', { subscriberId: 'plus' });
    idx.add('$SYS/#', { subscriberId: 'sys' });
    expect(ids(idx.match('$SYS/x'))).toEqual(['sys']);
    expect(ids(idx.match('$SYS'))).toEqual(['sys']);
  });

  it('replaces a subscriber on the same filter and removes cleanly', () => {
    const idx = new TopicIndex<Sub>();
    expect(idx.add('a/+', { subscriberId: 's', tag: '1' })).toBeUndefined();
    expect(idx.add('a/+', { subscriberId: 's', tag: '2' })?.tag).toBe('1');
    expect(idx.size).toBe(1);
    expect(idx.match('a/x').subscriptions[0]?.tag).toBe('2');
    expect(idx.remove('a/+', 's')?.tag).toBe('2');
    expect(idx.remove('a/+', 's')).toBeUndefined();
    expect(idx.size).toBe(0);
    expect(idx.match('a/x').subscriptions).toHaveLength(0);
  });

  it('serves repeated topics from the cache and invalidates it on change', () => {
    const idx = new TopicIndex<Sub>();
    idx.add('a/b', { subscriberId: 'one' });
    idx.match('a/b');
    idx.match('a/b');
    expect(idx.cacheHits).toBe(1);
    expect(idx.cacheMisses).toBe(1);
    idx.add('a/b', { subscriberId: 'two' }); // exact filter: that entry goes
    expect(ids(idx.match('a/b'))).toEqual(['one', 'two']);
    idx.match('x/y');
    idx.add('+/y', { subscriberId: 'wild' }); // wildcard: everything goes
    expect(idx.cachedTopics).toBe(0);
    expect(ids(idx.match('x/y'))).toEqual(['wild']);
    idx.remove('+/y', 'wild');
    expect(ids(idx.match('x/y'))).toEqual([]);
  });

  it('flags a subscriber that matches through two filters', () => {
    const idx = new TopicIndex<Sub>();
    idx.add('a/+', { subscriberId: 's' });
    idx.add('a/#', { subscriberId: 's' });
    idx.add('a/b', { subscriberId: 't' });
    expect(idx.match('a/b').overlapping).toBe(true);
    expect(idx.match('a').overlapping).toBe(false);
  });

  it('keeps shared groups apart and picks members in turn', () => {
    const idx = new TopicIndex<Sub>();
    idx.add('s/+', { subscriberId: 'a' }, 'g');
    idx.add('s/+', { subscriberId: 'b' }, 'g');
    idx.add('s/+', { subscriberId: 'c' }, 'other');
    const r = idx.match('s/1');
    expect(r.subscriptions).toHaveLength(0);
    expect(r.groups.map((g) => g.name).sort()).toEqual(['g', 'other']);
    const g = r.groups.find((x) => x.name === 'g')!;
    expect([g.pick()?.subscriberId, g.pick()?.subscriberId, g.pick()?.subscriberId]).toEqual(['a', 'b', 'a']);
    idx.remove('s/+', 'a', 'g');
    expect(
      idx
        .match('s/1')
        .groups.find((x) => x.name === 'g')!
        .pick()?.subscriberId,
    ).toBe('b');
  });

  it('agrees with the reference matcher on random filters and topics', () => {
    // A small deterministic generator: levels from a tiny alphabet so that matches are frequent.
    let seed = 42;
    const rnd = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    const level = () => ['a', 'b', '', '$x'][rnd(4)]!;
    const filters: string[] = [];
    const idx = new TopicIndex<Sub>();
    for (let i = 0; i < 300; i++) {
      const parts = Array.from({ length: 1 + rnd(4) }, () => [level(), '+', level()][rnd(3)]!);
      if (rnd(4) === 0) parts.push('#');
      const f = parts.join('/');
      filters.push(f);
      idx.add(f, { subscriberId: `s${i}` });
    }
    for (let i = 0; i < 500; i++) {
      const topic = Array.from({ length: 1 + rnd(5) }, level).join('/');
      const expected = filters.flatMap((f, j) => (topicMatches(f, topic) ? [`s${j}`] : [])).sort();
      expect(ids(idx.match(topic))).toEqual(expected);
    }
  });
});
