/**
 * Helpers for the HTTP / WebSocket front-end tests: a broker with MQTT/TCP and HTTP on ephemeral
 * loopback ports, curl, raw HTTP over node:net, SSE over node:http, plain WebSockets (ws) and
 * MQTT over WebSocket (mqtt.js). Every wait is bounded.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import type { HttpOptions } from '../../../broker/http/options.js';
import { type Broker, type BrokerOptions, createBroker } from '../../../broker/index.js';
import { run } from '../../helpers.js';

export interface HttpTestBroker {
  broker: Broker;
  mqttPort: number;
  httpPort: number;
  /** `http://127.0.0.1:<port>` */
  base: string;
  /** `ws://127.0.0.1:<port>` */
  wsBase: string;
  mqttUrl: string;
  close(): Promise<void>;
}

export async function startHttpBroker(
  options: Omit<BrokerOptions, 'http'> & { http?: HttpOptions } = {},
): Promise<HttpTestBroker> {
  const broker = createBroker({
    ...options,
    host: '127.0.0.1',
    mqtt: { port: 0 },
    http: { shutdownGraceMs: 1000, ...options.http, port: 0 },
  });
  const addresses = await broker.listen();
  const httpPort = addresses.http!.port;
  const mqttPort = addresses.mqtt!.port;
  return {
    broker,
    mqttPort,
    httpPort,
    base: `http://127.0.0.1:${httpPort}`,
    wsBase: `ws://127.0.0.1:${httpPort}`,
    mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
    close: () => broker.close(),
  };
}

/** Every byte value 0..255, twice, the second time reversed: a payload no text path survives. */
export const ALL_BYTES: Buffer = Buffer.concat([
  Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
  Buffer.from(Array.from({ length: 256 }, (_, i) => 255 - i)),
]);

/** Runs `fn` with the path of a temporary file holding `bytes` (for curl uploads); removes it after. */
export async function withTempFile<T>(bytes: Buffer, fn: (path: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'omap-http-'));
  const path = join(dir, 'body.bin');
  writeFileSync(path, bytes);
  try {
    return await fn(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface CurlResult {
  status: number;
  body: string;
  json: Record<string, unknown> | null;
  headers: string;
}

/** Runs curl; `args` come before the URL. Returns the status, headers and body. */
export async function curl(url: string, args: string[] = []): Promise<CurlResult> {
  const result = await run(
    'curl',
    ['-s', '-S', '--max-time', '10', '-i', '-w', '\n%{http_code}', ...args, url],
    15_000,
  );
  const cut = result.stdout.lastIndexOf('\n');
  const status = Number(result.stdout.slice(cut + 1));
  let response = result.stdout.slice(0, cut);
  // Skip interim answers (100 Continue) in front of the final one.
  while (/^HTTP\/1\.1 1\d\d /.test(response)) response = response.slice(response.indexOf('\r\n\r\n') + 4);
  const split = response.indexOf('\r\n\r\n');
  const headers = split < 0 ? response : response.slice(0, split);
  const body = split < 0 ? '' : response.slice(split + 4);
  let json: Record<string, unknown> | null = null;
  try {
    json = JSON.parse(body) as Record<string, unknown>;
  } catch {
    json = null;
  }
  return { status, body, json, headers };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** A raw HTTP/1.1 client on one socket: write any bytes, read whole responses in order. */
export class RawHttp {
  closed = false;
  private buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, d]);
      this.wake();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  static open(port: number): Promise<RawHttp> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ port, host: '127.0.0.1' }, () => resolve(new RawHttp(socket)));
      socket.once('error', reject);
    });
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** The next complete response (Content-Length framed), or rejects after `ms` or on close. */
  async response(ms = 5000): Promise<RawResponse> {
    const deadline = Date.now() + ms;
    for (;;) {
      const parsed = this.parse();
      if (parsed !== null) return parsed;
      if (this.closed) throw new Error('connection closed before a whole response');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a response');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Resolves once the server has closed the connection, or rejects after `ms`. */
  async whenClosed(ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('connection was not closed');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private parse(): RawResponse | null {
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end < 0) return null;
    const head = this.buffer.subarray(0, end).toString('latin1').split('\r\n');
    const status = Number(head[0]!.split(' ')[1]);
    const headers: Record<string, string> = {};
    for (const line of head.slice(1)) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    if (this.buffer.length < end + 4 + length) return null;
    const body = this.buffer.subarray(end + 4, end + 4 + length);
    this.buffer = this.buffer.subarray(end + 4 + length);
    return { status, headers, body: Buffer.from(body) };
  }
}

export function postRequest(
  path: string,
  body: Buffer | string,
  headers: Record<string, string> = {},
): string {
  const bytes = Buffer.from(body);
  const lines = [`POST ${path} HTTP/1.1`, 'Host: test', `Content-Length: ${bytes.length}`];
  if (!('content-type' in headers)) lines.push('Content-Type: application/octet-stream');
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return `${lines.join('\r\n')}\r\n\r\n${bytes.toString('latin1')}`;
}

export interface SseEvent {
  event: string;
  data: string;
}

export interface SseMessage {
  topic: string;
  contentType?: string;
  payload: Buffer;
  retained?: boolean;
}

/** An SSE subscription over node:http; events are parsed as they arrive. */
export class SseClient {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  private readonly decoded: SseMessage[] = [];
  status = 0;
  headers: IncomingMessage['headers'] = {};
  body = '';
  ended = false;
  private text = '';
  private waiters: (() => void)[] = [];
  private response: IncomingMessage | null = null;
  private readonly req: ReturnType<typeof httpRequest>;

  constructor(port: number, path: string, headers: Record<string, string> = {}) {
    this.req = httpRequest({
      host: '127.0.0.1',
      port,
      path,
      headers: { accept: 'text/event-stream', ...headers },
      agent: false,
    });
    this.req.on('response', (res) => {
      this.response = res;
      this.status = res.statusCode ?? 0;
      this.headers = res.headers;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (this.status !== 200) this.body += chunk;
        else this.feed(chunk);
        this.wake();
      });
      res.on('end', () => {
        this.ended = true;
        this.wake();
      });
      res.on('error', () => {});
      this.wake();
    });
    this.req.on('error', () => {
      this.ended = true;
      this.wake();
    });
    this.req.on('close', () => {
      this.ended = true;
      this.wake();
    });
    this.req.end();
  }

  /** Resolves when `check` holds (re-checked on every chunk), or rejects after `ms`. */
  async until(check: () => boolean, ms = 5000, what = 'SSE condition'): Promise<void> {
    const deadline = Date.now() + ms;
    while (!check()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits for the `: subscribed` comment: the subscription is live from then on. */
  subscribed(ms = 5000): Promise<void> {
    return this.until(() => this.comments.some((c) => c.startsWith(' subscribed')), ms, 'SSE subscription');
  }

  /** Waits for the answer's status line (for refused subscriptions). */
  answered(ms = 5000): Promise<void> {
    return this.until(() => this.status !== 0 && (this.status === 200 || this.ended), ms, 'SSE answer');
  }

  /** The `message` events decoded so far (a live array). */
  messages(): SseMessage[] {
    return this.decoded;
  }

  /** Stops reading (the socket's buffers fill up): a slow consumer. */
  pause(): void {
    this.response?.pause();
  }

  close(): void {
    this.req.destroy();
  }

  private feed(chunk: string): void {
    this.text += chunk;
    for (;;) {
      const end = this.text.indexOf('\n\n');
      if (end < 0) return;
      const block = this.text.slice(0, end);
      this.text = this.text.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      let isEvent = false;
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) this.comments.push(line.slice(1));
        else if (line.startsWith('event: ')) {
          event = line.slice(7);
          isEvent = true;
        } else if (line.startsWith('data: ')) {
          data.push(line.slice(6));
          isEvent = true;
        }
      }
      if (!isEvent) continue;
      this.events.push({ event, data: data.join('\n') });
      if (event === 'message') {
        const m = JSON.parse(data.join('\n')) as Omit<SseMessage, 'payload'> & { payload: string };
        this.decoded.push({ ...m, payload: Buffer.from(m.payload, 'base64') });
      }
    }
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

export interface WsClient {
  ws: WebSocket;
  /** Messages received so far (a live array). */
  received: { data: Buffer; isBinary: boolean }[];
  closed: Promise<{ code: number; reason: string }>;
}

/** Opens a plain WebSocket (ws); resolves once open, rejects with the HTTP status if refused. */
export function openWs(
  url: string,
  options: WebSocket.ClientOptions = {},
  protocols?: string[],
): Promise<WsClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { handshakeTimeout: 5000, ...options });
    const received: WsClient['received'] = [];
    ws.on('message', (data: Buffer, isBinary: boolean) =>
      received.push({ data: Buffer.from(data), isBinary }),
    );
    const closed = new Promise<{ code: number; reason: string }>((resolveClose) => {
      ws.on('close', (code, reason) => resolveClose({ code, reason: reason.toString() }));
    });
    ws.once('open', () => resolve({ ws, received, closed }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d));
      res.on('end', () =>
        reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body })),
      );
    });
    ws.once('error', (err) => reject(err));
  });
}

/** Resolves with the close code and reason, or rejects after `ms`. */
export function closedWithin(client: WsClient, ms = 5000): Promise<{ code: number; reason: string }> {
  return Promise.race([
    client.closed,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('WebSocket was not closed')), ms).unref(),
    ),
  ]);
}

/** Closes a ws client and waits (bounded) until it is closed. */
export async function closeWs(client: WsClient): Promise<void> {
  if (client.ws.readyState === WebSocket.CLOSED) return;
  client.ws.terminate();
  await closedWithin(client, 2000).catch(() => {});
}
