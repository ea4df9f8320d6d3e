/** MQTT over plain TCP (`node:net`) or TLS (`node:tls`). */
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';
import type { MqttFrontEnd } from './mqtt-front-end.js';
import { socketTransport } from './transport.js';

export interface ListenAddress {
  host: string;
  port: number;
}

export class TcpListener {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly frontEnd: MqttFrontEnd,
    private readonly host: string,
    private readonly port: number,
    /** With TLS options this is an MQTTS listener; `requestCert` asks clients for certificates (mTLS). */
    private readonly tls?: TlsOptions,
  ) {}

  listen(): Promise<ListenAddress> {
    const onSocket = (socket: Socket): void => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socketTransport(socket, (t) => this.frontEnd.accept(t, 'mqtt'));
    };
    const server = this.tls ? createTlsServer(this.tls, onSocket) : createServer(onSocket);
    if (this.tls) {
      // A failed handshake concerns only that socket; count it and carry on.
      server.on('tlsClientError', (err: Error) => this.frontEnd.tlsError(err));
    }
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.host, port: this.port }, () => {
        server.off('error', reject);
        const a = server.address() as AddressInfo;
        resolve({ host: a.address, port: a.port });
      });
    });
  }

  /** Stops accepting; resolves once every socket of this listener has closed (or was destroyed). */
  async close(graceMs = 2000): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    const timer = setTimeout(() => {
      for (const s of this.sockets) s.destroy();
    }, graceMs);
    await closed;
    clearTimeout(timer);
  }
}
