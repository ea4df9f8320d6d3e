/**
 * Benchmark server: the npm `coap` server (node-coap) doing the same forwarding as OMAP's CoAP
 * front-end: POST /channels/<id>/messages/<subtopic>?auth=<secret> with an accepted Content-Format is
 * published into a minimal in-memory fan-out (a list of filter subscribers), answered 2.04.
 */
import type { Socket } from 'node:dgram';
import coap from 'coap';
import { serveControl } from './control.js';

type Deliver = (topic: string, payload: Buffer, contentType: string) => void;

/** The smallest fan-out that still matches MQTT filters: a list of (levels, deliver). */
class FanOut {
  private readonly subscribers: { levels: string[]; deliver: Deliver }[] = [];

  subscribe(filter: string, deliver: Deliver): void {
    this.subscribers.push({ levels: filter.split('/'), deliver });
  }

  publish(topic: string, payload: Buffer, contentType: string): void {
    const levels = topic.split('/');
    for (const s of this.subscribers) if (matches(s.levels, levels)) s.deliver(topic, payload, contentType);
  }
}

function matches(filter: string[], topic: string[]): boolean {
  for (let i = 0; i < filter.length; i++) {
    const f = filter[i]!;
    if (f === '#') return true;
    if (i >= topic.length || (f !== '+' && f !== topic[i])) return false;
  }
  return filter.length === topic.length;
}

const FORMATS = new Map([
  ['application/senml+json', 'application/senml+json'],
  ['application/senml+cbor', 'application/senml+cbor'],
  ['application/octet-stream', 'application/octet-stream'],
]);

const fanOut = new FanOut();
let delivered = 0;
fanOut.subscribe('channels/+/messages/#', (_topic, payload) => {
  delivered += payload.length > 0 ? 1 : 0;
});

const server = coap.createServer({ type: 'udp4' }, (req, res) => {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  const path = (q < 0 ? url : url.slice(0, q)).split('/').filter((s) => s !== '');
  const query = q < 0 ? '' : url.slice(q + 1);
  if (req.method !== 'POST' || path.length < 3 || path[0] !== 'channels' || path[2] !== 'messages') {
    res.code = '4.04';
    res.end();
    return;
  }
  if (!query.split('&').some((p) => p.startsWith('auth='))) {
    res.code = '4.01';
    res.end();
    return;
  }
  const format = req.headers['Content-Format'];
  const contentType = FORMATS.get(typeof format === 'string' ? format : 'application/octet-stream');
  if (contentType === undefined) {
    res.code = '4.15';
    res.end();
    return;
  }
  fanOut.publish(path.join('/'), Buffer.from(req.payload), contentType);
  res.code = '2.04';
  res.end();
});

server.listen(0, '127.0.0.1', () => {
  const socket = server._sock as Socket | null;
  // The same receive buffer as OMAP's default, so that neither loses more of a burst to the kernel.
  socket?.setRecvBufferSize(1024 * 1024);
  const port = socket?.address().port ?? 0;
  serveControl(
    port,
    () => ({ delivered }),
    () => new Promise<void>((resolve) => server.close(() => resolve())),
  );
});
