/**
 * `POST /channels/<id>/messages[/<subtopic>...]`: one message per request, published at QoS 0 to
 * the topic the path names, answered `202 {"accepted":true,"topic":...,"deliveries":n}`.
 *
 * Everything that can be decided from the request line and headers is decided before the body is
 * read (404/400 path, 415 type, 413 declared size, 401/403 from cached or synchronous answers), and
 * answered at once; uWS then discards the unread body, so the connection stays usable. A body is
 * read only for a request that may still succeed, and never past `maxBodyBytes`: a larger declared
 * or received size is answered 413 and the connection closed.
 *
 * With a cached credential and a synchronous Authorizer the whole request is handled inside uWS's
 * callbacks, which keeps keep-alive pipelining working: uWS closes a connection that sends a request
 * while the previous one is still unanswered, so only a slow (asynchronous) authorization can
 * make a pipelining client reconnect.
 */
import { Message } from '../core/message.js';
import { type AuthOutcome, authorizePublish, type Identity } from './auth.js';
import { parseChannelPath } from './channel-path.js';
import { ACCEPTED_CONTENT_TYPES, acceptedContentType } from './content-type.js';
import type { HttpContext } from './context.js';
import { sendError, sendJson } from './respond.js';
import { addressText, type HttpRequest, type HttpResponse } from './uws.js';

const UNSUPPORTED_TYPE = `Content-Type must be one of ${ACCEPTED_CONTENT_TYPES.join(', ')}`;
const WWW_AUTHENTICATE = { 'WWW-Authenticate': 'Thing, Bearer, Basic realm="omap"' };

export function httpPublishHandler(ctx: HttpContext): (res: HttpResponse, req: HttpRequest) => void {
  return (res, req) => {
    ctx.stats.publishRequests++;
    if (ctx.draining) return refuse(ctx, res, 503, 'the server is shutting down');
    const path = parseChannelPath(req.getUrl(), false, ctx.core.limits);
    if (!path.ok) return refuse(ctx, res, path.status, path.message);
    const contentType = acceptedContentType(req.getHeader('content-type'));
    if (contentType === null) return refuse(ctx, res, 415, UNSUPPORTED_TYPE);
    const length = req.getHeader('content-length');
    const declared = length === '' ? -1 : Number(length);
    if (declared > ctx.options.maxBodyBytes) {
      return refuse(ctx, res, 413, tooLarge(ctx), true);
    }
    const auth = ctx.auth.authenticate('http', req.getHeader('authorization'), () =>
      addressText(res.getRemoteAddressAsText()),
    );
    if (auth instanceof Promise) {
      new PublishRequest(ctx, res, path.topic, contentType, declared).awaitAuthentication(auth);
      return;
    }
    if (!auth.ok) return refuse(ctx, res, auth.status, auth.message);
    const allowed = authorizePublish(ctx.core, auth.identity.client, auth.identity.decisions, path.topic);
    if (allowed === false) return refuse(ctx, res, 403, forbidden(path.topic));
    const request = new PublishRequest(ctx, res, path.topic, contentType, declared);
    if (allowed === true) request.authorized(auth.identity);
    else request.awaitDecision(auth.identity, allowed);
  };
}

function refuse(ctx: HttpContext, res: HttpResponse, status: number, message: string, close = false): void {
  ctx.stats.refused++;
  sendError(res, status, message, status === 401 ? WWW_AUTHENTICATE : undefined, close);
}

function tooLarge(ctx: HttpContext): string {
  return `the body is larger than ${ctx.options.maxBodyBytes} bytes`;
}

function forbidden(topic: string): string {
  return `not allowed to publish to ${topic}`;
}

/** A request whose body is being read and/or whose authorization is pending. */
class PublishRequest {
  private identity: Identity | null = null;
  private allowed: boolean | undefined;
  private body: Buffer | null = null;
  private parts: Buffer[] | null = null;
  private received = 0;
  private bodyComplete = false;
  /** Answered or aborted: `res` must not be touched any more. */
  private finished = false;

  constructor(
    private readonly ctx: HttpContext,
    private readonly res: HttpResponse,
    private readonly topic: string,
    private readonly contentType: string,
    private readonly declared: number,
  ) {
    ctx.requestStarted();
    res.onAborted(() => {
      if (this.finished) return;
      this.finished = true;
      ctx.stats.aborted++;
      ctx.requestEnded();
    });
    res.onData((chunk, isLast) => this.onData(chunk, isLast));
  }

  authorized(identity: Identity): void {
    this.identity = identity;
    this.allowed = true;
  }

  awaitAuthentication(auth: Promise<AuthOutcome>): void {
    auth.then(
      (outcome) => {
        if (this.finished) return;
        if (!outcome.ok) return this.fail(outcome.status, outcome.message);
        const allowed = authorizePublish(
          this.ctx.core,
          outcome.identity.client,
          outcome.identity.decisions,
          this.topic,
        );
        if (typeof allowed === 'boolean') this.decided(outcome.identity, allowed);
        else this.awaitDecision(outcome.identity, allowed);
      },
      (err: unknown) => this.crashed(err),
    );
  }

  awaitDecision(identity: Identity, decision: Promise<boolean>): void {
    decision.then(
      (allowed) => this.decided(identity, allowed),
      (err: unknown) => this.crashed(err),
    );
  }

  private decided(identity: Identity, allowed: boolean): void {
    if (this.finished) return;
    if (!allowed) {
      this.fail(403, forbidden(this.topic));
      return;
    }
    this.identity = identity;
    this.allowed = true;
    if (this.bodyComplete) this.publish();
  }

  private onData(chunk: ArrayBuffer, isLast: boolean): void {
    if (this.finished) return;
    const size = chunk.byteLength;
    const max = this.ctx.options.maxBodyBytes;
    if (this.received + size > max || (this.declared >= 0 && this.received + size > this.declared)) {
      this.fail(413, tooLarge(this.ctx), true);
      return;
    }
    // uWS neuters `chunk` when this callback returns: copy now.
    if (size > 0) {
      if (this.declared > 0) {
        this.body ??= Buffer.allocUnsafe(this.declared);
        this.body.set(new Uint8Array(chunk), this.received);
      } else {
        (this.parts ??= []).push(Buffer.from(new Uint8Array(chunk)));
      }
      this.received += size;
    }
    if (!isLast) return;
    this.bodyComplete = true;
    if (this.allowed === true) this.publish();
  }

  private payload(): Buffer {
    if (this.body !== null) {
      return this.received === this.body.length ? this.body : this.body.subarray(0, this.received);
    }
    const parts = this.parts;
    if (parts === null) return Buffer.alloc(0);
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, this.received);
  }

  private publish(): void {
    const ctx = this.ctx;
    const client = this.identity!.client;
    const payload = this.payload();
    // The broker's payload validator (strict SenML channels), as for every protocol.
    const problem = ctx.core.checkPayload(this.topic, this.contentType, payload);
    if (problem !== null) {
      this.fail(400, `invalid payload: ${problem}`);
      return;
    }
    const message = new Message(this.topic, payload, 0, false, client.id, { contentType: this.contentType });
    let deliveries: number;
    try {
      deliveries = ctx.core.publish(message, client);
    } catch (err) {
      // An exception must not escape into uWS's native callback (it would end the process).
      this.crashed(err);
      return;
    }
    ctx.stats.published++;
    this.finish();
    sendJson(
      this.res,
      202,
      `{"accepted":true,"topic":${JSON.stringify(this.topic)},"deliveries":${deliveries}}`,
    );
  }

  private fail(status: number, message: string, close = false): void {
    this.finish();
    refuse(this.ctx, this.res, status, message, close);
  }

  private crashed(err: unknown): void {
    this.ctx.core.logger.error({ err, topic: this.topic }, 'HTTP publish failed');
    if (!this.finished) this.fail(500, 'internal error');
  }

  private finish(): void {
    this.finished = true;
    this.ctx.requestEnded();
  }
}
