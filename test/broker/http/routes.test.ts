/** Extra routes for later layers (admin API): params, JSON in and out, errors, limits, aborts. */
import { afterEach, describe, expect, it } from 'vitest';
import { HttpError } from '../../../broker/index.js';
import { until } from '../../helpers.js';
import { curl, type HttpTestBroker, RawHttp, startHttpBroker } from './http-helpers.js';

let tb: HttpTestBroker;
const raws: RawHttp[] = [];
afterEach(async () => {
  for (const r of raws.splice(0)) r.destroy();
  await tb.close();
});

describe('HttpFrontEnd.route', () => {
  it('serves routes added before and after listen, with params, query, headers and JSON bodies', async () => {
    tb = await startHttpBroker();
    const things = new Map<string, unknown>();
    const http = tb.broker.http!;
    http.route('get', '/things/:id', (req, reply) => {
      if (!things.has(req.params.id!)) throw new HttpError(404, `no thing ${req.params.id}`);
      reply.json(200, { id: req.params.id, value: things.get(req.params.id!), q: req.query.get('q') });
    });
    http.route('post', '/things/:id', async (req, reply) => {
      const body = await req.json();
      things.set(req.params.id!, body);
      reply.json(201, { created: req.params.id, by: req.headers['x-user'] ?? null });
    });
    http.route('delete', '/things/:id', (req, reply) => {
      things.delete(req.params.id!);
      reply.send(204, '');
    });
    const created = await curl(`${tb.base}/things/a%20b`, [
      '-X',
      'POST',
      '-H',
      'Content-Type: application/json',
      '-H',
      'X-User: ann',
      '--data-binary',
      '{"v":42}',
    ]);
    expect(created.status).toBe(201);
    expect(created.json).toEqual({ created: 'a b', by: 'ann' });
    const read = await curl(`${tb.base}/things/a%20b?q=1`);
    expect(read.status).toBe(200);
    expect(read.json).toEqual({ id: 'a b', value: { v: 42 }, q: '1' });
    const removed = await curl(`${tb.base}/things/a%20b`, ['-X', 'DELETE']);
    expect(removed.status).toBe(204);
    expect(things.size).toBe(0);
    const missing = await curl(`${tb.base}/things/zzz`);
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual({ error: 'not-found', message: 'no thing zzz' });
  });

  it('400 malformed JSON, 415 not JSON, 413 body too large, 500 on a crash or a missing reply', async () => {
    tb = await startHttpBroker({ http: { maxBodyBytes: 100 } });
    const http = tb.broker.http!;
    http.route('post', '/echo', async (req, reply) => reply.json(200, await req.json()));
    http.route('get', '/crash', () => {
      throw new Error('boom');
    });
    http.route('get', '/crash-later', async () => {
      await null;
      throw new Error('boom');
    });
    http.route('get', '/forgot', () => {});
    const bad = await curl(`${tb.base}/echo`, [
      '-H',
      'Content-Type: application/json',
      '--data-binary',
      '{oops',
    ]);
    expect(bad.status).toBe(400);
    expect(bad.json!.error).toBe('bad-request');
    const notJson = await curl(`${tb.base}/echo`, ['-H', 'Content-Type: text/plain', '--data-binary', '{}']);
    expect(notJson.status).toBe(415);
    const big = await curl(`${tb.base}/echo`, [
      '-H',
      'Content-Type: application/json',
      '--data-binary',
      `"${'x'.repeat(200)}"`,
    ]);
    expect(big.status).toBe(413);
    for (const path of ['/crash', '/crash-later', '/forgot']) {
      const r = await curl(`${tb.base}${path}`);
      expect(r.status, path).toBe(500);
      expect(r.json).toEqual({ error: 'internal-error', message: 'internal error' });
    }
    const ok = await curl(`${tb.base}/echo`, [
      '-H',
      'Content-Type: application/json',
      '--data-binary',
      '[1,2]',
    ]);
    expect(ok.json).toEqual([1, 2]);
  });

  it('a reply after the client left is a no-op (reply.aborted), and the server carries on', async () => {
    tb = await startHttpBroker();
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered = false;
    let abortedSeen = false;
    tb.broker.http!.route('get', '/slow', async (_req, reply) => {
      entered = true;
      reply.onAborted(() => {
        abortedSeen = true;
      });
      await gate;
      reply.json(200, { late: true });
    });
    const c = await RawHttp.open(tb.httpPort);
    raws.push(c);
    c.write('GET /slow HTTP/1.1\r\nHost: t\r\n\r\n');
    await until(() => entered);
    c.destroy();
    await until(() => abortedSeen);
    release();
    expect((await curl(`${tb.base}/health`)).status).toBe(200);
    expect(tb.broker.http!.connections.pendingRequests).toBe(0);
  });
});
