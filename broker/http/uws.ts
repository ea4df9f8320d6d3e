/**
 * The only module that touches uWebSockets.js directly: it loads the native addon and names the
 * types the rest of broker/http uses, so the binding (today the `uws-pack` repack, pinned) can be
 * swapped for the official tarball or another server without touching the front-end.
 *
 * The addon is loaded lazily, when the HTTP front-end starts listening: uws-pack ships binaries for
 * Node 18-22 only, and a broker without HTTP must keep working on any Node version.
 */
import type * as uWS from 'uWebSockets.js';

export type UwsModule = typeof uWS;
export type TemplatedApp = uWS.TemplatedApp;
export type HttpRequest = uWS.HttpRequest;
export type HttpResponse = uWS.HttpResponse;
export type WebSocket<UserData> = uWS.WebSocket<UserData>;
export type WebSocketBehavior<UserData> = uWS.WebSocketBehavior<UserData>;
export type ListenSocket = uWS.us_listen_socket;
export type SocketContext = uWS.us_socket_context_t;

let loaded: Promise<UwsModule> | null = null;

/** Loads the addon once; rejects with an explanation where no binary exists for this Node/platform. */
export function loadUws(): Promise<UwsModule> {
  loaded ??= import('uWebSockets.js').catch((err: unknown) => {
    loaded = null;
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new Error(
      `the HTTP/WebSocket front-end needs uWebSockets.js, which cannot load on Node ${process.versions.node} ` +
        `(${process.platform}-${process.arch}, ABI ${process.versions.modules}): ${why}`,
    );
  });
  return loaded;
}

/** Text of an address as uWS returns it (an ArrayBuffer holding ASCII). */
export function addressText(buffer: ArrayBuffer): string {
  return Buffer.from(buffer).toString('latin1');
}

/**
 * Listens on host:port, refusing a port another socket holds (uSockets may otherwise share it
 * through SO_REUSEPORT). Resolves with the listen socket, or false when the port cannot be bound.
 */
export function listenExclusive(
  uws: UwsModule,
  app: TemplatedApp,
  host: string,
  port: number,
): Promise<ListenSocket | false> {
  // The runtime takes (host, port, options, callback); the typings only know shorter forms.
  const listen = app.listen as unknown as (
    host: string,
    port: number,
    options: number,
    callback: (socket: ListenSocket | false) => void,
  ) => TemplatedApp;
  return new Promise((resolve) => {
    listen.call(app, host, port, uws.LIBUS_LISTEN_EXCLUSIVE_PORT, resolve);
  });
}
