/**
 * The authentication and authorization step every request goes through, sync or async as the
 * Authorizer answers: `?auth=` → `authenticate` (4.01 when refused, 5.03 when the authorizer is
 * unavailable) → `authorizePublish` / `authorizeSubscribe` (4.03 when refused) → `next`.
 */
import { Code } from './codes.js';
import type { CoapContext } from './context.js';
import type { Credential } from './credentials.js';
import type { Exchange } from './message-layer.js';
import { authSecret } from './request-target.js';

/** Answers an error with a short diagnostic payload (RFC 7252 §5.5.2), for people reading traces. */
export function refuse(exchange: Exchange, code: number, diagnostic: string): void {
  exchange.respond({ code, payload: Buffer.from(diagnostic) });
}

/** Runs `next` with a value that may still be a Promise; a rejection answers 5.00. */
export function whenSettled<T>(
  ctx: CoapContext,
  exchange: Exchange,
  value: T | Promise<T>,
  next: (value: T) => void,
): void {
  if (!(value instanceof Promise)) {
    next(value);
    return;
  }
  value.then(next).catch((err: unknown) => {
    ctx.logger.error({ err, peer: exchange.peer.key }, 'CoAP authorization failed');
    exchange.respond({ code: Code.InternalServerError });
  });
}

export function authorizeRequest(
  ctx: CoapContext,
  exchange: Exchange,
  action: 'publish' | 'subscribe',
  topic: string,
  next: (credential: Credential) => void,
): void {
  const credentials = ctx.credentials;
  const authenticated = credentials.authenticate(exchange.peer, authSecret(exchange.request), Date.now());
  whenSettled(ctx, exchange, authenticated, (credential) => {
    if (typeof credential === 'string') {
      if (credential === 'unavailable') refuse(exchange, Code.ServiceUnavailable, 'authorizer unavailable');
      else refuse(exchange, Code.Unauthorized, 'authentication failed');
      return;
    }
    const now = Date.now();
    const allowed =
      action === 'publish'
        ? credentials.mayPublish(credential, topic, now)
        : credentials.maySubscribe(credential, topic, now);
    whenSettled(ctx, exchange, allowed, (ok) => {
      if (ok) next(credential);
      else refuse(exchange, Code.Forbidden, `${action} not authorized`);
    });
  });
}
