/** HTTP publish: status codes and JSON bodies (curl), auth schemes, keep-alive and pipelining (raw sockets). */
import type { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { Authorizer, ConnectRequest } from '../../../broker/index.js';
import { checkStrict } from '../../../codecs/index.js';
import { closeClient, collect, connectClient, until } from '../../helpers.js';
import {
  ALL_BYTES,
  curl,
  type HttpTestBroker,
  postRequest,
  RawHttp,
  startHttpBroker,
  withTempFile,
} from './http-helpers.js';

let tb: HttpTestBroker;
const clients: MqttClient[] = [];
const raws: RawHttp[] = [];
afterEach(async () => {
  for (const r of raws.splice(0)) r.destroy();
  await Promise.all(clients.splice(0).map((c) => closeClient(c, true)));
  await tb.close();
});

async function raw(): Promise<RawHttp> {
  const r = await RawHttp.open(tb.httpPort);
  raws.push(r);
  return r;
}

/** Things by secret; each may publish only on its own channel. */
function thingAuthorizer(seen: ConnectRequest[] = []): Authorizer {
  const things: Record<string, string> = { s3cret: 'c1', other: 'c2' };
  return {
    authenticate: (req) => {
      seen.push(req);
      if (req.scheme === 'basic') {
        return req.username === 'thing' && req.password?.toString() === 'pw'
          ? { ok: true, principal: { channel: 'c1' } }
          : { ok: false, reason: 'bad-credentials' };
      }
      const channel = things[req.password?.toString() ?? ''];
      if (req.password?.toString() === 'down') return { ok: false, reason: 'unavailable' };
      if (req.password?.toString() === 'banned') return { ok: false, reason: 'not-authorized' };
      return channel ? { ok: true, principal: { channel } } : { ok: false, reason: 'bad-credentials' };
    },
    authorizePublish: (client, topic) =>
      topic.startsWith(`channels/${(client.principal as { channel: string }).channel}/`),
    authorizeSubscribe: () => true,
  };
}

const JSON_TYPE = ['-H', 'Content-Type: application/senml+json'];
const THING = ['-H', 'Authorization: Thing s3cret'];

describe('HTTP publish: answers (curl)', () => {
  it('202 with a JSON body; the message reaches MQTT 5 subscribers with its content type and bytes', async () => {
    tb = await startHttpBroker({ authorizer: thingAuthorizer() });
    const sub = await connectClient(tb.mqttUrl, { protocolVersion: 5, username: 't', password: 's3cret' });
    clients.push(sub);
    await sub.subscribeAsync('channels/c1/messages/#');
    const r = await withTempFile(ALL_BYTES, (file) =>
      curl(`${tb.base}/channels/c1/messages/room/temp`, [
        '-X',
        'POST',
        ...THING,
        '-H',
        'Content-Type: application/octet-stream',
        '--data-binary',
        `@${file}`,
      ]),
    );
    expect(r.status).toBe(202);
    expect(r.json).toEqual({ accepted: true, topic: 'channels/c1/messages/room/temp', deliveries: 1 });
    expect(r.headers.toLowerCase()).toContain('content-type: application/json');
    await until(() => collect(sub).length === 1);
    const got = collect(sub)[0]!;
    expect(got.topic).toBe('channels/c1/messages/room/temp');
    expect(got.payload.equals(ALL_BYTES)).toBe(true);
    expect(got.packet.properties?.contentType).toBe('application/octet-stream');
    expect(tb.broker.http!.stats.published).toBe(1);
  });

  it('every accepted content type (parameters and case ignored); others are 415', async () => {
    tb = await startHttpBroker();
    for (const type of [
      'application/senml+json',
      'application/senml+cbor',
      'application/octet-stream',
      'application/vnd.omap.megolm.v1',
      'Application/SenML+JSON; charset=utf-8',
    ]) {
      const r = await curl(`${tb.base}/channels/c1/messages`, [
        '-H',
        `Content-Type: ${type}`,
        '--data-binary',
        '[]',
      ]);
      expect(r.status, type).toBe(202);
    }
    for (const args of [
      ['-H', 'Content-Type: text/plain'],
      ['-H', 'Content-Type: application/json'],
      [], // curl's default application/x-www-form-urlencoded
      ['-H', 'Content-Type:'], // none at all
    ]) {
      const r = await curl(`${tb.base}/channels/c1/messages`, [...args, '--data-binary', '[]']);
      expect(r.status, args.join(' ')).toBe(415);
      expect(r.json).toMatchObject({ error: 'unsupported-media-type' });
      expect(String(r.json!.message)).toContain('application/senml+json');
    }
  });

  it('400 for a malformed channel path, 404 for other paths, 405 for other methods', async () => {
    tb = await startHttpBroker();
    for (const path of [
      '/channels//messages',
      '/channels/a+b/messages',
      '/channels/a%23/messages',
      '/channels/c1/messages/%2B',
      '/channels/c1/messages/a/%23',
      '/channels/c1/messages/a%2Fb',
      '/channels/c1/messages/%E0%A4%A',
    ]) {
      const r = await curl(`${tb.base}${path}`, [...JSON_TYPE, '--data-binary', '[]']);
      expect(r.status, path).toBe(400);
      expect(r.json, path).toMatchObject({ error: 'bad-request' });
      expect(typeof r.json!.message).toBe('string');
    }
    for (const path of ['/channels/c1', '/channels/c1/other', '/channels/c1/messagesX', '/nothing/here']) {
      const r = await curl(`${tb.base}${path}`, [...JSON_TYPE, '--data-binary', '[]']);
      expect(r.status, path).toBe(404);
      expect(r.json, path).toMatchObject({ error: 'not-found' });
    }
    const put = await curl(`${tb.base}/channels/c1/messages`, [
      '-X',
      'PUT',
      ...JSON_TYPE,
      '--data-binary',
      '[]',
    ]);
    expect(put.status).toBe(405);
    expect(put.json).toMatchObject({ error: 'method-not-allowed' });
    expect(put.headers).toMatch(/allow: GET, POST/i);
  });

  it('percent-encoded segments are decoded into the topic', async () => {
    tb = await startHttpBroker();
    const r = await curl(`${tb.base}/channels/c%201/messages/caf%C3%A9`, [
      ...JSON_TYPE,
      '--data-binary',
      '[]',
    ]);
    expect(r.status).toBe(202);
    expect(r.json!.topic).toBe('channels/c 1/messages/café');
  });

  it('401 without or with bad credentials (and WWW-Authenticate), 403 on a foreign channel, 503 when auth is down', async () => {
    tb = await startHttpBroker({ authorizer: thingAuthorizer() });
    const url = `${tb.base}/channels/c1/messages`;
    for (const auth of [
      [],
      ['-H', 'Authorization: Thing wrong'],
      ['-H', 'Authorization: Foo bar'],
      ['-H', 'Authorization: Basic !!!'],
    ]) {
      const r = await curl(url, [...auth, ...JSON_TYPE, '--data-binary', '[]']);
      expect(r.status, auth.join(' ')).toBe(401);
      expect(r.json).toMatchObject({ error: 'unauthorized' });
      expect(r.headers).toMatch(/www-authenticate: Thing, Bearer, Basic/i);
    }
    const foreign = await curl(`${tb.base}/channels/c2/messages`, [
      ...THING,
      ...JSON_TYPE,
      '--data-binary',
      '[]',
    ]);
    expect(foreign.status).toBe(403);
    expect(foreign.json).toMatchObject({
      error: 'forbidden',
      message: 'not allowed to publish to channels/c2/messages',
    });
    const banned = await curl(url, [
      '-H',
      'Authorization: Thing banned',
      ...JSON_TYPE,
      '--data-binary',
      '[]',
    ]);
    expect(banned.status).toBe(403);
    const down = await curl(url, ['-H', 'Authorization: Thing down', ...JSON_TYPE, '--data-binary', '[]']);
    expect(down.status).toBe(503);
    expect(down.json).toMatchObject({ error: 'unavailable' });
    expect(tb.broker.http!.stats.published).toBe(0);
  });

  it('Thing, Bearer and Basic credentials reach the Authorizer with their scheme', async () => {
    const seen: ConnectRequest[] = [];
    tb = await startHttpBroker({ authorizer: thingAuthorizer(seen) });
    const url = `${tb.base}/channels/c1/messages`;
    expect((await curl(url, [...THING, ...JSON_TYPE, '--data-binary', '[]'])).status).toBe(202);
    expect(
      (await curl(url, ['-H', 'Authorization: Bearer other', ...JSON_TYPE, '--data-binary', '[]'])).status,
    ).toBe(403);
    expect((await curl(url, ['-u', 'thing:pw', ...JSON_TYPE, '--data-binary', '[]'])).status).toBe(202);
    expect(seen.map((r) => [r.scheme, r.username, r.password?.toString(), r.protocol])).toEqual([
      ['thing', undefined, 's3cret', 'http'],
      ['bearer', undefined, 'other', 'http'],
      ['basic', 'thing', 'pw', 'http'],
    ]);
    expect(seen[0]!.remoteAddress).toBe('127.0.0.1');
  });

  it('413 as soon as the declared size passes the limit, and for a chunked body that grows past it', async () => {
    tb = await startHttpBroker({ http: { maxBodyBytes: 1024 } });
    await withTempFile(Buffer.alloc(5000, 1), async (file) => {
      const declared = await curl(`${tb.base}/channels/c1/messages`, [
        '-H',
        'Content-Type: application/octet-stream',
        '--data-binary',
        `@${file}`,
      ]);
      expect(declared.status).toBe(413);
      expect(declared.json).toMatchObject({
        error: 'payload-too-large',
        message: 'the body is larger than 1024 bytes',
      });
      const chunked = await curl(`${tb.base}/channels/c1/messages`, [
        '-H',
        'Content-Type: application/octet-stream',
        '-H',
        'Transfer-Encoding: chunked',
        '--data-binary',
        `@${file}`,
      ]);
      expect(chunked.status).toBe(413);
    });
    const exact = await curl(`${tb.base}/channels/c1/messages`, [
      '-H',
      'Content-Type: application/octet-stream',
      '--data-binary',
      'x'.repeat(1024),
    ]);
    expect(exact.status).toBe(202);
    expect(tb.broker.http!.stats.published).toBe(1);
  });

  it('the body is forwarded untouched by default; the broker payload validator refuses with 400', async () => {
    tb = await startHttpBroker();
    const loose = await curl(`${tb.base}/channels/c1/messages`, [...JSON_TYPE, '--data-binary', '{not json']);
    expect(loose.status).toBe(202);
    await tb.close();
    // Strict channels (here: channel "strict") accept valid SenML only.
    tb = await startHttpBroker({
      payloadValidator: {
        validate: (topic, contentType, payload) => {
          if (!topic.startsWith('channels/strict/')) return null;
          const r = checkStrict(contentType ?? 'application/senml+json', payload);
          return r.ok ? null : r.error.message;
        },
      },
    });
    const strict = `${tb.base}/channels/strict/messages`;
    const bad = await curl(strict, [...JSON_TYPE, '--data-binary', '{not json']);
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ error: 'bad-request' });
    expect(String(bad.json!.message)).toMatch(/^invalid payload: /);
    const good = await curl(strict, [...JSON_TYPE, '--data-binary', '[{"n":"t","v":1}]']);
    expect(good.status).toBe(202);
    const elsewhere = await curl(`${tb.base}/channels/c1/messages`, [
      ...JSON_TYPE,
      '--data-binary',
      '{not json',
    ]);
    expect(elsewhere.status).toBe(202);
    expect(tb.broker.core.invalidPayloads).toBe(1);
  });

  it('/health is 200; /ready is 200 while listening', async () => {
    tb = await startHttpBroker();
    const health = await curl(`${tb.base}/health`);
    expect(health.status).toBe(200);
    expect(health.json).toEqual({ status: 'ok' });
    const ready = await curl(`${tb.base}/ready`);
    expect(ready.status).toBe(200);
    expect(ready.json).toEqual({ status: 'ready' });
  });
});

describe('HTTP publish: connections', () => {
  it('keep-alive with pipelining: three requests in one write get three answers in order', async () => {
    tb = await startHttpBroker({ authorizer: thingAuthorizer() });
    const c = await raw();
    c.write(
      postRequest('/channels/c1/messages/a', 'one', { Authorization: 'Thing s3cret' }) +
        postRequest('/channels/c2/messages/b', 'two', { Authorization: 'Thing s3cret' }) +
        postRequest('/channels/c1/messages/c', 'three', { Authorization: 'Thing s3cret' }),
    );
    const answers = [await c.response(), await c.response(), await c.response()];
    expect(answers.map((a) => a.status)).toEqual([202, 403, 202]);
    expect(JSON.parse(answers[0]!.body.toString()).topic).toBe('channels/c1/messages/a');
    expect(JSON.parse(answers[2]!.body.toString()).topic).toBe('channels/c1/messages/c');
    // The connection is still usable afterwards.
    c.write(postRequest('/channels/c1/messages/d', 'four', { Authorization: 'Thing s3cret' }));
    expect((await c.response()).status).toBe(202);
    expect(c.closed).toBe(false);
  });

  it('an early refusal (415, 401) leaves the connection usable: uWS discards the unread body', async () => {
    tb = await startHttpBroker({ authorizer: thingAuthorizer() });
    const c = await raw();
    c.write(postRequest('/channels/c1/messages', 'x'.repeat(3000), { 'content-type': 'text/plain' }));
    expect((await c.response()).status).toBe(415);
    c.write(postRequest('/channels/c1/messages', 'y'.repeat(3000), { Authorization: 'Thing nope' }));
    expect((await c.response()).status).toBe(401);
    c.write(postRequest('/channels/c1/messages', 'z', { Authorization: 'Thing s3cret' }));
    expect((await c.response()).status).toBe(202);
  });

  it('a declared size over the limit is answered 413 at once and the connection closed', async () => {
    tb = await startHttpBroker({ http: { maxBodyBytes: 1024 } });
    const c = await raw();
    // Only the headers are sent: the answer must not wait for the (never sent) body.
    c.write(
      'POST /channels/c1/messages HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000000\r\n\r\n',
    );
    const answer = await c.response();
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body.toString())).toMatchObject({ error: 'payload-too-large' });
    await c.whenClosed();
  });

  it('the authentication answer is cached per credential and forgotten on invalidateAuthorizations()', async () => {
    const seen: ConnectRequest[] = [];
    tb = await startHttpBroker({ authorizer: thingAuthorizer(seen) });
    const c = await raw();
    for (let i = 0; i < 5; i++) {
      c.write(postRequest('/channels/c1/messages', `m${i}`, { Authorization: 'Thing s3cret' }));
      expect((await c.response()).status).toBe(202);
    }
    expect(seen.length).toBe(1);
    tb.broker.invalidateAuthorizations();
    c.write(postRequest('/channels/c1/messages', 'again', { Authorization: 'Thing s3cret' }));
    expect((await c.response()).status).toBe(202);
    expect(seen.length).toBe(2);
  });

  it('an asynchronous Authorizer: concurrent requests with one credential share one authentication', async () => {
    let authentications = 0;
    tb = await startHttpBroker({
      authorizer: {
        authenticate: async (req) => {
          authentications++;
          await new Promise((r) => setTimeout(r, 20));
          return req.password?.toString() === 'ok' ? { ok: true } : { ok: false, reason: 'bad-credentials' };
        },
        authorizePublish: async (_c, topic) => !topic.endsWith('/denied'),
        authorizeSubscribe: () => true,
      },
    });
    const sub = await connectClient(tb.mqttUrl, { username: 't', password: 'ok' });
    clients.push(sub);
    await sub.subscribeAsync('channels/#');
    authentications = 0;
    const url = `${tb.base}/channels/c1/messages`;
    const results = await Promise.all([
      curl(url, ['-H', 'Authorization: Thing ok', ...JSON_TYPE, '--data-binary', '[1]']),
      curl(url, ['-H', 'Authorization: Thing ok', ...JSON_TYPE, '--data-binary', '[2]']),
      curl(`${url}/denied`, ['-H', 'Authorization: Thing ok', ...JSON_TYPE, '--data-binary', '[3]']),
      curl(url, ['-H', 'Authorization: Thing bad', ...JSON_TYPE, '--data-binary', '[4]']),
    ]);
    expect(results.map((r) => r.status)).toEqual([202, 202, 403, 401]);
    expect(authentications).toBeLessThanOrEqual(2 + 1); // "ok" once (or twice if not concurrent), "bad" once
    await until(() => collect(sub).length === 2);
    expect(
      collect(sub)
        .map((m) => m.payload.toString())
        .sort(),
    ).toEqual(['[1]', '[2]']);
  });

  it('a request aborted mid-body or mid-authentication harms nobody: counted, nothing published, others served', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let authentications = 0;
    tb = await startHttpBroker({
      authorizer: {
        // Held until both requests are aborted: they are aborted while authentication is pending.
        authenticate: async () => {
          authentications++;
          await gate;
          return { ok: true };
        },
        authorizePublish: () => true,
        authorizeSubscribe: () => true,
      },
    });
    const midBody = await raw();
    midBody.write(
      'POST /channels/c1/messages HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\npartial',
    );
    const midAuth = await raw();
    midAuth.write(postRequest('/channels/c1/messages', 'whole', { Authorization: 'Thing slow' }));
    await until(() => authentications === 2, 5000, 'both requests to reach the Authorizer');
    midBody.destroy();
    midAuth.destroy();
    await until(() => tb.broker.http!.stats.aborted === 2, 5000, 'two aborted requests');
    release();
    const ok = await curl(`${tb.base}/channels/c1/messages`, [...JSON_TYPE, '--data-binary', '[]']);
    expect(ok.status).toBe(202);
    expect(tb.broker.http!.stats.published).toBe(1);
    expect(tb.broker.http!.connections.pendingRequests).toBe(0);
  });
});
