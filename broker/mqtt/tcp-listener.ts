/** MQTT over plain TCP (`node:net`). */
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
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
  ) {}

  listen(): Promise<ListenAddress> {
    const server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socketTransport(socket, (t) => this.frontEnd.accept(t, 'mqtt'));
    });
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
