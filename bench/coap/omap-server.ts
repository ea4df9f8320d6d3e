/**
 * Benchmark server: the OMAP broker with only its CoAP front-end, and one in-process subscriber on
 * `channels/+/messages/#` that counts deliveries (the broker's real routing path). Controlled over IPC
 * by run.ts: it reports `{ ready, port }`, answers `count` with the deliveries so far, exits on `exit`.
 */
import type { Message } from '../../broker/core/message.js';
import type { Subscriber } from '../../broker/core/subscription.js';
import { createBroker } from '../../broker/index.js';
import { serveControl } from './control.js';

const broker = createBroker({
  mqtt: false,
  coap: { port: 0, host: '127.0.0.1', maxRequestsPerSecondPerPeer: 0 },
});
let delivered = 0;
const counter: Subscriber = {
  id: 'bench-counter',
  deliver(message: Message) {
    delivered += message.payload.length > 0 ? 1 : 0;
  },
};
broker.core.subscribe(counter, 'channels/+/messages/#', { qos: 0 });
const { coap } = await broker.listen();
serveControl(
  coap!.port,
  () => ({ delivered, ...broker.coap!.stats() }),
  () => broker.close(),
);
