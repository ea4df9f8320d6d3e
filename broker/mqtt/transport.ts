/**
 * What an MQTT connection needs from its byte stream. TCP, TLS and WebSocket each adapt to this, so
 * there is one MQTT implementation whatever carries the bytes.
 */
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { PeerCertificateInfo } from '../core/authorizer.js';

export interface Transport {
  /** Queues bytes for sending; the transport owns `data` afterwards. */
  write(data: Buffer): void;
  /** Bytes accepted by `write` but not yet handed to the kernel (the backpressure signal). */
  bufferedBytes(): number;
  /** Flushes what is queued, then closes. */
  end(): void;
  /** Closes now, dropping what is queued. */
  destroy(): void;
  /** Stops/restarts reading (used while an asynchronous authorization decides). */
  pause(): void;
  resume(): void;
  readonly remoteAddress: string | undefined;
  /** The verified client certificate of a TLS connection, if one was presented. */
  readonly certificate: PeerCertificateInfo | undefined;
}

/** The events a transport delivers to its connection. */
export interface TransportHandler {
  onData(chunk: Buffer): void;
  onDrain(): void;
  onClose(reason: string): void;
}

const HANDLER = Symbol('omap.transportHandler');
type HandledSocket = Socket & { [HANDLER]: TransportHandler };

// Listeners shared by every socket (EventEmitter calls them with `this` = the socket), so an idle
// connection costs no closures of its own.
function onSocketData(this: HandledSocket, chunk: Buffer): void {
  this[HANDLER].onData(chunk);
}
function onSocketDrain(this: HandledSocket): void {
  this[HANDLER].onDrain();
}
function onSocketError(this: HandledSocket, err: NodeJS.ErrnoException): void {
  this[HANDLER].onClose(`socket error: ${err.code ?? err.message}`);
}
function onSocketEnd(this: HandledSocket): void {
  this.end();
}
function onSocketClose(this: HandledSocket): void {
  this[HANDLER].onClose('connection lost');
}
function destroySocket(socket: Socket): void {
  socket.destroy();
}

/** A `node:net` or `node:tls` socket as a Transport. */
export class SocketTransport implements Transport {
  readonly remoteAddress: string | undefined;
  readonly certificate: PeerCertificateInfo | undefined;

  constructor(private readonly socket: Socket) {
    this.remoteAddress = socket.remoteAddress;
    this.certificate = peerCertificate(socket);
  }

  write(data: Buffer): void {
    this.socket.write(data);
  }

  bufferedBytes(): number {
    return this.socket.writableLength;
  }

  end(): void {
    this.socket.end();
    // A peer that never reads must not keep the socket half-open forever.
    setTimeout(destroySocket, 5000, this.socket).unref();
  }

  destroy(): void {
    this.socket.destroy();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }
}

/** Wraps `socket` as a Transport and wires its events to the handler `connect` returns. */
export function socketTransport(socket: Socket, connect: (t: Transport) => TransportHandler): Transport {
  const transport = new SocketTransport(socket);
  const handled = socket as HandledSocket;
  handled[HANDLER] = connect(transport);
  socket.setNoDelay(true);
  socket.on('data', onSocketData);
  socket.on('drain', onSocketDrain);
  socket.on('error', onSocketError);
  socket.on('end', onSocketEnd);
  socket.on('close', onSocketClose);
  return transport;
}

function peerCertificate(socket: Socket): PeerCertificateInfo | undefined {
  if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined;
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return undefined;
  const subject = cert.subject as unknown as Record<string, string | string[]> | undefined;
  const cn = subject?.CN;
  const info: PeerCertificateInfo = { fingerprint256: cert.fingerprint256, serialNumber: cert.serialNumber };
  if (subject) info.subject = subject;
  if (cn !== undefined) info.subjectCN = Array.isArray(cn) ? cn[0] : cn;
  return info;
}
