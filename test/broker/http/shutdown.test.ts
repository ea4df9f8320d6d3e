/** Graceful shutdown of the HTTP front-end: readiness, draining, nothing left behind. */
import { spawn } from 'node:child_process';
import { connect as netConnect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  closedWithin,
  closeWs,
  type HttpTestBroker,
  openWs,
  postRequest,
  RawHttp,
  SseClient,
  startHttpBroker,
  type WsClient,
} from './http-helpers.js';

let tb: HttpTestBroker | null = null;
const raws: RawHttp[] = [];
const sockets: WsClient[] = [];
const streams: SseClient[] = [];
afterEach(async () => {
  for (const r of raws.splice(0)) r.destroy();
  for (const s of streams.splice(0)) s.close();
  await Promise.all(sockets.splice(0).map((s) => closeWs(s)));
  await tb?.close();
  tb = null;
});

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

describe('HTTP front-end shutdown', () => {
  it('stops accepting, answers /ready 503, lets a pending request finish, ends SSE and WebSockets', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let reached: () => void = () => {};
    const authenticating = new Promise<void>((resolve) => {
      reached = resolve;
    });
    tb = await startHttpBroker({
      http: { shutdownGraceMs: 5000 },
      authorizer: {
        authenticate: async (req) => {
          if (req.password?.toString() === 'slow') {
            reached();
            await gate;
          }
          return { ok: true };
        },
        authorizePublish: () => true,
        authorizeSubscribe: () => true,
      },
    });
    const port = tb.httpPort;
    const keepAlive = await RawHttp.open(port);
    raws.push(keepAlive);
    keepAlive.write('GET /ready HTTP/1.1\r\nHost: t\r\n\r\n');
    expect((await keepAlive.response()).status).toBe(200);
    const pending = await RawHttp.open(port);
    raws.push(pending);
    pending.write(postRequest('/channels/c/messages', 'late', { Authorization: 'Thing slow' }));
    const stream = new SseClient(port, '/channels/c/messages');
    streams.push(stream);
    await stream.subscribed();
    const ws = await openWs(`${tb.wsBase}/channels/c/messages`);
    sockets.push(ws);
    await authenticating;

    const closing = tb.broker.close();
    let closed = false;
    void closing.then(() => {
      closed = true;
    });
    expect(await refused(port)).toBe(true);
    keepAlive.write('GET /ready HTTP/1.1\r\nHost: t\r\n\r\n');
    const ready = await keepAlive.response();
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.body.toString())).toEqual({ error: 'unavailable', message: 'shutting down' });
    keepAlive.write(postRequest('/channels/c/messages', 'too late'));
    expect((await keepAlive.response()).status).toBe(503);
    expect((await closedWithin(ws)).code).toBe(1001);
    await stream.until(() => stream.ended, 5000, 'the SSE stream to end');
    expect(closed).toBe(false); // still waiting for the pending request
    release();
    const answer = await pending.response();
    expect(answer.status).toBe(202);
    await closing;
    await keepAlive.whenClosed();
    expect(tb.broker.http!.ready).toBe(false);
  });

  it('close() does not wait past shutdownGraceMs for a request that never completes', async () => {
    let reached: () => void = () => {};
    const authenticating = new Promise<void>((resolve) => {
      reached = resolve;
    });
    tb = await startHttpBroker({
      http: { shutdownGraceMs: 200 },
      authorizer: {
        authenticate: () => {
          reached();
          return new Promise(() => {});
        },
        authorizePublish: () => true,
        authorizeSubscribe: () => true,
      },
    });
    const stuck = await RawHttp.open(tb.httpPort);
    raws.push(stuck);
    stuck.write(postRequest('/channels/c/messages', 'x'));
    await authenticating;
    const started = Date.now();
    await tb.broker.close();
    expect(Date.now() - started).toBeLessThan(2000);
    await stuck.whenClosed();
  });

  it('nothing keeps the process alive after close()', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/broker/http/fixtures/exit-after-close.ts'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    clearTimeout(killer);
    expect(out).toContain('publish 202');
    expect(out).toContain('closed');
    expect(code).toBe(0);
  });
});
