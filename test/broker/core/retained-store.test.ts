import { describe, expect, it } from 'vitest';
import { Message } from '../../../broker/core/message.js';
import { RetainedStore } from '../../../broker/core/retained-store.js';

const msg = (
  topic: string,
  payload: string,
  props?: { messageExpiryInterval: number },
  created = Date.now(),
) => new Message(topic, Buffer.from(payload), 0, true, undefined, props, created);
const topics = (ms: Message[]) => ms.map((m) => m.topic).sort();

describe('RetainedStore', () => {
  it('sets, replaces and clears on empty payload', () => {
    const r = new RetainedStore();
    r.set(msg('a/b', '1'));
    r.set(msg('a/b', '2'));
    expect(r.get('a/b')?.payload.toString()).toBe('2');
    expect(r.size).toBe(1);
    r.set(msg('a/b', ''));
    expect(r.get('a/b')).toBeUndefined();
    expect(r.size).toBe(0);
  });

  it('finds retained messages through wildcard filters', () => {
    const r = new RetainedStore();
    for (const t of ['a/1/c', 'a/2/c', 'a/2/d', 'a', 'b/c', '$SYS/x']) r.set(msg(t, t));
    expect(topics(r.match('a/+/c'))).toEqual(['a/1/c', 'a/2/c']);
    expect(topics(r.match('a/#'))).toEqual(['a', 'a/1/c', 'a/2/c', 'a/2/d']);
    expect(topics(r.match('#'))).toEqual(['a', 'a/1/c', 'a/2/c', 'a/2/d', 'b/c']);
    expect(topics(r.match('+/c'))).toEqual(['b/c']);
    expect(topics(r.match('$SYS/#'))).toEqual(['$SYS/x']);
    expect(topics(r.match('a/1/c'))).toEqual(['a/1/c']);
  });

  it('skips expired messages and refuses new topics beyond its bound', () => {
    const r = new RetainedStore({ maxRetained: 2 });
    r.set(msg('old', 'x', { messageExpiryInterval: 1 }, Date.now() - 5000));
    r.set(msg('new', 'y'));
    expect(topics(r.match('#'))).toEqual(['new']);
    expect(r.set(msg('third', 'z'))).toBe(false);
    expect(r.refused).toBe(1);
    expect(r.set(msg('new', 'replaced'))).toBe(true);
  });
});
