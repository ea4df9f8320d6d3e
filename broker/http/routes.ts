/**
 * Extra HTTP routes on the front-end's app, for later layers (the admin REST API, OAuth2
 * endpoints) that should not deal with uWS's rules. A route handler gets a plain request (headers,
 * params, query, remote address, body already being read) and a reply object; it may be async.
 *
 *   frontEnd.route('get', '/things/:id', async (req, reply) => {
 *     const thing = await things.find(req.params.id!);
 *     if (!thing) throw new HttpError(404, 'no such thing');
 *     reply.json(200, thing);
 *   });
 *   frontEnd.route('post', '/things', async (req, reply) => {
 *     const input = await req.json();           // 415 unless application/json, 400 if malformed
 *     reply.json(201, await things.create(input));
 *   });
 *
 * What the wrapper takes care of: everything is read from the uWS request before the handler runs
 * (uWS invalidates it at the first await); `onAborted` is attached, so replying after the client
 * left is a silent no-op (`reply.aborted` tells); replies are corked; the body is read from the
 * start (uWS drops a body nobody listens to) and bounded by `maxBodyBytes` (413, connection
 * closed); a thrown `HttpError` becomes its status with the usual `{error, message}` body, any
 * other exception a logged 500, and so does a handler that completes without replying. Patterns
 * are uWS's: `/a/:param/b`, `/prefix/*`.
 */
import type { HttpContext } from './context.js';
import { errorBody, type Headers, HttpError, sendError, statusLine } from './respond.js';
import { addressText, type HttpRequest, type HttpResponse } from './uws.js';

export type RouteMethod = 'get' | 'post' | 'put' | 'patch' | 'delete' | 'options' | 'head' | 'any';

export interface RouteRequest {
  /** Lower-case method, e.g. `post`. */
  readonly method: string;
  /** The path, without the query string. */
  readonly path: string;
  readonly query: URLSearchParams;
  /** Pattern parameters (`:id`), percent-decoded. */
  readonly params: Readonly<Record<string, string>>;
  /** Request headers, names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  readonly remoteAddress: string;
  /** The whole body (empty for GET/HEAD); rejects with HttpError 413 past `maxBodyBytes`. */
  body(): Promise<Buffer>;
  /** The body parsed as JSON: HttpError 415 unless Content-Type is application/json, 400 if malformed. */
  json(): Promise<unknown>;
}

export interface RouteReply {
  /** The client closed the connection; further replies are ignored. */
  readonly aborted: boolean;
  /** A reply was sent already. */
  readonly sent: boolean;
  json(status: number, value: unknown, headers?: Headers): void;
  /** `{error, message}` with the status's error name. */
  error(status: number, message: string, headers?: Headers): void;
  send(status: number, body: string | Uint8Array, headers?: Headers): void;
  onAborted(callback: () => void): void;
}

export type RouteHandler = (request: RouteRequest, reply: RouteReply) => void | Promise<void>;

class Reply implements RouteReply {
  aborted = false;
  sent = false;
  private abortCallbacks: (() => void)[] = [];

  constructor(
    private readonly ctx: HttpContext,
    private readonly res: HttpResponse,
  ) {}

  json(status: number, value: unknown, headers?: Headers): void {
    this.send(status, JSON.stringify(value) ?? 'null', { 'Content-Type': 'application/json', ...headers });
  }

  error(status: number, message: string, headers?: Headers): void {
    this.send(status, errorBody(status, message), { 'Content-Type': 'application/json', ...headers });
  }

  send(status: number, body: string | Uint8Array, headers?: Headers, closeConnection = false): void {
    if (this.aborted || this.sent) return;
    this.sent = true;
    this.ctx.requestEnded();
    const res = this.res;
    res.cork(() => {
      res.writeStatus(statusLine(status));
      if (headers) for (const name in headers) res.writeHeader(name, headers[name]!);
      res.end(body, closeConnection);
    });
  }

  /** Answers 413 and closes the connection (the rest of the body is never read). */
  tooLarge(message: string): void {
    if (this.aborted || this.sent) return;
    this.sent = true;
    this.ctx.requestEnded();
    sendError(this.res, 413, message, undefined, true);
  }

  onAborted(callback: () => void): void {
    this.abortCallbacks.push(callback);
  }

  abort(): void {
    if (this.aborted || this.sent) return;
    this.aborted = true;
    this.ctx.stats.aborted++;
    this.ctx.requestEnded();
    for (const callback of this.abortCallbacks) callback();
  }

  fail(err: unknown): void {
    if (err instanceof HttpError) {
      this.error(err.status, err.message, err.headers);
      return;
    }
    this.ctx.core.logger.error({ err }, 'HTTP route failed');
    this.error(500, 'internal error');
  }
}

const EMPTY = Buffer.alloc(0);

/** Starts reading the body now (uWS requires it synchronously); the Promise never goes unhandled. */
function readBody(res: HttpResponse, reply: Reply, max: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  const body = new Promise<Buffer>((resolve, reject) => {
    res.onData((chunk, isLast) => {
      if (reply.sent || reply.aborted) return;
      size += chunk.byteLength;
      if (size > max) {
        const message = `the body is larger than ${max} bytes`;
        reply.tooLarge(message);
        reject(new HttpError(413, message));
        return;
      }
      if (chunk.byteLength > 0) parts.push(Buffer.from(new Uint8Array(chunk)));
      if (isLast) resolve(parts.length === 1 ? parts[0]! : Buffer.concat(parts, size));
    });
    reply.onAborted(() => reject(new HttpError(499, 'the client closed the connection')));
  });
  body.catch(() => {});
  return body;
}

function paramNames(pattern: string): string[] {
  return [...pattern.matchAll(/:([^/]+)/g)].map((m) => m[1]!);
}

function decode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** The uWS handler running `handler` for `pattern`. */
export function routeHandler(
  ctx: HttpContext,
  pattern: string,
  handler: RouteHandler,
): (res: HttpResponse, req: HttpRequest) => void {
  const names = paramNames(pattern);
  return (res, req) => {
    const method = req.getMethod();
    const headers: Record<string, string> = {};
    req.forEach((name, value) => {
      headers[name] = value;
    });
    const params: Record<string, string> = {};
    for (let i = 0; i < names.length; i++) params[names[i]!] = decode(req.getParameter(i) ?? '');
    const reply = new Reply(ctx, res);
    ctx.requestStarted();
    res.onAborted(() => reply.abort());
    const body =
      method === 'get' || method === 'head'
        ? Promise.resolve(EMPTY)
        : readBody(res, reply, ctx.options.maxBodyBytes);
    const request: RouteRequest = {
      method,
      path: req.getUrl(),
      query: new URLSearchParams(req.getQuery()),
      params,
      headers,
      remoteAddress: addressText(res.getRemoteAddressAsText()),
      body: () => body,
      json: async () => {
        const type = (headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        if (type !== 'application/json' && !type.endsWith('+json')) {
          throw new HttpError(415, 'Content-Type must be application/json');
        }
        const bytes = await body;
        try {
          return JSON.parse(bytes.toString('utf8')) as unknown;
        } catch (err) {
          throw new HttpError(400, `malformed JSON: ${(err as Error).message}`);
        }
      },
    };
    // A handler replies before it (or its Promise) completes; one that forgets gets a logged 500
    // rather than leaving the client hanging.
    const unanswered = (): void => {
      if (reply.sent || reply.aborted) return;
      ctx.core.logger.error({ method, pattern }, 'HTTP route completed without replying');
      reply.error(500, 'internal error');
    };
    try {
      const result = handler(request, reply);
      if (result instanceof Promise) result.then(unanswered, (err: unknown) => reply.fail(err));
      else unanswered();
    } catch (err) {
      reply.fail(err);
    }
  };
}
