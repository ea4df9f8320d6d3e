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

/** Adapts a `node:net` or `node:tls` socket and wires its events to `handler`. */
export function socketTransport(socket: Socket, connect: (t: Transport) => TransportHandler): Transport {
  const transport: Transport = {
    write: (data) => {
      socket.write(data);
    },
    bufferedBytes: () => socket.writableLength,
    end: () => {
      socket.end();
      // A peer that never reads must not keep the socket half-open forever.
      setTimeout(() => socket.destroy(), 5000).unref();
    },
    destroy: () => socket.destroy(),
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    remoteAddress: socket.remoteAddress,
    certificate: peerCertificate(socket),
  };
  const handler = connect(transport);
  socket.setNoDelay(true);
  socket.on('data', (chunk: Buffer) => handler.onData(chunk));
  socket.on('drain', () => handler.onDrain());
  socket.on('error', (err: NodeJS.ErrnoException) =>
    handler.onClose(`socket error: ${err.code ?? err.message}`),
  );
  socket.on('end', () => socket.end());
  socket.on('close', () => handler.onClose('connection lost'));
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
