/**
 * A `RouteHost` on node:http: the management API where uWebSockets.js is not available (its
 * binaries stop at Node 22), on a port of its own, or in tests of the API alone. Same pattern
 * syntax as uWS (`/a/:param/b`, `/prefix/*`); a literal segment wins over a parameter.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ApiHandler, ApiReply, ApiRequest, HostMethod, RouteHost } from './host.js';

interface CompiledRoute {
  method: string;
  segments: string[];
  handler: ApiHandler;
  /** Literal segments count first when several patterns match. */
  specificity: number;
}

class HostError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface NodeHttpHostOptions {
  /** Largest request body, bytes. Default 1 MiB. */
  maxBodyBytes?: number;
}

export class NodeHttpHost implements RouteHost {
  private readonly routes: CompiledRoute[] = [];
  private readonly server: Server;
  private readonly maxBodyBytes: number;

  constructor(options: NodeHttpHostOptions = {}) {
    this.maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 5000;
  }

  route(method: HostMethod, pattern: string, handler: ApiHandler): this {
    const segments = pattern.split('/').filter((s) => s !== '');
    this.routes.push({
      method,
      segments,
      handler,
      specificity: segments.filter((s) => !s.startsWith(':') && s !== '*').length,
    });
    this.routes.sort((a, b) => b.specificity - a.specificity);
    return this;
  }

  listen(port = 0, host = '127.0.0.1'): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private match(
    method: string,
    path: string,
  ): { route: CompiledRoute; params: Record<string, string> } | null {
    const parts = path.split('/').filter((s) => s !== '');
    for (const route of this.routes) {
      if (route.method !== method) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < route.segments.length; i++) {
        const seg = route.segments[i]!;
        if (seg === '*') break;
        const part = parts[i];
        if (part === undefined) {
          ok = false;
          break;
        }
        if (seg.startsWith(':')) {
          try {
            params[seg.slice(1)] = decodeURIComponent(part);
          } catch {
            params[seg.slice(1)] = part;
          }
        } else if (seg !== part) {
          ok = false;
          break;
        }
      }
      const wildcard = route.segments[route.segments.length - 1] === '*';
      if (ok && (wildcard || parts.length === route.segments.length)) return { route, params };
    }
    return null;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = (req.method ?? 'GET').toLowerCase();
    const found = this.match(method, url.pathname);
    let aborted = false;
    res.on('close', () => {
      if (!res.writableFinished) aborted = true;
    });
    const reply: ApiReply = {
      get aborted() {
        return aborted;
      },
      json: (status, value, headers) =>
        send(status, JSON.stringify(value) ?? 'null', { 'Content-Type': 'application/json', ...headers }),
      send: (status, body, headers) => send(status, body, headers),
    };
    const send = (
      status: number,
      body: string | Uint8Array,
      headers?: Readonly<Record<string, string>>,
    ): void => {
      if (aborted || res.headersSent) return;
      // After a 413 the unread rest of the body must not be parsed as a next request.
      const close = status === 413 ? { Connection: 'close' } : {};
      res.writeHead(status, { ...headers, ...close, 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (found === null) {
      req.resume();
      reply.json(404, {
        error: 'not-found',
        message: `no route for ${method.toUpperCase()} ${url.pathname}`,
      });
      return;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    }
    const max = this.maxBodyBytes;
    let bodyPromise: Promise<Buffer> | null = null;
    const request: ApiRequest = {
      method,
      path: url.pathname,
      query: url.searchParams,
      params: found.params,
      headers,
      body: () =>
        (bodyPromise ??= new Promise<Buffer>((resolve, reject) => {
          const chunks: Buffer[] = [];
          let size = 0;
          req.on('data', (chunk: Buffer) => {
            if (size > max) return; // already refused: the rest is discarded, the connection closes after the 413
            size += chunk.length;
            if (size > max) {
              chunks.length = 0;
              reject(new HostError(413, `the body is larger than ${max} bytes`));
              return;
            }
            chunks.push(chunk);
          });
          req.on('end', () => resolve(Buffer.concat(chunks)));
          req.on('error', reject);
        })),
    };
    Promise.resolve()
      .then(() => found.route.handler(request, reply))
      .then(
        () => {
          if (!res.headersSent && !aborted) reply.json(500, { error: 'internal-error', message: 'no reply' });
        },
        (err: unknown) => {
          const status = err instanceof HostError ? err.status : 500;
          reply.json(status, {
            error: status === 413 ? 'payload-too-large' : 'internal-error',
            message: String((err as Error).message),
          });
        },
      );
  }
}
