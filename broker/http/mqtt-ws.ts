/**
 * MQTT over WebSocket at `/mqtt` (MQTT 3.1.1 §6, MQTT 5 §6): the WebSocket is only a byte stream
 * under the one MQTT implementation in broker/mqtt. Each binary frame's bytes are copied (uWS
 * reuses its buffers, and the packet reader may keep views of a chunk) and fed to the connection;
 * packets split across frames and several packets in one frame are the packet reader's business.
 *
 * - Subprotocol: `mqtt` when offered (MQTT 3.1.1 and 5), else `mqttv3.1` (MQTT 3.1); a client
 *   offering neither is refused (400); one offering none at all is accepted without a subprotocol.
 * - A text frame closes the connection (MQTT-6.0.0-1).
 * - Output goes out through uWS `send`. The MQTT layer bounds it like a TCP socket (QoS 0 dropped
 *   past `maxOutboundBytes`, QoS 1/2 queued in the session); uWS's hard bound above that
 *   (`maxBackpressure`) closes the connection rather than silently losing a packet.
 * - uWS cannot pause a WebSocket: while the connection waits for an asynchronous authorization,
 *   frames are held here (bounded by 4 × maxPacketSize, then the connection is closed).
 */
import type { MqttFrontEnd } from '../mqtt/mqtt-front-end.js';
import type { Transport, TransportHandler } from '../mqtt/transport.js';
import type { HttpContext } from './context.js';
import { sendError } from './respond.js';
import {
  addressText,
  type HttpRequest,
  type HttpResponse,
  type SocketContext,
  type WebSocket,
  type WebSocketBehavior,
} from './uws.js';

export interface MqttWsData {
  transport: UwsMqttTransport | null;
  remoteAddress: string;
}

/** The `Transport` an MQTT connection writes to, over one uWS WebSocket. */
export class UwsMqttTransport implements Transport {
  closed = false;
  handler: TransportHandler | null = null;
  readonly certificate = undefined;
  private paused = false;
  private held: Buffer[] = [];
  private heldBytes = 0;

  constructor(
    private readonly ws: WebSocket<MqttWsData>,
    readonly remoteAddress: string | undefined,
    private readonly maxHeldBytes: number,
    private readonly onOverflow: () => void,
  ) {}

  write(data: Buffer): void {
    if (this.closed) return;
    let status = 1;
    this.ws.cork(() => {
      status = this.ws.send(data, true);
    });
    // 2: over uWS's hard bound, the frame was dropped; losing an MQTT packet silently is not an option.
    if (status === 2 && !this.closed) {
      this.onOverflow();
      this.destroy();
    }
  }

  bufferedBytes(): number {
    return this.closed ? 0 : this.ws.getBufferedAmount();
  }

  end(): void {
    if (!this.closed) this.ws.end(1000);
  }

  destroy(): void {
    if (!this.closed) this.ws.close();
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    while (!this.paused && !this.closed && this.held.length > 0) {
      const chunk = this.held.shift()!;
      this.heldBytes -= chunk.length;
      this.handler?.onData(chunk);
    }
  }

  /** A frame's bytes (already copied). */
  receive(chunk: Buffer): void {
    if (this.closed) return;
    if (!this.paused) {
      this.handler?.onData(chunk);
      return;
    }
    this.heldBytes += chunk.length;
    if (this.heldBytes > this.maxHeldBytes) {
      this.onOverflow();
      this.destroy();
      return;
    }
    this.held.push(chunk);
  }
}

/** Picks the subprotocol to answer, `''` for none, or null when the offer cannot be served. */
export function selectMqttSubprotocol(offered: string): string | null {
  if (offered.trim() === '') return '';
  const protocols = offered.split(',').map((p) => p.trim().toLowerCase());
  if (protocols.includes('mqtt')) return 'mqtt';
  if (protocols.includes('mqttv3.1')) return 'mqttv3.1';
  return null;
}

export function mqttWsBehavior(
  ctx: HttpContext,
  mqtt: MqttFrontEnd,
  transports: Set<UwsMqttTransport>,
): WebSocketBehavior<MqttWsData> {
  const limits = mqtt.limits;
  return {
    // A frame holds at most one packet plus the start of the next in practice.
    maxPayloadLength: limits.maxPacketSize + 64 * 1024,
    maxBackpressure: 2 * limits.maxOutboundBytes + 2 * limits.maxPacketSize,
    closeOnBackpressureLimit: false,
    idleTimeout: ctx.options.wsIdleTimeoutSeconds,
    sendPingsAutomatically: true,
    upgrade: (res: HttpResponse, req: HttpRequest, context: SocketContext) => {
      const key = req.getHeader('sec-websocket-key');
      const extensions = req.getHeader('sec-websocket-extensions');
      const offered = req.getHeader('sec-websocket-protocol');
      if (ctx.draining) {
        ctx.stats.refused++;
        return sendError(res, 503, 'the server is shutting down');
      }
      const protocol = selectMqttSubprotocol(offered);
      if (protocol === null) {
        ctx.stats.refused++;
        return sendError(res, 400, `MQTT over WebSocket needs the subprotocol mqtt (offered: ${offered})`);
      }
      const data: MqttWsData = { transport: null, remoteAddress: addressText(res.getRemoteAddressAsText()) };
      res.upgrade<MqttWsData>(data, key, protocol, extensions, context);
    },
    open: (ws) => {
      const data = ws.getUserData();
      const transport = new UwsMqttTransport(ws, data.remoteAddress, 4 * limits.maxPacketSize, () => {
        ctx.stats.mqttWsOverflows++;
      });
      data.transport = transport;
      transports.add(transport);
      transport.handler = mqtt.accept(transport, 'mqtt-ws');
    },
    message: (ws, message, isBinary) => {
      const transport = ws.getUserData().transport;
      if (transport === null) return;
      if (!isBinary) {
        ws.end(1003, 'MQTT needs binary frames');
        return;
      }
      // uWS neuters `message` when this callback returns; the packet reader may keep views: copy.
      transport.receive(Buffer.from(new Uint8Array(message)));
    },
    drain: (ws) => ws.getUserData().transport?.handler?.onDrain(),
    close: (ws) => {
      const transport = ws.getUserData().transport;
      if (transport === null || transport.closed) return;
      transport.closed = true;
      transports.delete(transport);
      transport.handler?.onClose('connection lost');
    },
  };
}
