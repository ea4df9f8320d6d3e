/**
 * CoAP codec micro-benchmark: coap-packet against our codec (broker/coap/codec.ts), parsing the
 * benchmark's publish request and encoding a typical notification (Observe, Content-Format, payload).
 *
 *   npx tsx bench/coap/codec.bench.ts
 */
import { cpus } from 'node:os';
import { generate, parse } from 'coap-packet';
import { Bench, type Task } from 'tinybench';
import { encodeMessage, parseMessage } from '../../broker/coap/codec.js';
import { Code, MessageType, OptionNumber } from '../../broker/coap/codes.js';
import { PAYLOAD, publishDatagram } from './fixtures.js';

const request = publishDatagram(true);
const token = Buffer.from([1, 2, 3, 4]);
let sequence = 0;
let sink = 0;

const bench = new Bench({ name: 'CoAP codec', time: 1000 });
bench
  .add('parse: coap-packet', () => {
    sink += parse(request).options.length;
  })
  .add('parse: omap', () => {
    const m = parseMessage(request);
    if (typeof m !== 'string') sink += m.options.length;
  })
  .add('encode notification: coap-packet', () => {
    sequence = (sequence + 1) & 0xffffff;
    sink += generate({
      code: '2.05',
      confirmable: false,
      messageId: sequence & 0xffff,
      token,
      options: [
        { name: 'Observe', value: uintBytes(sequence) },
        { name: 'Content-Format', value: Buffer.from([110]) },
      ],
      payload: PAYLOAD,
    }).length;
  })
  .add('encode notification: omap', () => {
    sequence = (sequence + 1) & 0xffffff;
    sink += encodeMessage(
      MessageType.NON,
      Code.Content,
      sequence & 0xffff,
      token,
      [
        { number: OptionNumber.Observe, value: sequence },
        { number: OptionNumber.ContentFormat, value: 110 },
      ],
      PAYLOAD,
    ).length;
  })
  .add('encode 2.04 ACK: coap-packet', () => {
    sink += generate({ code: '2.04', ack: true, messageId: 1, token }).length;
  })
  .add('encode 2.04 ACK: omap', () => {
    sink += encodeMessage(MessageType.ACK, Code.Changed, 1, token, null, null).length;
  });

function uintBytes(n: number): Buffer {
  const b = Buffer.alloc(3);
  b.writeUIntBE(n, 0, 3);
  return b;
}

function hz(task: Task): number {
  const result = task.result;
  if (!('throughput' in result)) throw new Error(`task ${task.name} did not complete: ${result.state}`);
  return result.throughput.mean;
}

console.log(`node ${process.version}, ${cpus()[0]?.model ?? 'cpu'}; request ${request.length} B`);
await bench.run();
for (const task of bench.tasks) {
  console.log(`${task.name.padEnd(36)} ${(hz(task) / 1e6).toFixed(2).padStart(6)} M ops/s`);
}
if (sink === 0) console.log('');
