/**
 * What the management API needs from an HTTP server: register a route whose handler gets a plain
 * request and a reply object. It mirrors `HttpFrontEnd.route()` of broker/http (uWebSockets.js), so
 * that front-end mounts the API directly; `NodeHttpHost` (node-host.ts) provides the same over
 * node:http where uWS cannot load (Node 23+) or for a separate admin port.
 */

export type HostMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface ApiRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  /** Pattern parameters (`:id`), percent-decoded. */
  readonly params: Readonly<Record<string, string>>;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  body(): Promise<Buffer>;
}

export interface ApiReply {
  readonly aborted: boolean;
  json(status: number, value: unknown, headers?: Readonly<Record<string, string>>): void;
  send(status: number, body: string | Uint8Array, headers?: Readonly<Record<string, string>>): void;
}

export type ApiHandler = (request: ApiRequest, reply: ApiReply) => void | Promise<void>;

export interface RouteHost {
  route(method: HostMethod, pattern: string, handler: ApiHandler): unknown;
}
