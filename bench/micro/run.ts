/**
 * Micro-benchmarks of the broker's hot path (tinybench): PUBLISH parse and encode against
 * mqtt-packet, topic matching cold and cached over 10k/100k subscriptions, fan-out to in-memory
 * subscribers through the real MQTT connection code, and retained lookups.
 *
 *   npm run bench:micro [-- --time 500 --filter match]
 *
 * Results go to stdout and bench/results/micro-latest.md. Compare rows of one run, not across runs:
 * the machines are noisy.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import mqttPacket from 'mqtt-packet';
import { Bench } from 'tinybench';
import { BrokerCore } from '../../broker/core/broker-core.js';
import { Message } from '../../broker/core/message.js';
import { RetainedStore } from '../../broker/core/retained-store.js';
import { DEFAULT_TOPIC_LIMITS } from '../../broker/core/topic.js';
import { TopicIndex } from '../../broker/core/topic-index.js';
import type { MqttConnection } from '../../broker/mqtt/connection.js';
import { MqttFrontEnd } from '../../broker/mqtt/mqtt-front-end.js';
import { DEFAULT_MQTT_LIMITS } from '../../broker/mqtt/options.js';
import { encodePublish, PublishFields, readPublish } from '../../broker/mqtt/publish-codec.js';
import type { Transport } from '../../broker/mqtt/transport.js';

const { values } = parseArgs({
  options: { time: { type: 'string', default: '400' }, filter: { type: 'string' } },
});
const time = Number(values.time);
const rows: { group: string; task: string; opsPerSec: number; nsPerOp: number; note: string }[] = [];

async function group(name: string, tasks: [string, () => void, number, string?][]): Promise<void> {
  if (values.filter && !name.includes(values.filter)) return;
  const bench = new Bench({ name, time, warmupTime: 100 });
  for (const [task, fn] of tasks) bench.add(task, fn);
  await bench.run();
  for (const t of bench.tasks) {
    const spec = tasks.find(([n]) => n === t.name)!;
    const perCall = spec[2];
    const r = t.result;
    if (r.state !== 'completed') throw new Error(`${name}/${t.name}: ${r.state}`);
    const hz = r.throughput.mean * perCall;
    rows.push({ group: name, task: t.name, opsPerSec: hz, nsPerOp: 1e9 / hz, note: spec[3] ?? '' });
  }
}

// ---- PUBLISH parse / encode --------------------------------------------------------------------
const TOPIC = 'channels/3f2a9b/messages/temp';
const PAYLOAD = Buffer.alloc(64 - 2 - TOPIC.length - 2, 0x41);
const packet = mqttPacket.generate({
  cmd: 'publish',
  topic: TOPIC,
  payload: PAYLOAD,
  qos: 0,
  dup: false,
  retain: false,
});
const BATCH = 100;
const batch = Buffer.concat(Array.from({ length: BATCH }, () => packet));
const fields = new PublishFields();
const parser = mqttPacket.parser();
let sink = 0;
parser.on('packet', (p: mqttPacket.Packet) => {
  sink += (p as mqttPacket.IPublishPacket).topic.length;
});

await group('publish parse (64 B QoS 0, 100 per call)', [
  [
    'omap readPublish',
    () => {
      for (let off = 0; off < batch.length; off += packet.length) {
        readPublish(batch, off, off + 2, off + packet.length, false, DEFAULT_TOPIC_LIMITS, fields);
        sink += fields.payload.length;
      }
    },
    BATCH,
  ],
  ['mqtt-packet parser.parse', () => parser.parse(batch), BATCH],
]);

await group('publish encode (64 B QoS 0)', [
  ['omap encodePublish', () => (sink += encodePublish(TOPIC, PAYLOAD, 0, false, false, 0, false).length), 1],
  [
    'mqtt-packet generate',
    () =>
      (sink += mqttPacket.generate({
        cmd: 'publish',
        topic: TOPIC,
        payload: PAYLOAD,
        qos: 0,
        dup: false,
        retain: false,
      }).length),
    1,
  ],
]);

// ---- topic match --------------------------------------------------------------------------------
interface Sub {
  subscriberId: string;
}
function buildIndex(n: number): { index: TopicIndex<Sub>; topics: string[] } {
  const index = new TopicIndex<Sub>({ maxCachedTopics: 100_000 });
  const topics: string[] = [];
  for (let i = 0; i < n; i++) {
    const channel = `c${i % (n / 10)}`;
    const r = i % 10;
    // 70 % exact, 20 % single-level wildcard, 10 % multi-level wildcard.
    const filter =
      r < 7
        ? `channels/${channel}/messages/s${i}`
        : r < 9
          ? `channels/${channel}/messages/+`
          : `channels/${channel}/#`;
    index.add(filter, { subscriberId: `s${i}` });
    if (r < 7) topics.push(`channels/${channel}/messages/s${i}`);
  }
  return { index, topics };
}
for (const n of [10_000, 100_000]) {
  const { index, topics } = buildIndex(n);
  let i = 0;
  await group(`topic match, ${n / 1000}k subscriptions (70% exact, 20% +, 10% #)`, [
    [
      'cold (trie walk)',
      () => (sink += index.matchUncached(topics[i++ % topics.length]!).subscriptions.length),
      1,
    ],
    [
      'cached (one Map lookup)',
      () => (sink += index.match(topics[i++ % 1000]!).subscriptions.length),
      1,
      'hot set of 1000 topics',
    ],
  ]);
}

// ---- fan-out through the real MQTT connection code --------------------------------------------
class CountingTransport implements Transport {
  bytes = 0;
  write(data: Buffer): void {
    this.bytes += data.length;
  }
  bufferedBytes(): number {
    return 0;
  }
  end(): void {}
  destroy(): void {}
  pause(): void {}
  resume(): void {}
  readonly remoteAddress = '127.0.0.1';
  readonly certificate = undefined;
}
function fanOutSetup(n: number, qos: 0 | 1) {
  const core = new BrokerCore();
  const frontEnd = new MqttFrontEnd(core, DEFAULT_MQTT_LIMITS);
  const conns: MqttConnection[] = [];
  for (let i = 0; i < n; i++) {
    const transport = new CountingTransport();
    const conn = frontEnd.accept(transport) as MqttConnection;
    const { session } = core.openSession(`sub${i}`, true);
    conn.state = 'connected';
    conn.session = session;
    conn.clientId = `sub${i}`;
    session.attach(conn);
    core.subscribe(session, 'fan/out', { qos });
    conns.push(conn);
  }
  return { core, conns, sessions: conns.map((c) => c.session!) };
}
for (const qos of [0, 1] as const) {
  const { core, conns, sessions } = fanOutSetup(50, qos);
  let id = 0;
  await group(`fan-out to 50 subscribers, QoS ${qos}`, [
    [
      'route + encode + flush',
      () => {
        core.publish(new Message('fan/out', PAYLOAD, qos, false, 'pub'));
        for (const c of conns) c.flush();
        if (qos === 1) {
          id = (id % 65_535) + 1;
          for (const s of sessions) s.complete(id, 1);
        }
      },
      50,
      'per delivery',
    ],
  ]);
}

// ---- retained --------------------------------------------------------------------------------
const retained = new RetainedStore({ maxRetained: 200_000 });
for (let i = 0; i < 100_000; i++) {
  retained.set(new Message(`channels/c${i % 1000}/messages/s${i}`, PAYLOAD, 0, true));
}
let r = 0;
await group('retained lookup, 100k retained topics', [
  [
    'exact filter',
    () => (sink += retained.match(`channels/c${r % 1000}/messages/s${r++ % 100_000}`).length),
    1,
  ],
  [
    'wildcard filter channels/<c>/messages/+ (100 hits)',
    () => (sink += retained.match(`channels/c${r++ % 1000}/messages/+`).length),
    1,
  ],
]);

// ---- report -------------------------------------------------------------------------------------
const fmt = (n: number) =>
  n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : n.toFixed(0);
const lines = [
  `Micro-benchmarks, ${new Date().toISOString()}, Node ${process.version}, ${cpus()[0]?.model ?? 'cpu'} (${cpus().length} cores)`,
  '',
  '| group | task | ops/s | ns/op | note |',
  '|---|---|---|---|---|',
  ...rows.map(
    (x) => `| ${x.group} | ${x.task} | ${fmt(x.opsPerSec)} | ${x.nsPerOp.toFixed(0)} | ${x.note} |`,
  ),
];
console.log(lines.join('\n'));
if (!values.filter) {
  mkdirSync(new URL('../results/', import.meta.url), { recursive: true });
  writeFileSync(new URL('../results/micro-latest.md', import.meta.url), `${lines.join('\n')}\n`);
}
if (sink === -1) console.log(sink); // keeps the work observable
