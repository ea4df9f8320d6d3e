/**
 * Runs a route for one request: authenticate (bearer), parse and validate params / query / body,
 * call the handler, answer JSON. Every failure becomes `{error, message}` with its status:
 * 400 malformed or schema-invalid request, 401 no valid token, 403 not permitted, 404 unknown (or
 * invisible) entity, 409 conflict, 412 If-Match mismatch, 415 not JSON, 422 a rule of the model
 * refused a well-formed request, 500 a bug (logged).
 */
import { type TObject, Type } from '@sinclair/typebox';
import type { Actor } from '../services/actor.js';
import { ServiceError } from '../services/errors.js';
import type { ApiHandler, ApiReply } from './host.js';
import type { Route } from './route.js';
import { Validator } from './validation.js';

export interface DispatchDeps {
  /** Resolves a bearer token to its caller (null: invalid). */
  authenticate(token: string): Promise<Actor | null>;
  logError(err: unknown, context: Record<string, unknown>): void;
}

const ERROR_NAMES: Record<number, string> = {
  400: 'bad-request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not-found',
  409: 'conflict',
  412: 'precondition-failed',
  413: 'payload-too-large',
  415: 'unsupported-media-type',
  422: 'unprocessable',
  500: 'internal-error',
  503: 'unavailable',
};

class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function sendError(
  reply: ApiReply,
  status: number,
  message: string,
  headers?: Record<string, string>,
): void {
  reply.json(status, { error: ERROR_NAMES[status] ?? 'error', message }, headers);
}

const EMPTY_OBJECT_SCHEMA: TObject = Type.Object({});

/** `"12"`, `W/"12"` → 12; `*` → undefined; anything else → a version that matches nothing. */
export function parseIfMatch(value: string | undefined): number | undefined {
  if (value === undefined || value === '' || value.trim() === '*') return undefined;
  const m = /^\s*(?:W\/)?"(\d+)"\s*$/.exec(value);
  return m ? Number(m[1]) : -1;
}

function queryObject(query: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of query) out[k] = v;
  return out;
}

export function dispatcher(route: Route, deps: DispatchDeps): ApiHandler {
  const params = new Validator(route.params ?? EMPTY_OBJECT_SCHEMA, 'params');
  const query = new Validator(route.query ?? EMPTY_OBJECT_SCHEMA, 'query');
  const body = route.body ? new Validator(route.body, 'body') : null;

  return async (request, reply) => {
    try {
      let actor: Actor | null = null;
      if (route.auth === 'bearer') {
        const header = request.headers.authorization ?? '';
        const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
        actor = m ? await deps.authenticate(m[1]!) : null;
        if (actor === null) {
          throw new RequestError(
            401,
            m ? 'the token is invalid, expired or revoked' : 'a Bearer token is required',
          );
        }
      }
      const p = params.validate(request.params, true);
      // A path whose ids are malformed names nothing.
      if (!p.ok) throw new RequestError(404, p.message);
      const q = query.validate(queryObject(request.query), true);
      if (!q.ok) throw new RequestError(400, q.message);
      let b: unknown;
      if (body !== null) {
        const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        if (type !== 'application/json') throw new RequestError(415, 'Content-Type must be application/json');
        const bytes = await request.body();
        try {
          b = JSON.parse(bytes.toString('utf8'));
        } catch (err) {
          throw new RequestError(400, `malformed JSON: ${(err as Error).message}`);
        }
        const checked = body.validate(b, false);
        if (!checked.ok) throw new RequestError(400, checked.message);
        b = checked.value;
      }
      const ifMatch = route.versioned ? parseIfMatch(request.headers['if-match']) : undefined;
      const result = await route.handler({
        params: p.value,
        query: q.value,
        body: b,
        actor,
        ifMatch,
        headers: request.headers,
      });
      if (reply.aborted) return;
      const headers: Record<string, string> = { ...result.headers };
      if (result.etag !== undefined) headers.ETag = `"${result.etag}"`;
      if (result.body === undefined) reply.send(result.status, '', headers);
      else reply.json(result.status, result.body, headers);
    } catch (err) {
      if (reply.aborted) return;
      if (err instanceof RequestError || err instanceof ServiceError) {
        const headers: Record<string, string> =
          err.status === 401 ? { 'WWW-Authenticate': 'Bearer realm="omap"' } : {};
        sendError(reply, err.status, err.message, headers);
        return;
      }
      const status = (err as { status?: unknown }).status;
      if (typeof status === 'number' && status >= 400 && status < 500) {
        // An HttpError of the host (413 body too large, 499 client gone).
        sendError(reply, status, (err as Error).message);
        return;
      }
      deps.logError(err, { method: route.method, path: route.path });
      sendError(reply, 500, 'internal error');
    }
  };
}
