/** Server-Sent Events: streaming, binary-safe envelope, wildcards, retained, auth, slow consumers, cleanup. */
import type { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { Authorizer } from '../../../broker/index.js';
import { closeClient, connectClient, until } from '../../helpers.js';
import { ALL_BYTES, type HttpTestBroker, SseClient, startHttpBroker } from './http-helpers.js';

let tb: HttpTestBroker;
const clients: MqttClient[] = [];
const streams: SseClient[] = [];
afterEach(async () => {
  for (const s of streams.splice(0)) s.close();
  await Promise.all(clients.splice(0).map((c) => closeClient(c, true)));
  await tb.close();
});

function sse(path: string, headers: Record<string, string> = {}): SseClient {
  const s = new SseClient(tb.httpPort, path, headers);
  streams.push(s);
  return s;
}

const readersOnly: Authorizer = {
  authenticate: (req) =>
    req.password?.toString() === 'reader'
      ? { ok: true, principal: 'reader' }
      : { ok: false, reason: 'bad-credentials' },
  authorizePublish: () => true,
  authorizeSubscribe: (_client, filter) => filter.startsWith('channels/c1/'),
};

describe('SSE subscribe', () => {
  it('streams messages as they arrive, payload bytes intact, content type kept, wildcards matched', async () => {
    tb = await startHttpBroker();
    const stream = sse('/channels/c1/messages/%23');
    await stream.subscribed();
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toBe('text/event-stream');
    expect(stream.headers['cache-control']).toBe('no-cache');
    const pub = await connectClient(tb.mqttUrl, { protocolVersion: 5 });
    clients.push(pub);
    await pub.publishAsync('channels/c1/messages/a/b', ALL_BYTES, {
      properties: { contentType: 'application/octet-stream' },
    });
    await pub.publishAsync('channels/c2/messages/x', 'other channel');
    await pub.publishAsync('channels/c1/messages', 'parent level (# matches it)');
    await stream.until(() => stream.messages().length === 2);
    const [first, second] = stream.messages();
    expect(first!.topic).toBe('channels/c1/messages/a/b');
    expect(first!.contentType).toBe('application/octet-stream');
    expect(first!.payload.equals(ALL_BYTES)).toBe(true);
    expect(second!.topic).toBe('channels/c1/messages');
    expect(second!.payload.toString()).toBe('parent level (# matches it)');
  });

  it('replays retained messages at subscription, marked retained', async () => {
    tb = await startHttpBroker();
    tb.broker.publish({ topic: 'channels/c1/messages/state', payload: 'on', retain: true });
    const stream = sse('/channels/c1/messages/+');
    await stream.until(() => stream.messages().length === 1);
    expect(stream.messages()[0]).toMatchObject({ topic: 'channels/c1/messages/state', retained: true });
  });

  it('answers 406 without Accept: text/event-stream, 400/404 for bad paths', async () => {
    tb = await startHttpBroker();
    const plain = sse('/channels/c1/messages', { accept: 'application/json' });
    await plain.answered();
    expect(plain.status).toBe(406);
    expect(JSON.parse(plain.body)).toMatchObject({ error: 'not-acceptable' });
    const bad = sse('/channels/c1/messages/a#b'); // node:http sends the '#' as is
    await bad.answered();
    expect(bad.status).toBe(400);
    const badFilter = sse('/channels/c1/messages/a%23b');
    await badFilter.answered();
    expect(badFilter.status).toBe(400);
    expect(JSON.parse(badFilter.body)).toMatchObject({ error: 'bad-request' });
    const nowhere = sse('/channels/c1/elsewhere');
    await nowhere.answered();
    expect(nowhere.status).toBe(404);
  });

  it('401 without credentials, 403 on a filter the Authorizer refuses; ?authorization= works for browsers', async () => {
    tb = await startHttpBroker({ authorizer: readersOnly });
    const anonymous = sse('/channels/c1/messages');
    await anonymous.answered();
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.body)).toMatchObject({ error: 'unauthorized' });
    const foreign = sse('/channels/c2/messages', { authorization: 'Thing reader' });
    await foreign.answered();
    expect(foreign.status).toBe(403);
    const byQuery = sse('/channels/c1/messages?authorization=Thing%20reader');
    await byQuery.subscribed();
    const byHeader = sse('/channels/c1/messages', { authorization: 'Thing reader' });
    await byHeader.subscribed();
    tb.broker.publish({ topic: 'channels/c1/messages', payload: 'hi' });
    await byQuery.until(() => byQuery.messages().length === 1);
    await byHeader.until(() => byHeader.messages().length === 1);
  });

  it('unsubscribes when the client goes away', async () => {
    tb = await startHttpBroker();
    const stream = sse('/channels/c1/messages');
    await stream.subscribed();
    expect(tb.broker.stats().subscriptions).toBe(1);
    expect(tb.broker.http!.connections.sse).toBe(1);
    stream.close();
    await until(() => tb.broker.http!.connections.sse === 0, 5000, 'the stream to be forgotten');
    expect(tb.broker.stats().subscriptions).toBe(0);
  });

  it('a slow SSE consumer loses messages (counted) while a fast one gets everything', async () => {
    tb = await startHttpBroker({ http: { maxSubscriberBufferBytes: 64 * 1024 } });
    const slow = sse('/channels/load/messages');
    const fast = sse('/channels/load/messages');
    await slow.subscribed();
    await fast.subscribed();
    slow.pause();
    const payload = Buffer.alloc(4096, 0x41);
    const total = 2000; // ≈ 11 MB of events: far beyond the socket buffers and the 64 KiB bound
    for (let i = 0; i < total; i += 10) {
      for (let j = 0; j < 10; j++) tb.broker.publish({ topic: 'channels/load/messages', payload });
      // Let the fast consumer read between bursts (10 events ≈ 55 KB, under the bound).
      await fast.until(() => fast.messages().length >= i + 10, 10_000, 'the fast consumer');
    }
    expect(fast.messages().length).toBe(total);
    const stats = tb.broker.http!.stats;
    expect(stats.droppedSse).toBeGreaterThan(0);
    expect(slow.messages().length).toBeLessThan(total);
    slow.close();
    streams.splice(streams.indexOf(slow), 1);
    const again = sse('/channels/load/messages');
    await again.subscribed();
    expect(tb.broker.http!.connections.sse).toBe(2);
  });

  it('a slow consumer that resumes gets everything that was not dropped, then a dropped notice', async () => {
    // No heartbeat: nothing but the drain itself may push the tail of the backlog out.
    tb = await startHttpBroker({ http: { maxSubscriberBufferBytes: 32 * 1024, sseHeartbeatMs: 0 } });
    const slow = sse('/channels/load/messages');
    await slow.subscribed();
    slow.pause();
    const payload = Buffer.alloc(8192, 0x42);
    const total = 1000;
    for (let i = 0; i < total; i++) tb.broker.publish({ topic: 'channels/load/messages', payload });
    await until(() => tb.broker.http!.stats.droppedSse > 0, 5000, 'drops');
    const dropped = tb.broker.http!.stats.droppedSse;
    (slow as unknown as { response: { resume(): void } }).response.resume();
    await slow.until(
      () => slow.messages().length === total - dropped,
      10_000,
      'every message that was not dropped',
    );
    // The next message after the backlog drained carries a "dropped" notice first.
    tb.broker.publish({ topic: 'channels/load/messages', payload: 'after' });
    await slow.until(() => slow.events.some((e) => e.event === 'dropped'), 5000, 'a dropped notice');
    const notice = slow.events.find((e) => e.event === 'dropped')!;
    expect(JSON.parse(notice.data).dropped).toBe(dropped);
    await slow.until(() => slow.messages().length === total - dropped + 1, 5000, 'the message after');
    expect(slow.messages().at(-1)!.payload.toString()).toBe('after');
  });
});
