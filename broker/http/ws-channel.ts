/**
 * Plain WebSocket on `/channels/<id>/messages[/<subtopic>]`: the socket receives the messages
 * matching that path (wildcards allowed) and publishes what it sends to that exact topic.
 *
 * - Outbound: one binary frame per message holding the payload bytes only; with `?format=envelope`
 *   one text frame per message holding the JSON envelope (topic, contentType, base64 payload; see
 *   envelope.ts), for wildcard subscribers that need the topic.
 * - Inbound: every frame (binary or text) is one QoS 0 message to the path's topic, its bytes
 *   untouched; `?content-type=<type>` (one of the HTTP publish types) travels with them as the
 *   MQTT 5 content type. A socket never receives its own frames back.
 * - Authorization at upgrade (`Authorization` header, or `?authorization=` for browsers):
 *   401/403/503 answer the upgrade request. The socket opens if it may subscribe to the filter or
 *   publish to the topic; it receives only if it may subscribe. Publish decisions are re-asked
 *   after `authorizationCacheTtlMs` and dropped by `broker.invalidateAuthorizations()`.
 * - Close codes: 4400 publish on a wildcard path or payload refused by validation, 4401 credential
 *   expired, 4403 publish not authorized, 4429 too many frames held while a publish decision was
 *   pending, 1001 shutdown, 1008 disconnected by an administrator, 1011 internal error; a frame
 *   larger than `maxBodyBytes` makes uWS drop the connection without a close frame (1006).
 * - Backpressure: deliveries are dropped (QoS 0, counted in `stats.droppedWs`) once a socket holds
 *   `maxSubscriberBufferBytes` unsent; the publisher and other subscribers are never held up.
 */
import type { ClientInfo } from '../core/authorizer.js';
import { DecisionCache } from '../core/decision-cache.js';
import { Message, type MessageProperties, type QoS } from '../core/message.js';
import type { Subscriber } from '../core/subscription.js';
import { closeAtExpiry, resolveAccess } from './access.js';
import { authorizePublish } from './auth.js';
import { parseChannelPath } from './channel-path.js';
import { ACCEPTED_CONTENT_TYPES, acceptedContentType } from './content-type.js';
import { andThen, type HttpContext, queryParam } from './context.js';
import { envelopeJson } from './envelope.js';
import { type Flushable, flushSoon } from './flush-queue.js';
import { sendError } from './respond.js';
import {
  addressText,
  type HttpRequest,
  type HttpResponse,
  type SocketContext,
  type WebSocket,
  type WebSocketBehavior,
} from './uws.js';

export const WS_CLOSE = {
  shutdown: 1001,
  policy: 1008,
  badPublish: 4400,
  expired: 4401,
  forbidden: 4403,
  tooManyPending: 4429,
  internalError: 1011,
} as const;

export interface WsChannelData {
  channel: WsChannel;
}

let nextSocket = 1;

export class WsChannel implements Subscriber, Flushable {
  readonly id = `ws-${nextSocket++}`;
  /** Publish decisions of this socket (for its one topic). */
  readonly decisions: DecisionCache;
  dropped = 0;
  client: ClientInfo | null = null;
  mayReceive = false;
  expiresAt: number | undefined = undefined;
  private expiry: NodeJS.Timeout | null = null;
  private ws: WebSocket<WsChannelData> | null = null;
  private closed = false;
  private outbound: (Buffer | string)[] = [];
  private outboundBytes = 0;
  private queued = false;
  /** Frames received while a publish decision is pending, replayed in order once it is known. */
  private held: Buffer[] | null = null;
  private heldBytes = 0;
  private readonly properties: MessageProperties | undefined;

  constructor(
    private readonly ctx: HttpContext,
    readonly filter: string,
    readonly wildcard: boolean,
    readonly envelope: boolean,
    contentType: string | null,
    private readonly onClosed: (channel: WsChannel) => void,
  ) {
    this.decisions = new DecisionCache(ctx.core.limits.authorizationCacheTtlMs);
    this.properties = contentType === null ? undefined : { contentType };
  }

  open(ws: WebSocket<WsChannelData>): void {
    this.ws = ws;
    this.expiry = closeAtExpiry(this.expiresAt, () => this.end(WS_CLOSE.expired, 'credentials expired'));
    if (!this.mayReceive || this.client === null) return;
    // noLocal: a socket does not get its own frames back.
    const { retained } = this.ctx.core.subscribe(this, this.filter, { qos: 0, noLocal: true }, this.client);
    for (const message of retained) this.deliver(message, 0, true);
  }

  deliver(message: Message, _qos: QoS, retain: boolean): void {
    const ws = this.ws;
    if (ws === null || this.closed) return;
    const data = this.envelope ? envelopeJson(message, retain) : message.payload;
    const size = data.length; // for an envelope, its string length: close enough for a bound
    if (this.outboundBytes + size + ws.getBufferedAmount() > this.ctx.options.maxSubscriberBufferBytes) {
      this.dropped++;
      this.ctx.stats.droppedWs++;
      return;
    }
    this.outbound.push(data);
    this.outboundBytes += size;
    if (!this.queued) {
      this.queued = true;
      flushSoon(this);
    }
  }

  flush(): void {
    this.queued = false;
    const ws = this.ws;
    const out = this.outbound;
    if (ws === null || this.closed || out.length === 0) return;
    this.outbound = [];
    this.outboundBytes = 0;
    const binary = !this.envelope;
    ws.cork(() => {
      for (let i = 0; i < out.length; i++) {
        // 2: uWS dropped it (over its own maxBackpressure); it should not happen below our bound.
        if (ws.send(out[i]!, binary) === 2) {
          this.dropped++;
          this.ctx.stats.droppedWs++;
        }
      }
    });
  }

  /** A frame from the client: published to the path's topic. `data` is already a copy. */
  receive(data: Buffer): void {
    if (this.closed) return;
    if (this.wildcard) {
      this.end(WS_CLOSE.badPublish, 'cannot publish on a wildcard path');
      return;
    }
    if (this.held !== null) {
      this.heldBytes += data.length;
      if (this.heldBytes > this.ctx.options.maxBodyBytes * 4) {
        this.ctx.stats.wsOverflows++;
        this.end(WS_CLOSE.tooManyPending, 'too many frames awaiting authorization');
        return;
      }
      this.held.push(data);
      return;
    }
    const decision = authorizePublish(this.ctx.core, this.client!, this.decisions, this.filter);
    if (decision === true) {
      this.publish(data);
      return;
    }
    if (decision === false) {
      this.end(WS_CLOSE.forbidden, 'publish not authorized');
      return;
    }
    this.held = [data];
    this.heldBytes = data.length;
    this.ctx.requestStarted();
    decision
      .then((allowed) => {
        const held = this.held ?? [];
        this.held = null;
        this.heldBytes = 0;
        if (this.closed) return;
        if (!allowed) return this.end(WS_CLOSE.forbidden, 'publish not authorized');
        // Later frames may have been held too; they share this decision.
        for (const frame of held) {
          if (this.closed) return;
          this.publish(frame);
        }
      })
      .finally(() => this.ctx.requestEnded());
  }

  private publish(payload: Buffer): void {
    const ctx = this.ctx;
    // The broker's payload validator (strict SenML channels), as for every protocol.
    const problem = ctx.core.checkPayload(this.filter, this.properties?.contentType, payload);
    if (problem !== null) {
      this.end(WS_CLOSE.badPublish, `invalid payload: ${problem}`);
      return;
    }
    ctx.core.publish(new Message(this.filter, payload, 0, false, this.id, this.properties), this.client!);
    ctx.stats.published++;
  }

  /** Closes with a code and reason (shutdown, refused publish). */
  /** Management revoked this socket's subscription: the socket closes (4403). */
  revoked(_filter: string): void {
    this.end(WS_CLOSE.forbidden, 'subscription revoked');
  }

  end(code: number, reason: string): void {
    const ws = this.ws;
    if (ws === null || this.closed) return;
    // A close reason is at most 123 bytes.
    ws.end(code, Buffer.from(reason).subarray(0, 123));
  }

  /** uWS reports the socket closed (by either side): forget it. */
  closedByUws(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.expiry !== null) clearTimeout(this.expiry);
    this.outbound = [];
    this.held = null;
    if (this.mayReceive && this.client !== null) this.ctx.core.unsubscribe(this, this.filter, this.client);
    this.ws = null;
    this.onClosed(this);
  }
}

export function wsChannelBehavior(
  ctx: HttpContext,
  channels: Set<WsChannel>,
): WebSocketBehavior<WsChannelData> {
  return {
    maxPayloadLength: ctx.options.maxBodyBytes,
    // uWS's own bound sits above ours (deliver() drops first); it only guards the pathological case.
    maxBackpressure: ctx.options.maxSubscriberBufferBytes * 2 + ctx.options.maxBodyBytes,
    closeOnBackpressureLimit: false,
    idleTimeout: ctx.options.wsIdleTimeoutSeconds,
    sendPingsAutomatically: true,
    upgrade: (res, req, context) => upgrade(ctx, channels, res, req, context),
    open: (ws) => ws.getUserData().channel.open(ws),
    message: (ws, message) => {
      // uWS neuters `message` when this callback returns: copy it.
      ws.getUserData().channel.receive(Buffer.from(new Uint8Array(message)));
    },
    close: (ws) => ws.getUserData().channel.closedByUws(),
  };
}

function upgrade(
  ctx: HttpContext,
  channels: Set<WsChannel>,
  res: HttpResponse,
  req: HttpRequest,
  context: SocketContext,
): void {
  // Everything from `req` is read now: it is invalid after the first await.
  const url = req.getUrl();
  const query = req.getQuery();
  const key = req.getHeader('sec-websocket-key');
  const extensions = req.getHeader('sec-websocket-extensions');
  // Echo the client's first subprotocol, if any: a browser fails the handshake otherwise.
  const protocol = req.getHeader('sec-websocket-protocol').split(',')[0]!.trim();
  const authorization = req.getHeader('authorization') || queryParam(query, 'authorization');
  if (ctx.draining) {
    refuse(ctx, res, 503, 'the server is shutting down');
    return;
  }
  const path = parseChannelPath(url, true, ctx.core.limits);
  if (!path.ok) {
    refuse(ctx, res, path.status, path.message);
    return;
  }
  const format = queryParam(query, 'format');
  if (format !== '' && format !== 'payload' && format !== 'envelope') {
    refuse(ctx, res, 400, 'format must be payload or envelope');
    return;
  }
  const typeParam = queryParam(query, 'content-type');
  const contentType = typeParam === '' ? null : acceptedContentType(typeParam);
  if (typeParam !== '' && contentType === null) {
    refuse(ctx, res, 415, `content-type must be one of ${ACCEPTED_CONTENT_TYPES.join(', ')}`);
    return;
  }
  const channel = new WsChannel(ctx, path.topic, path.wildcard, format === 'envelope', contentType, (c) =>
    channels.delete(c),
  );
  const access = resolveAccess(ctx, {
    protocol: 'ws',
    connectionId: channel.id,
    authorization,
    remoteAddress: addressText(res.getRemoteAddressAsText()),
    filter: path.topic,
    publishTopic: path.wildcard ? undefined : path.topic,
    decisions: channel.decisions,
  });
  let aborted = false;
  const decide = andThen(access, (result) => {
    if (aborted) return;
    if (!result.ok) return refuse(ctx, res, result.status, result.message);
    if (!result.subscribe && !result.publish) {
      return refuse(ctx, res, 403, `not allowed to subscribe to or publish on ${path.topic}`);
    }
    if (ctx.draining) return refuse(ctx, res, 503, 'the server is shutting down');
    channel.client = result.client;
    channel.mayReceive = result.subscribe;
    channel.expiresAt = result.expiresAt;
    channels.add(channel);
    res.cork(() => res.upgrade<WsChannelData>({ channel }, key, protocol, extensions, context));
  });
  if (decide instanceof Promise) {
    res.onAborted(() => {
      aborted = true;
      ctx.stats.aborted++;
    });
    ctx.requestStarted();
    decide
      .catch((err: unknown) => {
        ctx.core.logger.error({ err }, 'WebSocket upgrade failed');
        if (!aborted) refuse(ctx, res, 500, 'internal error');
      })
      .finally(() => ctx.requestEnded());
  }
}

function refuse(ctx: HttpContext, res: HttpResponse, status: number, message: string): void {
  ctx.stats.refused++;
  sendError(res, status, message);
}
