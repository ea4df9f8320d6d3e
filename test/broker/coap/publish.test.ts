/** CoAP publish: coap-client-notls, the npm coap client and hand-made datagrams, into MQTT subscribers. */
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode as encodeCbor } from 'cbor-x';
import coap from 'coap';
import { generate } from 'coap-packet';
import type { MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Authorizer, ClientInfo, ConnectRequest } from '../../../broker/index.js';
import { closeClient, collect, connectClient, until, waitFor } from '../../helpers.js';
import {
  type CoapTestBroker,
  coapClient,
  option,
  RawCoapClient,
  startCoapBroker,
  uint,
  uintOption,
  uriOptions,
} from './coap-helpers.js';

let tb: CoapTestBroker;
let dir: string;
const mqttClients: MqttClient[] = [];
const raws: RawCoapClient[] = [];
const agents: coap.Agent[] = [];

async function start(options: Parameters<typeof startCoapBroker>[0] = {}) {
  tb = await startCoapBroker(options);
}

async function subscriber(filter = 'channels/#') {
  const c = await connectClient(tb.mqttUrl, { protocolVersion: 5 });
  mqttClients.push(c);
  await c.subscribeAsync(filter, { qos: 0 });
  return collect(c);
}

async function raw() {
  const r = await RawCoapClient.open(tb.coapPort);
  raws.push(r);
  return r;
}

function agent() {
  const a = new coap.Agent({ type: 'udp4' });
  agents.push(a);
  return a;
}

/** A node-coap request; resolves with the response. */
function coapRequest(params: coap.CoapRequestParams, payload?: Buffer): Promise<coap.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = coap.request({ hostname: '127.0.0.1', port: tb.coapPort, agent: agent(), ...params });
    req.on('response', resolve);
    req.on('error', reject);
    req.on('timeout', reject);
    req.end(payload);
  });
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'omap-coap-'));
});
afterEach(async () => {
  await Promise.all(mqttClients.splice(0).map((c) => closeClient(c, true)));
  await Promise.all(raws.splice(0).map((r) => r.close()));
  // An agent closes its socket by itself once its requests are done (and then never calls back).
  for (const a of agents.splice(0)) if (a._sock !== null) await new Promise<void>((r) => a.close(() => r()));
  await tb?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('publish with coap-client-notls', () => {
  const senml = Buffer.from('[{"bn":"dev1:","n":"temp","u":"Cel","v":21.5}]');
  const cases: [number, string, Buffer][] = [
    [110, 'application/senml+json', senml],
    [112, 'application/senml+cbor', Buffer.from(encodeCbor([{ [-2]: 'dev1:', 0: 'temp', 2: 21.5 }]))],
    [42, 'application/octet-stream', Buffer.from([0, 1, 2, 0xff, 0xfe, 10, 13, 0x80])],
  ];

  it.each(cases)(
    'POST with content-format %i reaches an MQTT subscriber byte for byte',
    async (format, type, payload) => {
      await start();
      const got = await subscriber();
      const file = join(dir, 'payload.bin');
      writeFileSync(file, payload);
      const published = waitFor<unknown>(tb.broker, 'message');
      const r = await coapClient([
        '-B',
        '5',
        '-m',
        'post',
        '-t',
        String(format),
        '-f',
        file,
        `${tb.coapUrl}/channels/c1/messages/room/temp?auth=secret`,
      ]);
      expect(r.code).toBe(0);
      expect(r.stdout + r.stderr).not.toMatch(/[45]\.\d\d/);
      await published;
      await until(() => got.length === 1);
      expect(got[0]!.topic).toBe('channels/c1/messages/room/temp');
      expect(got[0]!.payload.equals(payload)).toBe(true);
      expect(got[0]!.packet.properties?.contentType).toBe(type);
    },
  );

  it('publishes with -N (NON) and with -e text', async () => {
    await start();
    const got = await subscriber();
    const r = await coapClient([
      '-B',
      '3',
      '-N',
      '-m',
      'post',
      '-t',
      '110',
      '-e',
      '[{"n":"t","v":1}]',
      `${tb.coapUrl}/channels/c1/messages/x?auth=s`,
    ]);
    expect(r.code).toBe(0);
    await until(() => got.length === 1);
    expect(got[0]!.payload.toString()).toBe('[{"n":"t","v":1}]');
  });

  it('shows the error code of a refused publish', async () => {
    await start({
      authorizer: {
        authenticate: (req) =>
          req.password?.toString() === 'good' ? { ok: true } : { ok: false, reason: 'bad-credentials' },
        authorizePublish: () => true,
        authorizeSubscribe: () => true,
      },
    });
    const post = (query: string, format = '110') =>
      coapClient([
        '-B',
        '3',
        '-m',
        'post',
        '-t',
        format,
        '-e',
        '[]',
        `${tb.coapUrl}/channels/c1/messages${query}`,
      ]);
    const refused = await post('?auth=bad');
    expect(refused.stdout + refused.stderr).toContain('4.01');
    const unsupported = await post('?auth=good', '0');
    expect(unsupported.stdout + unsupported.stderr).toContain('4.15');
    const ok = await post('?auth=good');
    expect(ok.stdout + ok.stderr).not.toMatch(/[45]\.\d\d/);
  });
});

describe('publish with the npm coap client', () => {
  it.each([[true], [false]])('POST (confirmable %s) answers 2.04 and publishes', async (confirmable) => {
    await start();
    const got = await subscriber();
    const res = await coapRequest(
      {
        method: 'POST',
        pathname: '/channels/c9/messages/a/b',
        query: 'auth=k',
        confirmable,
        options: { 'Content-Format': 'application/senml+json' },
      },
      Buffer.from('[{"n":"a","v":2}]'),
    );
    expect(res.code).toBe('2.04');
    await until(() => got.length === 1);
    expect(got[0]!.topic).toBe('channels/c9/messages/a/b');
    expect(got[0]!.payload.toString()).toBe('[{"n":"a","v":2}]');
    expect(got[0]!.packet.properties?.contentType).toBe('application/senml+json');
  });
});

describe('authentication and authorization', () => {
  it('asks the Authorizer with the query secret and the MQTT topic', async () => {
    const requests: ConnectRequest[] = [];
    const topics: [ClientInfo, string][] = [];
    await start({
      authorizer: {
        authenticate: (req) => {
          requests.push(req);
          return { ok: true, principal: { thing: 't1' } };
        },
        authorizePublish: (client, topic) => {
          topics.push([client, topic]);
          return true;
        },
        authorizeSubscribe: () => true,
      },
    });
    const c = await raw();
    const sent = c.request('POST', '/channels/ch1/messages/sub?auth=s3cr%C3%A9t', {
      payload: Buffer.from('x'),
    });
    expect((await c.response(sent)).code).toBe('2.04');
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ protocol: 'coap', scheme: 'query', remoteAddress: '127.0.0.1' });
    expect(requests[0]!.password?.toString()).toBe('s3cr%C3%A9t');
    expect(topics).toHaveLength(1);
    expect(topics[0]![1]).toBe('channels/ch1/messages/sub');
    expect(topics[0]![0]).toMatchObject({ protocol: 'coap', principal: { thing: 't1' } });
    // The second publish is decided from the cache.
    const again = c.request('POST', '/channels/ch1/messages/sub?auth=s3cr%C3%A9t', {
      payload: Buffer.from('y'),
    });
    expect((await c.response(again)).code).toBe('2.04');
    expect(requests).toHaveLength(1);
    tb.broker.invalidateAuthorizations();
    const third = c.request('POST', '/channels/ch1/messages/sub?auth=s3cr%C3%A9t', {
      payload: Buffer.from('z'),
    });
    expect((await c.response(third)).code).toBe('2.04');
    expect(requests).toHaveLength(2);
  });

  it('answers a slow asynchronous authorizer with an empty ACK, then a separate CON response', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    await start({
      coap: { separateResponseAfterMs: 20 },
      authorizer: {
        authenticate: async () => {
          await gate;
          return { ok: true };
        },
        authorizePublish: async () => true,
        authorizeSubscribe: () => true,
      },
    });
    // Not an MQTT subscriber: its CONNECT would wait for the same gate.
    const got: string[] = [];
    tb.broker.on('message', (m) => got.push(m.payload.toString()));
    const c = await raw();
    const sent = c.request('POST', '/channels/c1/messages?auth=s', { payload: Buffer.from('late') });
    const emptyAck = await c.next((p) => p.ack);
    expect(emptyAck).toMatchObject({ code: '0.00', messageId: sent.messageId });
    // A retransmission of the request while we wait gets the empty ACK again, and is not processed twice.
    c.sendBytes(
      generate({ ...sent, options: uriOptions('/channels/c1/messages?auth=s'), confirmable: true }),
    );
    expect(await c.next((p) => p.ack)).toMatchObject({ code: '0.00', messageId: sent.messageId });
    release();
    const response = await c.next((p) => p.confirmable);
    expect(response.code).toBe('2.04');
    expect(response.token.equals(sent.token)).toBe(true);
    expect(response.messageId).not.toBe(sent.messageId);
    c.ack(response);
    await until(() => got.length === 1);
    await until(() => tb.broker.coap!.stats().awaitingAck === 0, 2000, 'the ACK to be taken');
    expect(got).toEqual(['late']);
  });

  it('retransmits a separate response until the client acknowledges it', async () => {
    await start({
      coap: { separateResponseAfterMs: 1, ackTimeoutMs: 20, ackRandomFactor: 1 },
      authorizer: {
        authenticate: () => new Promise((r) => setTimeout(() => r({ ok: true }), 40)),
        authorizePublish: () => true,
        authorizeSubscribe: () => true,
      },
    });
    const c = await raw();
    const sent = c.request('POST', '/channels/c1/messages?auth=s', { payload: Buffer.from('x') });
    await c.next((p) => p.ack && p.messageId === sent.messageId);
    const first = await c.next((p) => p.confirmable);
    const second = await c.next((p) => p.confirmable);
    expect(second.messageId).toBe(first.messageId);
    c.ack(second);
    await until(() => tb.broker.coap!.stats().awaitingAck === 0, 2000, 'the ACK to be taken');
    expect(tb.broker.coap!.stats().retransmissions).toBeGreaterThanOrEqual(1);
  });

  it('answers a fast asynchronous authorizer piggybacked', async () => {
    await start({
      authorizer: {
        authenticate: async () => ({ ok: true }),
        authorizePublish: async () => true,
        authorizeSubscribe: async () => true,
      },
    });
    const c = await raw();
    const sent = c.request('POST', '/channels/c1/messages?auth=s', { payload: Buffer.from('x') });
    const response = await c.response(sent);
    expect(response).toMatchObject({ ack: true, code: '2.04', messageId: sent.messageId });
  });

  it('answers 5.00 when the authorizer throws or rejects, and 5.03 when it is unavailable', async () => {
    const authorizer: Authorizer = {
      authenticate: (req) => {
        const secret = req.password?.toString();
        if (secret === 'throw') throw new Error('boom');
        if (secret === 'reject') return Promise.reject(new Error('boom'));
        if (secret === 'down') return { ok: false, reason: 'unavailable' };
        return { ok: true };
      },
      authorizePublish: () => true,
      authorizeSubscribe: () => true,
    };
    await start({ authorizer });
    const c = await raw();
    for (const [secret, code] of [
      ['throw', '5.00'],
      ['reject', '5.00'],
      ['down', '5.03'],
      ['fine', '2.04'],
    ]) {
      const sent = c.request('POST', `/channels/c1/messages?auth=${secret}`, { payload: Buffer.from('x') });
      expect((await c.response(sent)).code, secret).toBe(code);
    }
  });
});

describe('response codes', () => {
  const authorizer: Authorizer = {
    authenticate: (req) =>
      req.password?.toString() === 'ok' ? { ok: true } : { ok: false, reason: 'bad-credentials' },
    authorizePublish: (_c, topic) => !topic.includes('forbidden'),
    authorizeSubscribe: () => true,
  };
  const cases: [string, 'GET' | 'POST' | 'PUT' | 'DELETE', string, number | null, string][] = [
    ['2.04', 'POST', '/channels/c1/messages/a?auth=ok', 110, 'published'],
    ['2.04', 'POST', '/channels/c1/messages?auth=ok', null, 'no Content-Format is octet-stream'],
    ['4.00', 'POST', '/channels/c1/messages/+?auth=ok', 42, 'wildcard in a publish'],
    ['4.00', 'POST', '/channels/c+/messages/a?auth=ok', 42, 'wildcard in the channel id'],
    ['4.00', 'GET', '/channels/c1/messages/a#?auth=ok', null, 'partial wildcard'],
    ['4.00', 'GET', '/channels/c1/messages/#/a?auth=ok', null, '# not last'],
    ['4.01', 'POST', '/channels/c1/messages/a?auth=nope', 42, 'bad secret'],
    ['4.01', 'POST', '/channels/c1/messages/a', 42, 'no secret'],
    ['4.03', 'POST', '/channels/c1/messages/forbidden?auth=ok', 42, 'publish refused'],
    ['4.04', 'POST', '/things/c1?auth=ok', 42, 'unknown path'],
    ['4.04', 'POST', '/channels/c1/other?auth=ok', 42, 'unknown path under channels'],
    ['4.04', 'GET', '/?auth=ok', null, 'root'],
    ['4.05', 'PUT', '/channels/c1/messages?auth=ok', 42, 'PUT'],
    ['4.05', 'DELETE', '/channels/c1/messages?auth=ok', null, 'DELETE'],
    ['4.15', 'POST', '/channels/c1/messages?auth=ok', 0, 'text/plain'],
    ['4.15', 'POST', '/channels/c1/messages?auth=ok', 50, 'application/json'],
  ];

  it.each(cases)('%s for %s %s (format %s: %s)', async (expected, method, target, format) => {
    await start({ authorizer });
    const c = await raw();
    const extraOptions = format === null ? [] : [{ name: 'Content-Format', value: uint(format) }];
    const sent = c.request(method, target, { payload: Buffer.from('[]'), extraOptions });
    const response = await c.response(sent);
    expect(response.code).toBe(expected);
    expect(response).toMatchObject({ ack: true, messageId: sent.messageId });
    if (expected !== '2.04') expect(response.payload.length).toBeGreaterThan(0); // diagnostic text
  });

  it('4.00 for an empty path segment, a Uri-Path that is not UTF-8 or a NUL', async () => {
    await start();
    const c = await raw();
    for (const segment of [Buffer.alloc(0), Buffer.from([0xc3, 0x28]), Buffer.from('a\u0000b')]) {
      const sent = c.send({
        code: 'POST',
        confirmable: true,
        options: [...uriOptions('/channels/c1/messages'), { name: 'Uri-Path', value: segment }],
        payload: Buffer.from('x'),
      });
      expect((await c.response(sent)).code).toBe('4.00');
    }
  });

  it('4.00 with the reason when the payload validator refuses (strict channels)', async () => {
    await start({
      payloadValidator: {
        validate: (topic, contentType, payload) =>
          topic.startsWith('channels/strict/') &&
          contentType === 'application/senml+json' &&
          payload[0] !== 0x5b
            ? 'not a SenML pack'
            : null,
      },
    });
    const got = await subscriber();
    const c = await raw();
    const json = [{ name: 'Content-Format', value: uint(110) }];
    const bad = c.request('POST', '/channels/strict/messages/t?auth=s', {
      payload: Buffer.from('{}'),
      extraOptions: json,
    });
    const refused = await c.response(bad);
    expect(refused.code).toBe('4.00');
    expect(refused.payload.toString()).toBe('not a SenML pack');
    const good = c.request('POST', '/channels/strict/messages/t?auth=s', {
      payload: Buffer.from('[]'),
      extraOptions: json,
    });
    expect((await c.response(good)).code).toBe('2.04');
    await until(() => got.length === 1);
    expect(got[0]!.payload.toString()).toBe('[]');
  });

  it('4.13 with Size1 for a payload above maxPayloadBytes', async () => {
    await start({ coap: { maxPayloadBytes: 100 } });
    const got = await subscriber();
    const c = await raw();
    const sent = c.request('POST', '/channels/c1/messages?auth=s', { payload: Buffer.alloc(101, 1) });
    const response = await c.response(sent);
    expect(response.code).toBe('4.13');
    expect(uintOption(response, 'Size1')).toBe(100);
    const fits = c.request('POST', '/channels/c1/messages?auth=s', { payload: Buffer.alloc(100, 2) });
    expect((await c.response(fits)).code).toBe('2.04');
    await until(() => got.length === 1);
    expect(got[0]!.payload.length).toBe(100);
  });

  it('echoes tokens of every length, including none', async () => {
    await start();
    const c = await raw();
    for (const token of [Buffer.alloc(0), Buffer.from([7]), Buffer.from('12345678')]) {
      const sent = c.request('POST', '/channels/c1/messages?auth=s', { token, payload: Buffer.from('x') });
      const response = await c.next((p) => p.messageId === sent.messageId);
      expect(response.code).toBe('2.04');
      expect(response.token.equals(token)).toBe(true);
    }
  });

  it('answers a NON request with a NON response, unless No-Response suppresses it', async () => {
    await start();
    const got = await subscriber();
    const c = await raw();
    const sent = c.request('POST', '/channels/c1/messages?auth=s', {
      confirmable: false,
      payload: Buffer.from('1'),
    });
    const response = await c.response(sent);
    expect(response).toMatchObject({ confirmable: false, ack: false, code: '2.04' });
    // No-Response: 2 suppresses 2.xx. The following request's answer proves nothing came in between.
    c.request('POST', '/channels/c1/messages?auth=s', {
      confirmable: false,
      payload: Buffer.from('2'),
      extraOptions: [{ name: '258', value: uint(2) }],
    });
    const last = c.request('POST', '/channels/c1/messages?auth=s', { payload: Buffer.from('3') });
    await c.response(last);
    expect(c.inbox).toHaveLength(0);
    await until(() => got.length === 3);
    expect(got.map((m) => m.payload.toString())).toEqual(['1', '2', '3']);
  });
});

describe('message layer', () => {
  it('publishes a duplicate CON once and answers both copies with the same response', async () => {
    await start();
    const got = await subscriber();
    const c = await raw();
    const datagram = generate({
      code: 'POST',
      confirmable: true,
      messageId: 4242,
      token: Buffer.from('dupe'),
      options: [...uriOptions('/channels/c1/messages/d?auth=s'), { name: 'Content-Format', value: uint(42) }],
      payload: Buffer.from('once'),
    });
    c.sendBytes(datagram);
    const first = await c.next();
    c.sendBytes(datagram);
    const second = await c.next();
    expect(first).toMatchObject({ ack: true, code: '2.04', messageId: 4242 });
    expect(second).toEqual(first);
    expect(tb.broker.coap!.stats().duplicates).toBe(1);
    // A later, different message arrives after any duplicate would have: only two in total.
    const marker = c.request('POST', '/channels/c1/messages/d?auth=s', { payload: Buffer.from('marker') });
    await c.response(marker);
    await until(() => got.some((m) => m.payload.toString() === 'marker'));
    expect(got.map((m) => m.payload.toString())).toEqual(['once', 'marker']);
  });

  it('drops a duplicate NON', async () => {
    await start();
    const got = await subscriber();
    const c = await raw();
    const datagram = generate({
      code: 'POST',
      messageId: 777,
      token: Buffer.from('n'),
      options: uriOptions('/channels/c1/messages?auth=s'),
      payload: Buffer.from('non'),
    });
    c.sendBytes(datagram);
    c.sendBytes(datagram);
    const marker = c.request('POST', '/channels/c1/messages?auth=s', { payload: Buffer.from('marker') });
    await c.response(marker);
    await until(() => got.length === 2);
    expect(got.map((m) => m.payload.toString())).toEqual(['non', 'marker']);
    expect(tb.broker.coap!.stats().duplicates).toBe(1);
  });

  it('the same message id from another port is not a duplicate', async () => {
    await start();
    const got = await subscriber();
    const a = await raw();
    const b = await raw();
    for (const c of [a, b]) {
      const sent = c.request('POST', '/channels/c1/messages?auth=s', {
        messageId: 99,
        payload: Buffer.from('p'),
      });
      expect((await c.response(sent)).code).toBe('2.04');
    }
    await until(() => got.length === 2);
  });

  it('accepts Uri-Host and Uri-Port', async () => {
    await start();
    const got = await subscriber();
    const c = await raw();
    const sent = c.request('POST', '/channels/c1/messages?auth=s', {
      payload: Buffer.from('h'),
      extraOptions: [
        { name: 'Uri-Host', value: Buffer.from('omap.example') },
        { name: 'Uri-Port', value: uint(5683) },
      ],
    });
    expect((await c.response(sent)).code).toBe('2.04');
    await until(() => got.length === 1);
  });

  it('answers 4.29 with Max-Age over the per-peer rate, and drops NON requests', async () => {
    await start({ coap: { maxRequestsPerSecondPerPeer: 0.5, requestBurstPerPeer: 2 } });
    const got = await subscriber();
    const c = await raw();
    for (let i = 0; i < 2; i++) {
      const sent = c.request('POST', '/channels/c1/messages?auth=s', { payload: Buffer.from(`${i}`) });
      expect((await c.response(sent)).code).toBe('2.04');
    }
    c.request('POST', '/channels/c1/messages?auth=s', {
      confirmable: false,
      payload: Buffer.from('dropped'),
    });
    const over = c.request('POST', '/channels/c1/messages?auth=s', { payload: Buffer.from('over') });
    const response = await c.response(over);
    expect(response.code).toBe('4.29');
    expect(uintOption(response, 'Max-Age')).toBeGreaterThanOrEqual(1);
    expect(c.inbox).toHaveLength(0);
    expect(tb.broker.coap!.stats().rateLimited).toBe(2);
    // Another peer has its own bucket.
    const other = await raw();
    const sent = other.request('POST', '/channels/c1/messages?auth=s', { payload: Buffer.from('other') });
    expect((await other.response(sent)).code).toBe('2.04');
    await until(() => got.length === 3);
    expect(got.map((m) => m.payload.toString())).toEqual(['0', '1', 'other']);
  });

  it('answers a CON ping with RST and ignores stray ACKs and RSTs', async () => {
    await start();
    const c = await raw();
    c.sendBytes(generate({ confirmable: true, code: '0.00', messageId: 1234 }));
    const rst = await c.next();
    expect(rst).toMatchObject({ reset: true, code: '0.00', messageId: 1234 });
    c.sendBytes(generate({ ack: true, code: '0.00', messageId: 1 }));
    c.sendBytes(generate({ reset: true, code: '0.00', messageId: 2 }));
    const sent = c.request('POST', '/channels/c1/messages?auth=s', { payload: Buffer.from('x') });
    expect((await c.response(sent)).code).toBe('2.04');
    expect(c.inbox).toHaveLength(0);
  });

  it('answers 5.05 to a proxy request', async () => {
    await start();
    const c = await raw();
    const sent = c.request('GET', '/', {
      extraOptions: [{ name: 'Proxy-Uri', value: Buffer.from('coap://elsewhere/x') }],
    });
    const response = await c.response(sent);
    expect(response.code).toBe('5.05');
    expect(option(response, 'Observe')).toBeUndefined();
  });
});
