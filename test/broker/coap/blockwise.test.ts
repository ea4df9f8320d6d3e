/** Block-wise transfers (RFC 7959): Block1 uploads and Block2 responses and notifications. */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ParsedPacket } from 'coap-packet';
import type { MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeClient, collect, connectClient, until, waitFor } from '../../helpers.js';
import {
  blockOption,
  CoapClientProcess,
  type CoapTestBroker,
  coapClient,
  option,
  RawCoapClient,
  startCoapBroker,
  uint,
  uintOption,
} from './coap-helpers.js';

let tb: CoapTestBroker | undefined;
let dir: string;
const mqttClients: MqttClient[] = [];
const raws: RawCoapClient[] = [];
const processes: CoapClientProcess[] = [];

async function start(options: Parameters<typeof startCoapBroker>[0] = {}) {
  tb = await startCoapBroker(options);
  return tb;
}

async function subscriber(filter = 'channels/#') {
  const c = await connectClient(tb!.mqttUrl, { protocolVersion: 5 });
  mqttClients.push(c);
  await c.subscribeAsync(filter, { qos: 0 });
  return collect(c);
}

async function raw() {
  const r = await RawCoapClient.open(tb!.coapPort);
  raws.push(r);
  return r;
}

/** Block option value: NUM, M, SZX. */
function block(num: number, more: boolean, size: number): Buffer {
  return uint(num * 16 + (more ? 8 : 0) + (Math.log2(size) - 4));
}

/** Sends block `num` of `body` the way libcoap does: a new token per block, the same Request-Tag. */
function sendBlock(
  c: RawCoapClient,
  target: string,
  body: Buffer,
  num: number,
  size: number,
  tag: Buffer | null,
  extra: { name: string; value: Buffer }[] = [],
) {
  const chunk = body.subarray(num * size, (num + 1) * size);
  const more = (num + 1) * size < body.length;
  return c.request('POST', target, {
    token: randomBytes(6),
    payload: chunk,
    extraOptions: [
      { name: 'Content-Format', value: uint(42) },
      { name: 'Block1', value: block(num, more, size) },
      ...(tag === null ? [] : [{ name: '292', value: tag }]),
      ...extra,
    ],
  });
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'omap-coap-block-'));
});
afterEach(async () => {
  await Promise.all(processes.splice(0).map((p) => p.kill()));
  await Promise.all(mqttClients.splice(0).map((c) => closeClient(c, true)));
  await Promise.all(raws.splice(0).map((r) => r.close()));
  await tb?.close();
  tb = undefined;
  await rm(dir, { recursive: true, force: true });
});

describe('Block1 uploads', () => {
  it('a 4 KiB upload from coap-client-notls -b 64 arrives intact, published once', async () => {
    await start();
    const got = await subscriber();
    const body = randomBytes(4096);
    const file = join(dir, 'upload.bin');
    writeFileSync(file, body);
    const r = await coapClient([
      '-B',
      '5',
      '-m',
      'post',
      '-b',
      '64',
      '-t',
      '42',
      '-f',
      file,
      `${tb!.coapUrl}/channels/c1/messages/firmware?auth=s`,
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).not.toMatch(/[45]\.\d\d/);
    await until(() => got.length === 1);
    expect(got[0]!.topic).toBe('channels/c1/messages/firmware');
    expect(got[0]!.payload.equals(body)).toBe(true);
    expect(tb!.broker.coap!.stats()).toMatchObject({ published: 1, block1Transfers: 0 });
  });

  it('answers 2.31 per block and 2.04 with Block1 on the last, with a new token per block', async () => {
    await start();
    const got = await subscriber();
    const c = await raw();
    const body = randomBytes(300);
    const target = '/channels/c1/messages/up?auth=s';
    const tag = Buffer.from([1, 2, 3, 4]);
    const answers: ParsedPacket[] = [];
    for (let num = 0; num * 64 < body.length; num++) {
      const sent = sendBlock(c, target, body, num, 64, tag);
      const answer = await c.response(sent);
      expect(answer.messageId).toBe(sent.messageId);
      answers.push(answer);
    }
    expect(answers.map((a) => a.code)).toEqual(['2.31', '2.31', '2.31', '2.31', '2.04']);
    expect(answers.map((a) => blockOption(a, 'Block1'))).toEqual([
      { num: 0, more: true, size: 64 },
      { num: 1, more: true, size: 64 },
      { num: 2, more: true, size: 64 },
      { num: 3, more: true, size: 64 },
      { num: 4, more: false, size: 64 },
    ]);
    await until(() => got.length === 1);
    expect(got[0]!.payload.equals(body)).toBe(true);
  });

  it('keeps two uploads to the same path apart by Request-Tag', async () => {
    await start();
    const got = await subscriber();
    const c = await raw();
    const target = '/channels/c1/messages/two?auth=s';
    const a = Buffer.alloc(200, 'a');
    const b = Buffer.alloc(150, 'b');
    const tagA = Buffer.from('A');
    const tagB = Buffer.from('B');
    for (let num = 0; num < 4; num++) {
      if (num * 64 < a.length) await c.response(sendBlock(c, target, a, num, 64, tagA));
      if (num * 64 < b.length) await c.response(sendBlock(c, target, b, num, 64, tagB));
    }
    await until(() => got.length === 2);
    expect(got.map((m) => m.payload.toString())).toEqual([b.toString(), a.toString()]);
  });

  it('acknowledges a resent block again, and refuses a gap with 4.08', async () => {
    await start();
    const got = await subscriber();
    const c = await raw();
    const body = randomBytes(256);
    const target = '/channels/c1/messages/gap?auth=s';
    const tag = Buffer.from('t');
    await c.response(sendBlock(c, target, body, 0, 64, tag));
    await c.response(sendBlock(c, target, body, 1, 64, tag));
    // Block 1 again (a client retry with a new message id): 2.31 again, not appended twice.
    const again = await c.response(sendBlock(c, target, body, 1, 64, tag));
    expect(again.code).toBe('2.31');
    const gap = await c.response(sendBlock(c, target, body, 3, 64, tag));
    expect(gap.code).toBe('4.08');
    // The transfer is gone: continuing it is 4.08 too.
    expect((await c.response(sendBlock(c, target, body, 2, 64, tag))).code).toBe('4.08');
    expect(got).toHaveLength(0);
    expect(tb!.broker.coap!.stats().block1Transfers).toBe(0);
  });

  it('4.13 with Size1 when Size1 announces too much, or the blocks add up to too much', async () => {
    await start({ coap: { maxPayloadBytes: 150 } });
    const c = await raw();
    const target = '/channels/c1/messages/big?auth=s';
    const announced = await c.response(
      sendBlock(c, target, randomBytes(256), 0, 64, null, [{ name: 'Size1', value: uint(256) }]),
    );
    expect(announced.code).toBe('4.13');
    expect(uintOption(announced, 'Size1')).toBe(150);
    const body = randomBytes(256);
    expect((await c.response(sendBlock(c, target, body, 0, 64, null))).code).toBe('2.31');
    expect((await c.response(sendBlock(c, target, body, 1, 64, null))).code).toBe('2.31');
    const over = await c.response(sendBlock(c, target, body, 2, 64, null));
    expect(over.code).toBe('4.13');
    expect(uintOption(over, 'Size1')).toBe(150);
    expect(tb!.broker.coap!.stats().block1Transfers).toBe(0);
  });

  it('asks for smaller blocks than the client offers, and continues at the same offset', async () => {
    await start({ coap: { blockSize: 32 } });
    const got = await subscriber();
    const c = await raw();
    const body = randomBytes(200);
    const target = '/channels/c1/messages/neg?auth=s';
    const first = await c.response(sendBlock(c, target, body, 0, 128, null));
    expect(first.code).toBe('2.31');
    expect(blockOption(first, 'Block1')).toEqual({ num: 0, more: true, size: 32 });
    // 128 bytes are in; with 32-byte blocks the next is number 4 (RFC 7959 §2.5, Figure 6).
    for (let num = 4; num * 32 < body.length; num++) {
      const answer = await c.response(sendBlock(c, target, body, num, 32, null));
      expect(answer.code).toBe((num + 1) * 32 < body.length ? '2.31' : '2.04');
    }
    await until(() => got.length === 1);
    expect(got[0]!.payload.equals(body)).toBe(true);
  });

  it('5.03 when maxBlockTransfers uploads are already in progress', async () => {
    await start({ coap: { maxBlockTransfers: 1 } });
    const c = await raw();
    const body = randomBytes(128);
    const target = '/channels/c1/messages/busy?auth=s';
    expect((await c.response(sendBlock(c, target, body, 0, 64, Buffer.from('1')))).code).toBe('2.31');
    const refused = await c.response(sendBlock(c, target, body, 0, 64, Buffer.from('2')));
    expect(refused.code).toBe('5.03');
    expect(uintOption(refused, 'Max-Age')).toBeGreaterThan(0);
  });

  it('forgets an abandoned upload after blockTransferTimeoutMs', async () => {
    await start({ coap: { blockTransferTimeoutMs: 20, sweepIntervalMs: 10 } });
    const c = await raw();
    const body = randomBytes(128);
    await c.response(sendBlock(c, '/channels/c1/messages/x?auth=s', body, 0, 64, null));
    expect(tb!.broker.coap!.stats().block1Transfers).toBe(1);
    await until(() => tb!.broker.coap!.stats().block1Transfers === 0, 2000, 'the upload to expire');
  });

  it('refuses an unauthorized upload at its first block', async () => {
    await start({
      authorizer: {
        authenticate: () => ({ ok: true }),
        authorizePublish: () => false,
        authorizeSubscribe: () => true,
      },
    });
    const c = await raw();
    const answer = await c.response(
      sendBlock(c, '/channels/c1/messages/x?auth=s', randomBytes(128), 0, 64, null),
    );
    expect(answer.code).toBe('4.03');
    expect(tb!.broker.coap!.stats().block1Transfers).toBe(0);
  });

  it('4.00 for a block whose size does not match its SZX', async () => {
    await start();
    const c = await raw();
    const sent = c.request('POST', '/channels/c1/messages?auth=s', {
      payload: Buffer.alloc(50),
      extraOptions: [{ name: 'Block1', value: block(0, true, 64) }],
    });
    expect((await c.response(sent)).code).toBe('4.00');
  });
});

describe('Block2 responses and notifications', () => {
  it('a notification larger than the block size goes out in blocks that reassemble exactly', async () => {
    await start({ coap: { blockSize: 64 } });
    const c = await raw();
    const registered = waitFor(tb!.broker, 'subscribed');
    const registration = c.request('GET', '/channels/c1/messages/big?auth=s', {
      extraOptions: [{ name: 'Observe', value: uint(0) }],
    });
    await c.response(registration);
    await registered;
    const body = randomBytes(300);
    tb!.broker.publish({
      topic: 'channels/c1/messages/big',
      payload: body,
      properties: { contentType: 'application/senml+cbor' },
    });
    const first = await c.next((p) => p.token.equals(registration.token) && !p.ack);
    expect(blockOption(first, 'Block2')).toEqual({ num: 0, more: true, size: 64 });
    expect(uintOption(first, 'Size2')).toBe(300);
    expect(uintOption(first, 'Content-Format')).toBe(112);
    expect(option(first, 'Observe')).toBeDefined();
    const etag = option(first, 'ETag');
    expect(etag).toBeDefined();
    const parts = [first.payload];
    for (let num = 1; ; num++) {
      const sent = c.request('GET', '/channels/c1/messages/big?auth=s', {
        extraOptions: [{ name: 'Block2', value: block(num, false, 64) }],
      });
      const answer = await c.response(sent);
      expect(answer.code).toBe('2.05');
      expect(option(answer, 'ETag')?.equals(etag!)).toBe(true);
      parts.push(answer.payload);
      if (!blockOption(answer, 'Block2')!.more) break;
    }
    expect(Buffer.concat(parts).equals(body)).toBe(true);
  });

  it('coap-client-notls -b 64 -s receives a large notification whole', async () => {
    await start();
    const registered = waitFor(tb!.broker, 'subscribed');
    const client = new CoapClientProcess([
      '-B',
      '10',
      '-s',
      '10',
      '-b',
      '64',
      `${tb!.coapUrl}/channels/c1/messages/big?auth=s`,
    ]);
    processes.push(client);
    await registered;
    const body = `${'0123456789'.repeat(40)}END`;
    tb!.broker.publish({ topic: 'channels/c1/messages/big', payload: body });
    const output = await client.waitForOutput((o) => o.includes('END'));
    expect(output).toContain(body);
  });

  it('a GET of a large retained message is answered in blocks (early negotiation by the client)', async () => {
    await start();
    const body = randomBytes(1000);
    tb!.broker.publish({ topic: 'channels/c1/messages/kept', payload: body, retain: true });
    const c = await raw();
    const parts: Buffer[] = [];
    for (let num = 0; ; num++) {
      const sent = c.request('GET', '/channels/c1/messages/kept?auth=s', {
        extraOptions: [{ name: 'Block2', value: block(num, false, 256) }],
      });
      const answer = await c.response(sent);
      expect(blockOption(answer, 'Block2')!.size).toBe(256);
      if (num === 0) expect(uintOption(answer, 'Size2')).toBe(1000);
      parts.push(answer.payload);
      if (!blockOption(answer, 'Block2')!.more) break;
    }
    expect(Buffer.concat(parts).equals(body)).toBe(true);
    const past = c.request('GET', '/channels/c1/messages/kept?auth=s', {
      extraOptions: [{ name: 'Block2', value: block(9, false, 256) }],
    });
    expect((await c.response(past)).code).toBe('4.02');
  });

  it('coap-client-notls GET of a large retained message', async () => {
    await start();
    const body = `${'abcdefghij'.repeat(300)}END`;
    tb!.broker.publish({ topic: 'channels/c1/messages/kept', payload: body, retain: true });
    const r = await coapClient(['-B', '5', '-b', '128', `${tb!.coapUrl}/channels/c1/messages/kept?auth=s`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(body);
  });
});
