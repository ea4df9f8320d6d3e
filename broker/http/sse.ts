/**
 * `GET /channels/<id>/messages[/<subtopic>]` with `Accept: text/event-stream`: a Server-Sent Events
 * stream of the messages matching that path (the subtopic may hold MQTT wildcards).
 *
 * Format (binary-safe: the payload is base64 inside a JSON envelope, see envelope.ts):
 *
 *   : subscribed to channels/c1/messages/#        (once, when the subscription is live)
 *
 *   event: message
 *   data: {"topic":"channels/c1/messages/t","contentType":"application/senml+json","payload":"W3sibiI6InQifV0=","created":1700000000000}
 *
 *   event: dropped
 *   data: {"dropped":12}                           (messages lost while this client was too slow)
 *
 *   :                                              (keep-alive comment every `sseHeartbeatMs`)
 *
 * Backpressure: uWS keeps what the socket cannot take. Once a write reports backpressure, the bytes
 * written since are counted; past `maxSubscriberBufferBytes` further messages are dropped (counted
 * per stream and in `stats.droppedSse`) until uWS reports the socket writable and drained, and the
 * client is then told how many it missed. A slow stream never holds up the publisher or anyone else.
 */
import type { ClientInfo } from '../core/authorizer.js';
import { DecisionCache } from '../core/decision-cache.js';
import type { Message, QoS } from '../core/message.js';
import type { Subscriber } from '../core/subscription.js';
import { closeAtExpiry, resolveAccess } from './access.js';
import { parseChannelPath } from './channel-path.js';
import { andThen, type HttpContext, queryParam } from './context.js';
import { envelopeJson } from './envelope.js';
import { type Flushable, flushSoon } from './flush-queue.js';
import { sendError } from './respond.js';
import { addressText, type HttpRequest, type HttpResponse } from './uws.js';

let nextStream = 1;

export class SseStream implements Subscriber, Flushable {
  readonly id = `sse-${nextStream++}`;
  dropped = 0;
  client: ClientInfo | null = null;
  private expiry: NodeJS.Timeout | null = null;
  private pending = '';
  private queued = false;
  private open = false;
  private closed = false;
  /** Bytes written since uWS last reported backpressure (an upper bound of what it holds). */
  private backlog = 0;
  private congested = false;
  private droppedSinceNotice = 0;

  constructor(
    private readonly ctx: HttpContext,
    private readonly res: HttpResponse,
    readonly filter: string,
    private readonly onClosed: (stream: SseStream) => void,
  ) {}

  /** Sends the response head and subscribes. Called once access is granted. */
  start(client: ClientInfo, expiresAt: number | undefined): void {
    if (this.closed) return;
    this.client = client;
    this.expiry = closeAtExpiry(expiresAt, () => this.end());
    this.open = true;
    const res = this.res;
    res.cork(() => {
      res
        .writeStatus('200 OK')
        .writeHeader('Content-Type', 'text/event-stream')
        .writeHeader('Cache-Control', 'no-cache')
        .writeHeader('X-Accel-Buffering', 'no');
      res.write(`: subscribed to ${this.filter}\n\n`);
    });
    res.onWritable(() => this.onWritable());
    const { retained } = this.ctx.core.subscribe(this, this.filter, { qos: 0 }, client);
    for (const message of retained) this.deliver(message, 0, true);
  }

  deliver(message: Message, _qos: QoS, retain: boolean): void {
    if (!this.open) return;
    const event = `event: message\ndata: ${envelopeJson(message, retain)}\n\n`;
    // Bounded whether or not the socket is congested: one tick's burst is bounded too.
    if (this.backlog + this.pending.length + event.length > this.ctx.options.maxSubscriberBufferBytes) {
      this.dropped++;
      this.droppedSinceNotice++;
      this.ctx.stats.droppedSse++;
      return;
    }
    this.pending += event;
    if (!this.queued) {
      this.queued = true;
      flushSoon(this);
    }
  }

  flush(): void {
    this.queued = false;
    if (!this.open || this.pending === '') return;
    const data = this.pending;
    this.pending = '';
    this.write(data);
  }

  /** A keep-alive comment; also lets a dead peer be noticed. */
  heartbeat(): void {
    if (this.open && !this.congested) this.write(':\n\n');
  }

  /** Ends the stream (shutdown, credential expiry, an administrator's disconnect). */
  /** Management revoked this stream's subscription: the stream ends. */
  revoked(_filter: string): void {
    this.end();
  }

  end(): void {
    if (!this.open) return;
    this.flush();
    this.res.cork(() => this.res.end());
    this.close();
  }

  /** The client went away before or after the stream started. */
  aborted(): void {
    this.close();
  }

  private write(data: string): void {
    let ok = true;
    const res = this.res;
    res.cork(() => {
      if (this.droppedSinceNotice > 0 && !this.congested) {
        res.write(`event: dropped\ndata: {"dropped":${this.droppedSinceNotice}}\n\n`);
        this.droppedSinceNotice = 0;
      }
      ok = res.write(data);
    });
    if (!ok || this.congested) {
      this.congested = true;
      this.backlog += Buffer.byteLength(data);
    }
  }

  /**
   * uWS calls this when a socket holding unsent bytes becomes writable, and does not drain its own
   * buffer while an onWritable handler is registered: writing anything (a comment) flushes what it
   * holds first and reports whether everything went out. It writes even when no congestion was
   * seen: inside a cork, a write that only partly went out is not reported as failed.
   */
  private onWritable(): boolean {
    if (!this.open) return true;
    let ok = false;
    this.res.cork(() => {
      ok = this.res.write(':\n\n');
    });
    if (ok) {
      this.congested = false;
      this.backlog = 0;
      if (this.pending !== '' && !this.queued) {
        this.queued = true;
        flushSoon(this);
      }
    }
    return ok;
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.expiry !== null) clearTimeout(this.expiry);
    const wasOpen = this.open;
    this.open = false;
    if (wasOpen) this.ctx.core.unsubscribe(this, this.filter, this.client ?? undefined);
    this.onClosed(this);
  }
}

export function sseHandler(
  ctx: HttpContext,
  streams: Set<SseStream>,
): (res: HttpResponse, req: HttpRequest) => void {
  return (res, req) => {
    if (!req.getHeader('accept').includes('text/event-stream')) {
      ctx.stats.refused++;
      return sendError(
        res,
        406,
        'GET on a channel path needs Accept: text/event-stream (or a WebSocket upgrade)',
      );
    }
    if (ctx.draining) return refuse(ctx, res, 503, 'the server is shutting down');
    const path = parseChannelPath(req.getUrl(), true, ctx.core.limits);
    if (!path.ok) return refuse(ctx, res, path.status, path.message);
    const authorization = req.getHeader('authorization') || queryParam(req.getQuery(), 'authorization');
    const stream = new SseStream(ctx, res, path.topic, (s) => streams.delete(s));
    const access = resolveAccess(ctx, {
      protocol: 'sse',
      connectionId: stream.id,
      authorization,
      remoteAddress: addressText(res.getRemoteAddressAsText()),
      filter: path.topic,
      publishTopic: undefined,
      decisions: new DecisionCache(0),
    });
    let settled = false;
    res.onAborted(() => {
      if (!settled) ctx.stats.aborted++;
      settled = true;
      stream.aborted();
    });
    const decide = andThen(access, (result) => {
      if (settled) return; // the client left while we were deciding
      settled = true;
      if (!result.ok) return refuse(ctx, res, result.status, result.message);
      if (!result.subscribe) return refuse(ctx, res, 403, `not allowed to subscribe to ${path.topic}`);
      if (ctx.draining) return refuse(ctx, res, 503, 'the server is shutting down');
      streams.add(stream);
      stream.start(result.client, result.expiresAt);
    });
    if (decide instanceof Promise) {
      ctx.requestStarted();
      decide
        .catch((err: unknown) => {
          ctx.core.logger.error({ err }, 'SSE subscribe failed');
          if (!settled) {
            settled = true;
            refuse(ctx, res, 500, 'internal error');
          }
        })
        .finally(() => ctx.requestEnded());
    }
  };
}

function refuse(ctx: HttpContext, res: HttpResponse, status: number, message: string): void {
  ctx.stats.refused++;
  sendError(res, status, message);
}
