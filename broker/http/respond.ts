/**
 * Writing responses with uWS: status lines, JSON bodies and the `{error, message}` shape every
 * error answer has. Each function writes inside `res.cork` so it is correct from a synchronous
 * handler and after asynchronous work alike (one syscall, no uWS "corked callback" warning).
 */
import type { HttpResponse } from './uws.js';

const STATUS_LINES: Record<number, string> = {
  200: '200 OK',
  201: '201 Created',
  202: '202 Accepted',
  204: '204 No Content',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  406: '406 Not Acceptable',
  409: '409 Conflict',
  413: '413 Content Too Large',
  415: '415 Unsupported Media Type',
  422: '422 Unprocessable Content',
  426: '426 Upgrade Required',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};

export function statusLine(status: number): string {
  return STATUS_LINES[status] ?? `${status} Status ${status}`;
}

/** Machine-readable error names, one per status this front-end answers. */
const ERROR_NAMES: Record<number, string> = {
  400: 'bad-request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not-found',
  405: 'method-not-allowed',
  406: 'not-acceptable',
  413: 'payload-too-large',
  415: 'unsupported-media-type',
  426: 'upgrade-required',
  500: 'internal-error',
  503: 'unavailable',
};

export function errorName(status: number): string {
  return ERROR_NAMES[status] ?? 'error';
}

export type Headers = Readonly<Record<string, string>>;

/** Raised by route handlers (and the body reader) to answer with an error status. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers?: Headers,
  ) {
    super(message);
  }
}

export function errorBody(status: number, message: string): string {
  return `{"error":"${errorName(status)}","message":${JSON.stringify(message)}}`;
}

/**
 * Answers with a JSON body. `closeConnection` ends the keep-alive connection after the answer: used
 * when the request body is left unread (413), so its bytes are never parsed as a next request.
 */
export function sendJson(
  res: HttpResponse,
  status: number,
  json: string,
  headers?: Headers,
  closeConnection = false,
): void {
  res.cork(() => {
    res.writeStatus(statusLine(status)).writeHeader('Content-Type', 'application/json');
    if (headers) for (const name in headers) res.writeHeader(name, headers[name]!);
    res.end(json, closeConnection);
  });
}

export function sendError(
  res: HttpResponse,
  status: number,
  message: string,
  headers?: Headers,
  closeConnection = false,
): void {
  sendJson(res, status, errorBody(status, message), headers, closeConnection);
}
