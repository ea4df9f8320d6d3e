/**
 * The CoAP front-end without the network: publish datagrams fed straight into `CoapFrontEnd.receive`,
 * answers dropped by a no-op sender, one in-process subscriber counting deliveries. Shows what the
 * protocol logic costs per request (parse, rate limit, dedup, auth cache, publish, encode the answer);
 * run.ts shows what is left once UDP syscalls are added.
 *
 *   npx tsx bench/coap/front-end.bench.ts
 */
import { Bench, type Task } from 'tinybench';
import { CoapFrontEnd } from '../../broker/coap/coap-front-end.js';
import { resolveSettings } from '../../broker/coap/settings.js';
import { BrokerCore } from '../../broker/core/broker-core.js';
import type { Subscriber } from '../../broker/core/subscription.js';
import { publishDatagram } from './fixtures.js';

const core = new BrokerCore();
let delivered = 0;
const counter: Subscriber = { id: 'counter', deliver: () => void delivered++ };
core.subscribe(counter, 'channels/+/messages/#', { qos: 0 });
let answers = 0;
const frontEnd = new CoapFrontEnd(core, resolveSettings({ maxRequestsPerSecondPerPeer: 0 }), {
  send: () => void answers++,
});

const templates = { non: publishDatagram(false), con: publishDatagram(true) };
/** 64 peers × 65536 message ids: distinct requests, as from many devices. */
const datagrams = (confirmable: boolean) => {
  const out: Buffer[] = [];
  const template = confirmable ? templates.con : templates.non;
  for (let i = 0; i < 4096; i++) {
    const d = Buffer.from(template);
    d.writeUInt16BE(i, 2);
    out.push(d);
  }
  return out;
};
const non = datagrams(false);
const con = datagrams(true);
let i = 0;
let port = 10_000;

const bench = new Bench({ name: 'CoAP front-end', time: 1500 });
bench
  .add('NON publish', () => {
    const d = non[i++ & 4095]!;
    if ((i & 4095) === 0) port++;
    frontEnd.receive(d, '127.0.0.1', port);
  })
  .add('CON publish', () => {
    const d = con[i++ & 4095]!;
    if ((i & 4095) === 0) port++;
    frontEnd.receive(d, '127.0.0.1', port);
  });

function hz(task: Task): number {
  const result = task.result;
  if (!('throughput' in result)) throw new Error(`task ${task.name} did not complete: ${result.state}`);
  return result.throughput.mean;
}

await bench.run();
for (const task of bench.tasks)
  console.log(`${task.name.padEnd(14)} ${(hz(task) / 1000).toFixed(0)}k requests/s`);
console.log(
  `(${delivered} deliveries, ${answers} answers, ${JSON.stringify(frontEnd.stats().exchangesEvicted)} dedup evictions)`,
);
await frontEnd.close();
