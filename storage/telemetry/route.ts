/**
 * `GET /channels/<id>/messages` as a framework-free handler for the HTTP front-end to mount: (channelId, query
 * params) → {status, headers, body}. JSON only: the SSE variant (Accept: text/event-stream) on the same path is
 * the front-end's. Authorization ("like a subscribe") is done by the caller before `handle`.
 */
import { QueryError, type QueryParams } from './query.js';
import type { MessageReader, MessagesPage } from './reader.js';
import { errorMessage, silentTelemetryLogger, type TelemetryLogger } from './types.js';

export interface RouteResponse<T> {
  status: number;
  headers: Record<string, string>;
  body: T;
}

export interface RouteError {
  error: 'invalid_query' | 'history_unavailable';
  message: string;
}

export interface MessagesRoute {
  method: 'GET';
  /** Path template, for the router's documentation. */
  path: '/channels/:channelId/messages';
  /** The channel id of a request path, or null when the path is not this route's (percent-decoded). */
  match(pathname: string): string | null;
  handle(channelId: string, params: QueryParams): Promise<RouteResponse<MessagesPage | RouteError>>;
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };
const PATH = /^\/channels\/([^/]+)\/messages\/?$/;

export function messagesRoute(
  reader: MessageReader,
  logger: TelemetryLogger = silentTelemetryLogger,
): MessagesRoute {
  return {
    method: 'GET',
    path: '/channels/:channelId/messages',
    match(pathname) {
      const m = PATH.exec(pathname);
      if (m === null) return null;
      try {
        return decodeURIComponent(m[1]!);
      } catch {
        return null;
      }
    },
    async handle(channelId, params) {
      try {
        const page = await reader.readMessages(channelId, params);
        return { status: 200, headers: { ...JSON_HEADERS }, body: page };
      } catch (error) {
        if (error instanceof QueryError) {
          return {
            status: 400,
            headers: { ...JSON_HEADERS },
            body: { error: 'invalid_query', message: error.message },
          };
        }
        logger.error({ err: errorMessage(error), channel: channelId }, 'history query failed');
        return {
          status: 503,
          headers: { ...JSON_HEADERS, 'retry-after': '5' },
          body: { error: 'history_unavailable', message: 'the history store did not answer' },
        };
      }
    },
  };
}
