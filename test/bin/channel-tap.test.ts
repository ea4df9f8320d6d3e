/** The storage tap of `omap serve`: which messages reach the codec pool, with which channel, subtopic and publisher. */
import { afterEach, describe, expect, it } from 'vitest';
import { PlatformPrincipal } from '../../auth/principal.js';
import { ChannelTap, channelSource } from '../../bin/channel-tap.js';
import { type ClientInfo, Message } from '../../broker/index.js';
import { CodecPool, type Row } from '../../codecs/index.js';

const pools: CodecPool[] = [];
afterEach(async () => {
  for (const p of pools.splice(0)) await p.destroy();
});

function tapWithRows(): { tap: ChannelTap; pool: CodecPool; rows: Row[] } {
  const rows: Row[] = [];
  const pool = new CodecPool({ threads: 1, onRows: (r) => void rows.push(...r), flushIntervalMs: 60_000 });
  pools.push(pool);
  return { tap: new ChannelTap(pool), pool, rows };
}

const senml = (v: number): Buffer => Buffer.from(JSON.stringify([{ n: 'temp', v }]));

describe('channelSource', () => {
  it('parses channel topics and ignores every other topic', () => {
    const client: ClientInfo = { id: 'dev-1', protocol: 'mqtt' };
    expect(channelSource('channels/c1/messages', client)).toMatchObject({
      channel: 'c1',
      subtopic: '',
      publisher: 'dev-1',
      protocol: 'mqtt',
    });
    expect(channelSource('channels/c1/messages/room/1', client)).toMatchObject({ subtopic: 'room/1' });
    for (const topic of [
      'channels/c1',
      'channels//messages',
      'x/channels/c1/messages',
      'channels/c1/messagesx',
    ])
      expect(channelSource(topic, client)).toBeNull();
    expect(channelSource('channels/c1/messages', undefined)).toMatchObject({
      publisher: '',
      protocol: 'internal',
    });
  });

  it("uses the platform thing's id as the publisher when the client authenticated as one", () => {
    const principal = new PlatformPrincipal('thing', 'thing-42', 'tenant-1', 'thing:thing-42');
    expect(
      channelSource('channels/c/messages', { id: 'mqtt-client-id', protocol: 'coap', principal }),
    ).toMatchObject({ publisher: 'thing-42', protocol: 'coap' });
  });
});

describe('ChannelTap', () => {
  it('hands channel messages to the pool with their source, SenML JSON by default, and skips the rest', async () => {
    const { tap, pool, rows } = tapWithRows();
    const a: ClientInfo = { id: 'a', protocol: 'mqtt' };
    const b: ClientInfo = { id: 'b', protocol: 'http' };
    tap.onMessage(new Message('channels/c1/messages/room', senml(1), 0, false), a);
    tap.onMessage(new Message('other/topic', senml(2), 0, false), a);
    tap.onMessage(new Message('channels/c1/messages/room', senml(3), 0, false), b);
    tap.onMessage(new Message('channels/c2/messages', senml(4), 0, false), a);
    tap.onMessage(
      new Message('channels/c2/messages', Buffer.from([1, 2]), 0, false, 'a', {
        contentType: 'application/octet-stream',
      }),
      a,
    );
    tap.onMessage(new Message('channels/c1/messages/room', senml(5), 0, false), a);
    expect(pool.stats.accepted).toBe(5);
    await pool.drain();
    expect(
      rows.map((r) => [
        r.channel,
        r.subtopic,
        r.publisher,
        r.protocol,
        r.kind === 'senml' ? r.value : r.contentType,
      ]),
    ).toEqual([
      ['c1', 'room', 'a', 'mqtt', 1],
      ['c1', 'room', 'b', 'http', 3],
      ['c2', '', 'a', 'mqtt', 4],
      ['c1', 'room', 'a', 'mqtt', 5],
      ['c2', '', 'a', 'mqtt', 'application/octet-stream'],
    ]);
  });

  it('remembers the last topic per client, a skipped one included, whatever topic comes next', async () => {
    const { tap, pool, rows } = tapWithRows();
    const a: ClientInfo = { id: 'a', protocol: 'mqtt' };
    const b: ClientInfo = { id: 'b', protocol: 'mqtt' };
    const sequence: Array<[string, ClientInfo | undefined]> = [
      ['other/topic', a],
      ['other/topic', a],
      ['channels/c1/messages', a],
      ['channels/c1/messages', b],
      ['channels/c1/messages', a],
      ['other/topic', a],
      ['channels/c2/messages/x', undefined],
      ['channels/c2/messages/x', undefined],
    ];
    sequence.forEach(([topic, client], i) => {
      tap.onMessage(new Message(topic, senml(i), 0, false), client);
    });
    expect(pool.stats.accepted).toBe(5);
    await pool.drain();
    expect(
      rows.map((r) => [r.channel, r.subtopic, r.publisher, r.kind === 'senml' ? r.value : null]),
    ).toEqual([
      ['c1', '', 'a', 2],
      ['c1', '', 'b', 3],
      ['c1', '', 'a', 4],
      ['c2', 'x', '', 6],
      ['c2', 'x', '', 7],
    ]);
  });
});
