/**
 * CoAP over UDP (`node:dgram`): one socket, IPv4 or IPv6 by the address it binds. '::' is dual stack
 * (IPv4 peers appear as ::ffff:a.b.c.d), an IPv4 address or host name binds udp4, an IPv6 address udp6.
 */
import { createSocket, type Socket } from 'node:dgram';
import { type LookupOneOptions, lookup } from 'node:dns';
import { isIP } from 'node:net';
import type { BrokerCore } from '../core/broker-core.js';
import type { ListenAddress } from '../mqtt/tcp-listener.js';
import { CoapFrontEnd } from './coap-front-end.js';
import type { DatagramSender } from './message-layer.js';
import { type CoapOptions, resolveSettings } from './settings.js';
import type { CoapStats } from './stats.js';

export const DEFAULT_COAP_PORT = 5683;

/**
 * Peers are always addressed by the IP literal their datagram came from: answering the lookup
 * `socket.send` does for every datagram at once spares a `dns.lookup` and a tick per send. Host names
 * (only ever the bind address) still go to `dns.lookup`.
 */
function literalLookup(
  hostname: string,
  options: LookupOneOptions,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  const family = isIP(hostname);
  if (family !== 0) callback(null, hostname, family);
  else lookup(hostname, options, callback);
}

export class CoapUdpListener implements DatagramSender {
  readonly frontEnd: CoapFrontEnd;
  readonly host: string;
  readonly port: number;
  private socket: Socket | null = null;
  private closing: Promise<void> | null = null;

  constructor(core: BrokerCore, options: CoapOptions & { host: string }) {
    const { host, port = DEFAULT_COAP_PORT, routes = [], ...settings } = options;
    this.host = host;
    this.port = port;
    this.frontEnd = new CoapFrontEnd(core, resolveSettings(settings), this);
    for (const route of routes) this.frontEnd.route(route);
  }

  listen(): Promise<ListenAddress> {
    if (this.socket !== null) return Promise.reject(new Error('CoAP listener already started'));
    const receiveBuffer = this.frontEnd.settings.receiveBufferBytes;
    const socket = createSocket({
      type: isIP(this.host) === 6 ? 'udp6' : 'udp4',
      lookup: literalLookup,
      ...(receiveBuffer > 0 && { recvBufferSize: receiveBuffer }),
    });
    this.socket = socket;
    return new Promise((resolve, reject) => {
      const failed = (err: Error): void => {
        this.socket = null;
        try {
          socket.close();
        } catch {
          // already closed by the failed bind
        }
        reject(err);
      };
      socket.once('error', failed);
      socket.bind({ port: this.port, address: this.host }, () => {
        socket.off('error', failed);
        socket.on('error', (err) => this.frontEnd.core.logger.warn({ err }, 'CoAP socket error'));
        socket.on('message', (datagram, remote) => {
          try {
            this.frontEnd.receive(datagram, remote.address, remote.port);
          } catch (err) {
            // A bug must cost one datagram, never the process.
            this.frontEnd.core.logger.error({ err, remote: remote.address }, 'CoAP datagram handling failed');
          }
        });
        this.frontEnd.start();
        const a = socket.address();
        resolve({ host: a.address, port: a.port });
      });
    });
  }

  send(bytes: Buffer, port: number, address: string, done?: (error: Error | null) => void): void {
    const socket = this.socket;
    if (socket === null) {
      done?.(null);
      return;
    }
    // Without a callback Node sends synchronously and schedules nothing; with one it queues a tick per
    // datagram. Only the final datagrams at shutdown need to know when they have left.
    if (done === undefined) socket.send(bytes, port, address);
    else socket.send(bytes, port, address, done);
  }

  stats(): CoapStats {
    return this.frontEnd.stats();
  }

  /** Stops the front-end (observers get a final 5.03), then closes the socket. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.frontEnd.close();
      const socket = this.socket;
      if (socket === null) return;
      await new Promise<void>((resolve) => socket.close(() => resolve()));
      this.socket = null;
    })();
    return this.closing;
  }
}
