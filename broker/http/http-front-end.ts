/**
 * The HTTP / WebSocket front-end: one uWebSockets.js app serving
 *
 *   POST /channels/<id>/messages[/<subtopic>]   HTTP publish            (http-publish.ts)
 *   GET  /channels/<id>/messages[/<filter>]     Server-Sent Events      (sse.ts)
 *   WS   /channels/<id>/messages[/<filter>]     plain WebSocket pub/sub (ws-channel.ts)
 *   WS   /mqtt                                  MQTT over WebSocket     (mqtt-ws.ts)
 *   GET  /health, /ready                        liveness, readiness
 *
 * plus the routes later layers add with `route()` (routes.ts). It is a `BrokerListener`: started
 * by `Broker.listen`, drained by `Broker.close`. See broker/http/README.md for the wire API.
 */
import type { BrokerCore, FrontEndControl } from '../core/broker-core.js';
import type { MqttFrontEnd } from '../mqtt/mqtt-front-end.js';
import type { ListenAddress } from '../mqtt/tcp-listener.js';
import { HttpAuthenticator } from './auth.js';
import type { HttpContext, HttpStats } from './context.js';
import { httpPublishHandler } from './http-publish.js';
import { mqttWsBehavior, type UwsMqttTransport } from './mqtt-ws.js';
import { type HttpOptions, type ResolvedHttpOptions, resolveHttpOptions } from './options.js';
import { sendError, sendJson } from './respond.js';
import { type RouteHandler, type RouteMethod, routeHandler } from './routes.js';
import { type SseStream, sseHandler } from './sse.js';
import {
  type HttpRequest,
  type HttpResponse,
  type ListenSocket,
  listenExclusive,
  loadUws,
  type SocketContext,
  type TemplatedApp,
  type UwsModule,
  type WebSocket,
  type WebSocketBehavior,
} from './uws.js';
import { WS_CLOSE, type WsChannel, wsChannelBehavior } from './ws-channel.js';

export interface HttpFrontEndDefaults {
  /** The broker's bind address, used unless the options name one. */
  host: string;
  /** The broker's per-connection outbound bound, the default subscriber buffer. */
  maxOutboundBytes: number;
}

export interface HttpConnectionCounts {
  /** Plain WebSockets on /channels/... */
  ws: number;
  /** SSE streams. */
  sse: number;
  /** MQTT over WebSocket connections. */
  mqttWs: number;
  /** Requests being answered asynchronously. */
  pendingRequests: number;
}

interface ExtraRoute {
  method: RouteMethod;
  pattern: string;
  handler: RouteHandler;
}

export class HttpFrontEnd {
  readonly name = 'http' as const;
  readonly options: ResolvedHttpOptions;
  readonly stats: HttpStats = {
    publishRequests: 0,
    published: 0,
    refused: 0,
    aborted: 0,
    droppedWs: 0,
    droppedSse: 0,
    mqttWsOverflows: 0,
    wsOverflows: 0,
  };
  readonly auth: HttpAuthenticator;
  private readonly ctx: HttpContext;
  private readonly wsChannels = new Set<WsChannel>();
  private readonly sseStreams = new Set<SseStream>();
  private readonly mqttTransports = new Set<UwsMqttTransport>();
  private readonly extraRoutes: ExtraRoute[] = [];
  private uws: UwsModule | null = null;
  private app: TemplatedApp | null = null;
  private listenSocket: ListenSocket | null = null;
  private draining = false;
  private pendingRequests = 0;
  private idleWaiters: (() => void)[] = [];
  private heartbeat: NodeJS.Timeout | null = null;
  private closing: Promise<void> | null = null;
  private readonly invalidate = (clientId?: string): void => {
    this.auth.invalidate(clientId);
    for (const channel of this.wsChannels) {
      if (clientId === undefined || channel.id === clientId) channel.decisions.clear();
    }
  };

  constructor(
    readonly core: BrokerCore,
    private readonly mqtt: MqttFrontEnd,
    options: HttpOptions,
    defaults: HttpFrontEndDefaults,
  ) {
    this.options = resolveHttpOptions(options, defaults);
    this.auth = new HttpAuthenticator(core, this.options.maxCachedCredentials);
    const frontEnd = this;
    this.ctx = {
      core,
      options: this.options,
      auth: this.auth,
      stats: this.stats,
      get draining() {
        return frontEnd.draining;
      },
      requestStarted: () => {
        this.pendingRequests++;
      },
      requestEnded: () => {
        this.pendingRequests--;
        this.checkIdle();
      },
    };
    core.authorizationListeners.add(this.invalidate);
    core.frontEnds.add(this.control);
  }

  /** Lets management close plain WebSockets and SSE streams (MQTT over WebSocket is the MQTT front-end's). */
  private readonly control: FrontEndControl = {
    disconnect: (match, reason) => {
      let n = 0;
      for (const channel of [...this.wsChannels]) {
        if (channel.client !== null && match(channel.client)) {
          channel.end(WS_CLOSE.policy, reason);
          n++;
        }
      }
      for (const stream of [...this.sseStreams]) {
        if (stream.client !== null && match(stream.client)) {
          stream.end();
          n++;
        }
      }
      return n;
    },
  };

  /**
   * Adds a route (see routes.ts). Routes added before `listen()` are installed when the app starts;
   * later ones at once. `/channels/*`, `/mqtt`, `/health` and `/ready` are taken.
   */
  /**
   * Answers plain `GET /channels/<id>/messages[/...]` (without `Accept: text/event-stream`, which
   * stays a live subscription) with `handler`, e.g. the telemetry history reader. `:path` is not
   * parsed: the handler reads `request.path`.
   */
  setHistoryHandler(handler: RouteHandler): this {
    this.history = routeHandler(this.ctx, '/channels/*', handler);
    return this;
  }

  route(method: RouteMethod, pattern: string, handler: RouteHandler): this {
    const route = { method, pattern, handler };
    this.extraRoutes.push(route);
    if (this.app !== null) this.install(this.app, route);
    return this;
  }

  private history: ((res: HttpResponse, req: HttpRequest) => void) | null = null;

  get connections(): HttpConnectionCounts {
    return {
      ws: this.wsChannels.size,
      sse: this.sseStreams.size,
      mqttWs: this.mqttTransports.size,
      pendingRequests: this.pendingRequests,
    };
  }

  /** True between a successful `listen()` and the start of `close()`. */
  get ready(): boolean {
    return this.listenSocket !== null && !this.draining;
  }

  async listen(): Promise<ListenAddress> {
    if (this.app !== null) throw new Error('the HTTP front-end is already listening');
    const uws = await loadUws();
    if (this.closing !== null) throw new Error('the HTTP front-end is closed');
    const app = uws.App();
    this.uws = uws;
    this.app = app;
    this.installBuiltins(app);
    const { host, port } = this.options;
    const socket = await listenExclusive(uws, app, host, port);
    if (socket === false) {
      this.app = null;
      app.close();
      throw new Error(`HTTP: cannot listen on ${host}:${port} (address in use or not available)`);
    }
    this.listenSocket = socket;
    if (this.options.sseHeartbeatMs > 0) {
      this.heartbeat = setInterval(() => {
        for (const stream of this.sseStreams) stream.heartbeat();
      }, this.options.sseHeartbeatMs);
      this.heartbeat.unref();
    }
    return { host, port: uws.us_socket_local_port(socket) };
  }

  /**
   * Graceful shutdown: stop accepting (and answer 503 on /ready and to new requests on open
   * connections), end SSE streams and plain WebSockets (1001), let requests in progress and
   * MQTT-over-WebSocket connections finish (the MQTT front-end closes those, telling MQTT 5
   * clients why) for up to `shutdownGraceMs`, then close whatever is left.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.draining = true;
    this.core.authorizationListeners.delete(this.invalidate);
    this.core.frontEnds.delete(this.control);
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.heartbeat = null;
    const app = this.app;
    const uws = this.uws;
    if (app === null || uws === null) return;
    if (this.listenSocket !== null) uws.us_listen_socket_close(this.listenSocket);
    this.listenSocket = null;
    for (const stream of [...this.sseStreams]) stream.end();
    for (const channel of [...this.wsChannels]) channel.end(WS_CLOSE.shutdown, 'server shutting down');
    await this.whenIdle(this.options.shutdownGraceMs);
    // One more turn of the loop lets uWS hand the last close frames and answers to the kernel.
    await new Promise((resolve) => setImmediate(resolve));
    this.app = null;
    app.close();
  }

  private whenIdle(timeoutMs: number): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.idleWaiters.push(done);
    });
  }

  private isIdle(): boolean {
    return this.pendingRequests === 0 && this.wsChannels.size === 0 && this.mqttTransports.size === 0;
  }

  private checkIdle(): void {
    if (this.idleWaiters.length === 0 || !this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private installBuiltins(app: TemplatedApp): void {
    const ctx = this.ctx;
    const channels = this.wsChannels;
    const transports = this.mqttTransports;
    app.get('/health', (res) => sendJson(res, 200, '{"status":"ok"}'));
    app.get('/ready', (res) => {
      if (this.ready) sendJson(res, 200, '{"status":"ready"}');
      else sendError(res, 503, this.draining ? 'shutting down' : 'not listening yet');
    });
    for (const route of this.extraRoutes) this.install(app, route);

    const mqttWs = mqttWsBehavior(ctx, this.mqtt, transports);
    const mqttClose = mqttWs.close!;
    mqttWs.close = (ws, code, message) => {
      mqttClose(ws, code, message);
      this.checkIdle();
    };
    app.ws('/mqtt', guardBehavior(ctx, mqttWs));
    app.get('/mqtt', (res) =>
      sendError(res, 426, 'MQTT over WebSocket: connect with a WebSocket, subprotocol mqtt'),
    );

    const channelWs = wsChannelBehavior(ctx, channels);
    const channelClose = channelWs.close!;
    channelWs.close = (ws, code, message) => {
      channelClose(ws, code, message);
      this.checkIdle();
    };
    app.ws('/channels/*', guardBehavior(ctx, channelWs));
    app.post('/channels/*', guard(ctx, httpPublishHandler(ctx)));
    const sse = sseHandler(ctx, this.sseStreams);
    app.get(
      '/channels/*',
      guard(ctx, (res, req) => {
        // A plain GET (not an event stream) reads history, when the platform provides a reader.
        const history = this.history;
        if (history === null || req.getHeader('accept').includes('text/event-stream')) return sse(res, req);
        return history(res, req);
      }),
    );
    app.any('/channels/*', (res) =>
      sendError(res, 405, 'use POST to publish, GET (SSE) or a WebSocket to subscribe', {
        Allow: 'GET, POST',
      }),
    );
    app.any('/*', (res, req) => sendError(res, 404, `no resource at ${req.getMethod()} ${req.getUrl()}`));
  }

  private install(app: TemplatedApp, route: ExtraRoute): void {
    const handler = guard(this.ctx, routeHandler(this.ctx, route.pattern, route.handler));
    // uWS names DELETE `del`.
    app[route.method === 'delete' ? 'del' : route.method](route.pattern, handler);
  }
}

/**
 * An exception must never escape into uWS: a handler that returns without answering (and without
 * onAborted) ends the process. A bug in a handler costs that request a 500 instead.
 */
function guard(
  ctx: HttpContext,
  handler: (res: HttpResponse, req: HttpRequest) => void,
): (res: HttpResponse, req: HttpRequest) => void {
  return (res, req) => {
    try {
      handler(res, req);
    } catch (err) {
      ctx.core.logger.error({ err }, 'HTTP handler failed');
      try {
        sendError(res, 500, 'internal error');
      } catch {
        // Already answered (or aborted): nothing more to do.
      }
    }
  };
}

/** The same protection for WebSocket upgrade and message handlers: a failing socket is closed. */
function guardBehavior<T>(ctx: HttpContext, behavior: WebSocketBehavior<T>): WebSocketBehavior<T> {
  const { upgrade, message } = behavior;
  return {
    ...behavior,
    ...(upgrade && {
      upgrade: (res: HttpResponse, req: HttpRequest, context: SocketContext) =>
        guard(ctx, (r, q) => void upgrade(r, q, context))(res, req),
    }),
    ...(message && {
      message: (ws: WebSocket<T>, data: ArrayBuffer, isBinary: boolean) => {
        try {
          void message(ws, data, isBinary);
        } catch (err) {
          ctx.core.logger.error({ err }, 'WebSocket message handler failed');
          try {
            ws.end(WS_CLOSE.internalError, 'internal error');
          } catch {
            // Closed already.
          }
        }
      },
    }),
  };
}
