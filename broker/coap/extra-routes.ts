/**
 * Extra CoAP POST resources a layer above the broker registers (e.g. the platform's device
 * provisioning): a Uri-Path prefix and a handler that gets the request and answers a code, a payload
 * and a Content-Format. The broker core knows nothing of what they do; they run before the
 * `/channels/...` routing, do not authenticate through the Authorizer, and take single-datagram
 * payloads (no Block1).
 */
import { isUtf8 } from 'node:buffer';
import type { Logger } from '../core/logger.js';
import { Code, OptionNumber } from './codes.js';
import type { Exchange } from './message-layer.js';

export interface CoapRouteRequest {
  /** The Uri-Path segments after the prefix. */
  readonly path: readonly string[];
  /** Uri-Query options as `name=value` pairs (a name without `=` has the value ''). */
  readonly query: URLSearchParams;
  readonly payload: Buffer;
  readonly contentFormat: number | undefined;
  readonly remoteAddress: string;
  readonly remotePort: number;
}

export interface CoapRouteResponse {
  /** A CoAP code, e.g. `(2 << 5) | 4` for 2.04; `coapCode(2, 4)` builds it. */
  code: number;
  payload?: Buffer;
  contentFormat?: number;
}

export interface CoapRoute {
  /** The leading Uri-Path segments this route answers, e.g. `['provision', 'devices']`. */
  readonly pathPrefix: readonly string[];
  handler(request: CoapRouteRequest): CoapRouteResponse | Promise<CoapRouteResponse>;
}

export function coapCode(cls: number, detail: number): number {
  return (cls << 5) | detail;
}

/** The route whose prefix the request's Uri-Path starts with (the longest), or null. */
export function matchRoute(routes: readonly CoapRoute[], segments: readonly Buffer[]): CoapRoute | null {
  let best: CoapRoute | null = null;
  for (const route of routes) {
    const prefix = route.pathPrefix;
    if (segments.length < prefix.length || (best !== null && best.pathPrefix.length >= prefix.length))
      continue;
    let ok = true;
    for (let i = 0; i < prefix.length; i++) {
      if (segments[i]!.toString('utf8') !== prefix[i]) {
        ok = false;
        break;
      }
    }
    if (ok) best = route;
  }
  return best;
}

/** Runs a matched route for one exchange (POST only) and sends its answer; a throw answers 5.00. */
export function runRoute(route: CoapRoute, exchange: Exchange, logger: Logger): void {
  const request = exchange.request;
  if (request.code !== Code.POST) {
    exchange.respond({ code: Code.MethodNotAllowed, payload: Buffer.from('only POST') });
    return;
  }
  if (request.option(OptionNumber.Block1) !== undefined) {
    exchange.respond({
      code: Code.BadRequest,
      payload: Buffer.from('block-wise transfer not supported here'),
    });
    return;
  }
  const segments = request.optionValues(OptionNumber.UriPath);
  const path: string[] = [];
  for (const s of segments.slice(route.pathPrefix.length)) {
    if (!isUtf8(s)) {
      exchange.respond({ code: Code.BadRequest, payload: Buffer.from('Uri-Path is not UTF-8') });
      return;
    }
    path.push(s.toString('utf8'));
  }
  const query = new URLSearchParams();
  for (const q of request.optionValues(OptionNumber.UriQuery)) {
    const text = q.toString('utf8');
    const eq = text.indexOf('=');
    if (eq < 0) query.append(text, '');
    else query.append(text.slice(0, eq), text.slice(eq + 1));
  }
  const fail = (err: unknown): void => {
    logger.error({ err, peer: exchange.peer.key }, 'CoAP route failed');
    exchange.respond({ code: Code.InternalServerError });
  };
  const send = (response: CoapRouteResponse): void => {
    exchange.respond({
      code: response.code,
      ...(response.contentFormat !== undefined && {
        options: [{ number: OptionNumber.ContentFormat, value: response.contentFormat }],
      }),
      payload: response.payload ?? null,
    });
  };
  try {
    const result = route.handler({
      path,
      query,
      payload: Buffer.from(request.payload),
      contentFormat: request.uintOption(OptionNumber.ContentFormat, 2),
      remoteAddress: exchange.peer.address,
      remotePort: exchange.peer.port,
    });
    if (result instanceof Promise) result.then(send, fail);
    else send(result);
  } catch (err) {
    fail(err);
  }
}
