/**
 * What a long-lived subscriber connection (plain WebSocket, SSE stream) may do, decided once when
 * it opens: authenticate, then may it subscribe to its filter, and (WebSocket on an exact topic)
 * may it publish there. Synchronous answers stay synchronous.
 */
import type { ClientInfo, Protocol } from '../core/authorizer.js';
import type { DecisionCache } from '../core/decision-cache.js';
import { authorizePublish, authorizeSubscribe, connectionClient } from './auth.js';
import { andThen, type HttpContext } from './context.js';

export type Access =
  | {
      ok: true;
      client: ClientInfo;
      subscribe: boolean;
      publish: boolean;
      /** When the credential expires (ms since epoch): the connection is closed then. */
      expiresAt: number | undefined;
    }
  | { ok: false; status: 401 | 403 | 503; message: string };

export interface AccessRequest {
  protocol: Protocol;
  /** Also the ClientInfo id of the connection: unique among subscribers. */
  connectionId: string;
  authorization: string;
  remoteAddress: string | undefined;
  filter: string;
  /** The topic it would publish to, if it may publish at all. */
  publishTopic: string | undefined;
  /** The connection's own publish decisions (its later frames are checked against them). */
  decisions: DecisionCache;
}

export function resolveAccess(ctx: HttpContext, request: AccessRequest): Access | Promise<Access> {
  const auth = ctx.auth.authenticate(request.protocol, request.authorization, () => request.remoteAddress);
  return andThen(auth, (outcome): Access | Promise<Access> => {
    if (!outcome.ok) return outcome;
    const client = connectionClient(
      outcome.identity,
      request.connectionId,
      request.protocol,
      request.remoteAddress,
    );
    const subscribe = authorizeSubscribe(ctx.core, client, request.filter);
    const publish =
      request.publishTopic === undefined
        ? false
        : authorizePublish(ctx.core, client, request.decisions, request.publishTopic);
    const combine = (mayPublish: boolean): Access | Promise<Access> =>
      andThen(subscribe, (maySubscribe) => ({
        ok: true,
        client,
        subscribe: maySubscribe,
        publish: mayPublish,
        expiresAt: outcome.identity.expiresAt,
      }));
    return andThen(publish, combine);
  });
}

/** Calls `close` when the credential expires (never for `undefined`); the timer does not hold the process. */
export function closeAtExpiry(expiresAt: number | undefined, close: () => void): NodeJS.Timeout | null {
  if (expiresAt === undefined) return null;
  // setTimeout cannot wait longer than ~24.8 days; a credential valid longer is not re-checked.
  const delay = expiresAt - Date.now();
  if (delay > 2 ** 31 - 1) return null;
  const timer = setTimeout(close, Math.max(0, delay));
  timer.unref();
  return timer;
}
