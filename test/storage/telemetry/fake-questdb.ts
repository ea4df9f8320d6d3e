/**
 * A loopback HTTP server that speaks QuestDB's `/write` (ILP over HTTP) and `/exec` contracts, for the writer's
 * tests and benchmarks (QuestDB itself cannot be installed here). It records every ILP line it receives and every
 * line it acknowledged with 204, and emulates DEDUP UPSERT KEYS on what it "committed", so tests can tell a
 * harmless re-send (absorbed) from a duplicate.
 *
 * Behaviours of `/write` (per request: the `script` queue first, then `mode`):
 *   'ok'           commit the lines, answer 204
 *   'reject'       answer 400 + QuestDB's JSON error (whole request refused; nothing committed)
 *   'error'        answer 500
 *   'hang'         read the request, never answer (until the client gives up or the server closes)
 *   'commit-hang'  commit the lines, never answer (the "late success" of an abandoned request)
 *   'reset'        read the request, then reset the connection
 * `rejectIf(line)` makes a request containing a matching line answer 400 (a poison row), like a cast error.
 */
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type WriteMode = 'ok' | 'reject' | 'error' | 'hang' | 'commit-hang' | 'reset';

export interface IlpLine {
  raw: string;
  table: string;
  symbols: Record<string, string>;
  fields: Record<string, string>;
  /** Designated timestamp as sent (nanoseconds with precision=n). */
  timestamp: string;
}

export interface WriteRequest {
  mode: WriteMode;
  url: string;
  lines: string[];
  /** The client closed the connection before we answered (only for 'hang' / 'commit-hang'). */
  aborted: boolean;
}

export interface FakeQuestDBEvents {
  write: [WriteRequest];
  acknowledged: [WriteRequest];
  aborted: [WriteRequest];
  exec: [string];
}

/** DEDUP keys per table (besides the designated timestamp), as storage/telemetry/questdb-schema.ts declares them. */
export const DEDUP_KEYS: Record<string, readonly string[]> = {
  omap_senml: ['channel', 'publisher', 'name', 'subtopic'],
  omap_messages: ['channel', 'publisher', 'subtopic', 'payload_crc'],
  omap_dead_letter: ['channel', 'publisher', 'subtopic', 'payload_crc'],
};

/** Splits an ILP body into lines; a newline escaped with a backslash (inside a string field) is not an end. */
export function splitIlpLines(body: string): string[] {
  const lines: string[] = [];
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    const ch = body[i];
    if (ch === '\\') i++;
    else if (ch === '\n') {
      if (i > start) lines.push(body.slice(start, i));
      start = i + 1;
    }
  }
  if (start < body.length) lines.push(body.slice(start));
  return lines;
}

function unescapeIlp(text: string): string {
  return text.replace(/\\(.)/gs, '$1');
}

/** Splits `text` on `separator` outside quotes and escapes. */
function splitUnescaped(text: string, separator: string): string[] {
  const parts: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\\') i++;
    else if (ch === '"') quoted = !quoted;
    else if (ch === separator && !quoted) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

export function parseIlpLine(raw: string): IlpLine {
  const sections = splitUnescaped(raw, ' ');
  // A row may carry symbols only (no fields): "table,symbols timestamp".
  if (sections.length === 2) sections.splice(1, 0, '');
  if (sections.length !== 3) throw new Error(`ILP line needs "table,symbols fields timestamp": ${raw}`);
  const [head, body, timestamp] = sections as [string, string, string];
  const [table, ...symbolParts] = splitUnescaped(head, ',');
  const symbols: Record<string, string> = {};
  for (const part of symbolParts) {
    const [k, v] = splitUnescaped(part, '=');
    symbols[unescapeIlp(k!)] = unescapeIlp(v ?? '');
  }
  const fields: Record<string, string> = {};
  for (const part of body === '' ? [] : splitUnescaped(body, ',')) {
    const eq = part.indexOf('=');
    fields[unescapeIlp(part.slice(0, eq))] = part.slice(eq + 1);
  }
  if (!/^-?\d+$/.test(timestamp)) throw new Error(`bad designated timestamp in: ${raw}`);
  return { raw, table: unescapeIlp(table!), symbols, fields, timestamp };
}

/** Value of a string field as stored (quotes removed, escapes resolved). */
export function stringField(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!value.startsWith('"') || !value.endsWith('"')) throw new Error(`not a string field: ${value}`);
  return value.slice(1, -1).replace(/\\(.)/gs, '$1');
}

function dedupKey(line: IlpLine): string {
  const keys = DEDUP_KEYS[line.table] ?? [];
  return JSON.stringify([
    line.table,
    line.timestamp,
    ...keys.map((k) => line.symbols[k] ?? line.fields[k] ?? null),
  ]);
}

export interface ExecAnswer {
  status: number;
  body: unknown;
}

export class FakeQuestDB extends EventEmitter<FakeQuestDBEvents> {
  readonly server: Server;
  port = 0;
  mode: WriteMode = 'ok';
  /** Modes for the next requests, consumed first. */
  readonly script: WriteMode[] = [];
  rejectIf: ((line: IlpLine) => boolean) | null = null;
  /** Answers for SELECTs (DDL is always OK). Default: an empty dataset. */
  onQuery: ((query: string) => ExecAnswer) | null = null;
  readonly writes: WriteRequest[] = [];
  /** Every line answered with 204, in order (a line twice here = acknowledged twice). */
  readonly acknowledged: string[] = [];
  /** What the emulated tables hold after DEDUP (key → line). */
  readonly rows = new Map<string, IlpLine>();
  /** Lines committed, including those absorbed by DEDUP. */
  committedLines = 0;
  readonly queries: string[] = [];
  /**
   * false: only count lines (benchmarks): `writes` keeps no lines, no DEDUP emulation, `acknowledgedCount` only.
   */
  recordLines = true;
  /** Lines answered with 204 (also when `recordLines` is false). */
  acknowledgedCount = 0;
  readonly #sockets = new Set<Socket>();
  readonly #hanging = new Set<ServerResponse>();

  constructor() {
    super();
    this.server = createServer((req, res) => this.#handle(req, res));
    this.server.keepAliveTimeout = 60_000;
    this.server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
  }

  /** Listens on 127.0.0.1 (`port` 0: an ephemeral port; give the old port to come back after `stop`). */
  async start(port = 0): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** The writer's configuration string for this endpoint. */
  get config(): string {
    return `http::addr=127.0.0.1:${this.port}`;
  }

  /** Lines of one table as the emulated (de-duplicated) table holds them. */
  tableLines(table: string): IlpLine[] {
    return [...this.rows.values()].filter((line) => line.table === table);
  }

  /** Acknowledged lines that were acknowledged more than once. */
  acknowledgedTwice(): string[] {
    const seen = new Set<string>();
    const twice: string[] = [];
    for (const line of this.acknowledged) {
      if (seen.has(line)) twice.push(line);
      seen.add(line);
    }
    return twice;
  }

  /** Stops listening and drops every connection (the server "goes down"). */
  async stop(): Promise<void> {
    for (const res of this.#hanging) res.destroy();
    this.#hanging.clear();
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #commit(lines: string[]): void {
    for (const raw of lines) {
      const line = parseIlpLine(raw);
      this.rows.set(dedupKey(line), line);
      this.committedLines++;
    }
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = req.url ?? '';
      if (url.startsWith('/exec')) return this.#exec(url, res);
      if (url.startsWith('/settings')) {
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end('{"release.type":"OSS","release.version":"8.0.3"}');
        return;
      }
      if (!url.startsWith('/write') || req.method !== 'POST') {
        res.writeHead(404).end();
        return;
      }
      const body = Buffer.concat(chunks);
      let mode = this.script.shift() ?? this.mode;
      if (!this.recordLines) {
        let count = 0;
        for (let i = body.indexOf(10); i >= 0; i = body.indexOf(10, i + 1)) count++;
        this.writes.push({ mode, url, lines: [], aborted: false });
        if (mode === 'ok') {
          this.acknowledgedCount += count;
          res.writeHead(204).end();
        } else if (mode === 'error') res.writeHead(500).end('{"code":"internal error"}');
        else if (mode === 'reset') req.socket.resetAndDestroy();
        else this.#hang(this.writes.at(-1)!, res);
        return;
      }
      const lines = splitIlpLines(body.toString('utf8'));
      const poison =
        this.rejectIf === null ? -1 : lines.findIndex((raw) => this.rejectIf!(parseIlpLine(raw)));
      if (mode === 'ok' && poison >= 0) mode = 'reject';
      const request: WriteRequest = { mode, url, lines, aborted: false };
      this.writes.push(request);
      this.emit('write', request);
      switch (mode) {
        case 'ok':
          this.#commit(lines);
          res.writeHead(204).end();
          this.acknowledged.push(...lines);
          this.acknowledgedCount += lines.length;
          this.emit('acknowledged', request);
          return;
        case 'reject':
          res.writeHead(400, { 'content-type': 'application/json' }).end(
            JSON.stringify({
              code: 'invalid',
              message: 'failed to parse line protocol: cast error',
              line: Math.max(poison, 0) + 1,
              errorId: 'fake-1',
            }),
          );
          return;
        case 'error':
          res.writeHead(500, { 'content-type': 'application/json' }).end('{"code":"internal error"}');
          return;
        case 'reset':
          req.socket.resetAndDestroy();
          return;
        case 'commit-hang':
          this.#commit(lines);
          this.#hang(request, res);
          return;
        case 'hang':
          this.#hang(request, res);
          return;
      }
    });
  }

  #hang(request: WriteRequest, res: ServerResponse): void {
    this.#hanging.add(res);
    res.on('close', () => {
      this.#hanging.delete(res);
      request.aborted = true;
      this.emit('aborted', request);
    });
  }

  #exec(url: string, res: ServerResponse): void {
    const query = new URL(url, 'http://fake').searchParams.get('query') ?? '';
    this.queries.push(query);
    this.emit('exec', query);
    if (/^\s*(CREATE|DROP|ALTER)\b/i.test(query)) {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ddl":"OK"}');
      return;
    }
    const answer = this.onQuery?.(query) ?? {
      status: 200,
      body: { query, columns: [], timestamp: -1, dataset: [], count: 0 },
    };
    res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
  }
}

export async function startFakeQuestDB(): Promise<FakeQuestDB> {
  return new FakeQuestDB().start();
}
