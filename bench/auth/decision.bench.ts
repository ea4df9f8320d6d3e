/**
 * What one publish costs the platform authorizer once its decision is cached (target ≤ 200 ns):
 * `authorizePublish(client, topic)` on a warm principal, over 1000 topics × 1 thing and over 1000
 * things × 1 topic each, next to the broker's own per-connection cache (DecisionCache) and an
 * allow-all authorizer for scale. Each tinybench iteration makes 1000 calls; ns/call = mean / 1000.
 *
 *   node --import tsx bench/auth/decision.bench.ts
 */
import { Bench } from 'tinybench';
import { DecisionCache } from '../../broker/core/decision-cache.js';
import { allowAll, type ClientInfo } from '../../broker/index.js';
import { benchPlatform } from './fixture.js';

const CALLS = 1000;
const fixture = await benchPlatform(500);
const authorizer = fixture.platform.authorizer;

async function clientOf(i: number): Promise<ClientInfo> {
  const t = fixture.things[i]!;
  const r = await authorizer.authenticate({
    clientId: `c${i}`,
    username: t.id,
    password: Buffer.from(t.secret),
    protocol: 'mqtt',
  });
  if (!r.ok) throw new Error('authentication failed');
  return { id: `c${i}`, protocol: 'mqtt', principal: r.principal };
}

// One thing publishing to 1000 subtopics of its channel.
const one = await clientOf(0);
const topics = Array.from(
  { length: CALLS },
  (_, i) => `channels/${fixture.things[0]!.channelId}/messages/sensor/${i}`,
);
for (const topic of topics)
  if ((await authorizer.authorizePublish(one, topic)) !== true) throw new Error('refused');

// 1000 things, each publishing to its own channel.
const many = await Promise.all(fixture.things.map((_, i) => clientOf(i)));
const ownTopics = fixture.things.map((t) => `channels/${t.channelId}/messages/data`);
for (let i = 0; i < many.length; i++) {
  if ((await authorizer.authorizePublish(many[i]!, ownTopics[i]!)) !== true) throw new Error('refused');
}

const brokerCache = new DecisionCache(30_000);
for (const topic of topics) brokerCache.set(topic, true, Date.now());

let sink = 0;
const bench = new Bench({ time: 1500, warmupTime: 300 });
bench
  .add('platform authorizer, cached: 1 thing x 1000 topics', () => {
    for (let i = 0; i < CALLS; i++) if (authorizer.authorizePublish(one, topics[i]!) === true) sink++;
  })
  .add('platform authorizer, cached: 1000 things x own topic', () => {
    for (let i = 0; i < CALLS; i++) if (authorizer.authorizePublish(many[i]!, ownTopics[i]!) === true) sink++;
  })
  .add('broker DecisionCache hit (in front of any authorizer)', () => {
    const now = Date.now();
    for (let i = 0; i < CALLS; i++) if (brokerCache.get(topics[i]!, now) === true) sink++;
  })
  .add('allowAll authorizer (baseline)', () => {
    for (let i = 0; i < CALLS; i++) if (allowAll.authorizePublish(one, topics[i]!) === true) sink++;
  });
await bench.run();

console.log(`node ${process.version}, ${CALLS} calls per iteration`);
console.table(
  bench.tasks.map((task) => {
    const r = task.result as { latency?: { mean: number; p99?: number }; period?: number } | undefined;
    const meanMs = r?.latency?.mean ?? r?.period ?? Number.NaN;
    return {
      task: task.name,
      'ns/call (mean)': Number(((meanMs * 1e6) / CALLS).toFixed(1)),
      'ns/call (p99 of iterations)':
        r?.latency?.p99 === undefined ? '' : Number(((r.latency.p99 * 1e6) / CALLS).toFixed(1)),
    };
  }),
);
if (sink === 0) console.log('(nothing counted)');
await fixture.close();
